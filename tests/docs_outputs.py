"""The command outputs and numbers that README.md and docs/*.md show, made by running the
commands. The docs call these functions from cog blocks (cogapp): each block is an HTML
comment holding the call, followed by what it wrote, up to `<!-- [[[end]]] -->`:

    <!-- cog[[ shell("dvc metrics show") ]]cog -->
    ```
    $ dvc metrics show
    ...
    ```
    <!-- cog[[end]] -->

(cog's own markers, `[[[cog` and `]]]`, occur in messages the docs quote.) `make docs`, which
runs `python tests/docs_outputs.py -r`, rewrites every block; tests/test_docs.py runs it with
`--check`, which fails when a doc holds anything else. The commands run in a copy of this
project on the real data, with the defaults run committed on a branch `main` (the test
suite's own run, copied, or one made on first use), and in a clone of it after the README's
tuned experiment. What would vary from run to run is fixed (Python's hash seed), or written
as a placeholder (an experiment's commit id, `xxxxxxx`).
"""

import atexit
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

from conftest import REAL_DATA_RUN, Project, copy_reproduced, real_data_project

# The tables the cog blocks of docs/failure-modes.md name.
from data_faults import PREPARED_FAULTS, RAW_FAULTS  # noqa: F401
from fetch_faults import (  # noqa: F401
    DVC_SAYS,
    EVERY_MIRROR_FAILS,
    FAILED_MIRRORS,
    FETCH_FAULTS,
    MIRRORS_FAULTS,
    OFFLINE,
    failed_mirror_line,
)
from fmnist.bench_record import (  # noqa: F401  (docs/speed.md's and others' blocks call them)
    BENCH_RECORD,
    GLUON,
    LOOP_RECORD,
    SCRATCH,
    SWEEP_RECORD,
    bench_sentence,
    bench_table,
    loop_table,
    profile_table,
    read_record,
    run_line,
    sweep_table,
)
from fmnist.figures import run_caption
from fmnist.params import load_params
from hosts_faults import HOSTS_FAULTS  # noqa: F401
from model_faults import MODEL_FAULTS  # noqa: F401
from params_faults import PARAMS_FAULTS
from picture_faults import PICTURE_FAULTS  # noqa: F401
from settings_faults import SETTINGS_FAULTS  # noqa: F401
from stage_faults import FILE_FAULTS, HELD_FAULTS, PULL_FAULTS, STOP_FAULTS  # noqa: F401

README = Path(__file__).resolve().parents[1] / "README.md"
# README, "Results": the tuned set passes the test accuracy of scikit-learn's
# LogisticRegression in the Fashion-MNIST paper's benchmark (Table 3).
LOGISTIC_REGRESSION = 0.842
# DVC lists `dvc metrics diff` files in set order, which Python's hash seed decides.
FIXED = {"PYTHONHASHSEED": "0", "COLUMNS": "200"}
# An experiment's commit id in `dvc exp show` (DVC's git backends date the commit now, and
# take no fixed date): the one text in an output that differs on every run.
EXPERIMENT_ID = re.compile(r"(?<=── )[0-9a-f]{7}(?= \[)")

EXP_SHOW = (
    "dvc exp show --only-changed --drop '(?!Experiment|train|scratch|gluon)' "
    "--keep '.*val_accuracy'"
)
# docs/comparing-runs.md, "How wide": each command as the table names it, and as it is run.
WIDTHS = {
    "dvc metrics show": "dvc metrics show",
    "dvc params diff": "dvc params diff",
    "dvc metrics diff": "dvc metrics diff",
    "dvc metrics diff --targets metrics/per_class_accuracy.json --no-path": (
        "dvc metrics diff --targets metrics/per_class_accuracy.json --no-path"
    ),
    "dvc exp show --only-changed --drop ... --keep ...": EXP_SHOW,
    "dvc exp diff HEAD tuned": "dvc exp diff HEAD tuned",
    "dvc exp show --md": "dvc exp show --md",
    "dvc exp show --md --only-changed": "dvc exp show --md --only-changed",
}


@cache
def project():
    """The real-data project with its defaults run committed: a copy of the test suite's run
    when REAL_DATA_RUN names it (the check in `make test`), else a whole `dvc repro` of its
    own (`make docs`)."""
    directory = Path(tempfile.mkdtemp(prefix="fmnist-docs-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    if os.environ.get(REAL_DATA_RUN):
        copy = copy_reproduced(Path(os.environ[REAL_DATA_RUN]), directory / "fmnist")
    else:
        copy = real_data_project(directory / "fmnist")
        copy.dvc("repro")
        copy.commit("defaults run")
    copy.env.update(FIXED)
    return copy


@cache
def tuned():
    """A clone of the project (sharing its DVC cache) after the README's tuned experiment,
    run in the clone's workspace as the docs show it."""
    defaults = project()
    root = defaults.root.parent / "tuned"
    defaults.git("clone", "-q", str(defaults.root), str(root))
    clone = Project(root)
    clone.env.update(FIXED)
    clone.dvc("cache", "dir", "--local", str(defaults.root / ".dvc" / "cache"))
    clone.dvc("checkout")
    clone.dvc(*readme_tuned_command()[1:])
    return clone


def readme_tuned_command() -> list[str]:
    """The README's `dvc exp run -n tuned ...` line (docs/comparing-runs.md shows its
    results), as argv: the docs show what a reader who runs it gets."""
    commands = set(re.findall(r"^dvc exp run -n tuned .*$", README.read_text(), re.M))
    assert len(commands) == 1, "README.md must show one `dvc exp run -n tuned ...` command"
    return shlex.split(commands.pop())


@cache
def output(command: str, at=None, where=".") -> str:
    """What `command` prints (stdout, then stderr), run from `where` in the project. Run once
    per project and place: the commands the docs show only read, so a second block showing
    one (comparing-runs.md's widths) gets what the first run printed."""
    copy = at or project()
    result = subprocess.run(
        ["bash", "-c", command],
        cwd=copy.root / where,
        env=copy.env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return EXPERIMENT_ID.sub("xxxxxxx", result.stdout + result.stderr).rstrip("\n")


def shell(*commands: str, after_tuned=False, where=".") -> None:
    """A code block of `$ command` lines, each followed by its output."""
    import cog  # cogapp provides it while it runs the blocks

    at = tuned() if after_tuned else project()
    lines = [f"$ {command}\n{output(command, at, where)}" for command in commands]
    cog.outl("```\n" + "\n\n".join(lines) + "\n```")


def widest(command: str, after_tuned=True) -> int:
    """The longest line `command` prints, in characters (as `wc -L` counts them)."""
    return max(map(len, output(command, tuned() if after_tuned else project()).splitlines()))


def metric(name: str, model="scratch", after_tuned=False) -> float:
    """A metric file's value, as evaluate wrote it."""
    root = (tuned() if after_tuned else project()).root
    values = json.loads((root / "metrics" / f"{name}.json").read_text())
    return values[model] if model in values else values[name]


def pictures(where: str) -> None:
    """Test images 0-2 as PNGs, image 0 as a photo (a dark boot on white, 280x280, RGB JPEG)
    and a text file, in a directory `where` inside the project."""
    root = project().root
    directory = root / where
    directory.mkdir(exist_ok=True)
    test_x = np.load(root / "data/prepared/test_x.npy", allow_pickle=False)
    images = (test_x[:3] * 255).round().astype(np.uint8).reshape(3, 28, 28)
    for index, image in enumerate(images):
        Image.fromarray(image).save(directory / f"test{index}.png")
    photo = Image.fromarray(255 - images[0]).resize((280, 280), Image.Resampling.NEAREST)
    photo.convert("RGB").save(directory / "boot-photo.jpg", quality=95)
    (directory / "notes.txt").write_text("not a picture\n")


RESULT_ROWS = {  # README, "Results": the row's name, the metric file, its format
    "validation accuracy": ("val_accuracy", "{:.4f}"),
    "test accuracy": ("test_accuracy", "{:.4f}"),
    "macro F1 (test)": ("macro_f1", "{:.4f}"),
    "log-loss (test)": ("log_loss", "{:.4f}"),
    "agreement": ("agreement", "{}"),
}


def params_caption(at) -> str:
    """The run's params as the pictures' captions say them."""
    params = load_params(at.root / "params.yaml")
    return run_caption(params.train, params.gluon).removeprefix("Run: ")


def results_table() -> None:
    """The README's table: the defaults run and the tuned experiment, both models alike
    (the scratch model's numbers; `agreement` says how alike)."""
    import cog

    cog.outl("| | defaults (`params.yaml`) | tuned |")
    cog.outl("|---|---|---|")
    captions = [params_caption(at) for at in (project(), tuned())]
    cog.outl(f"| params | {captions[0]} | {captions[1]} |")
    for model in ("scratch", "gluon"):
        if (accuracy := metric("test_accuracy", model, after_tuned=True)) <= LOGISTIC_REGRESSION:
            raise AssertionError(
                f"README says the tuned set passes LogisticRegression's {LOGISTIC_REGRESSION}, "
                f"but its {model} model's test accuracy is {accuracy}"
            )
    defaults = {name: metric(name) for name, _ in RESULT_ROWS.values()}
    for row, (name, shown) in RESULT_ROWS.items():
        tuned_value = shown.format(metric(name, after_tuned=True))
        if name == "test_accuracy":
            tuned_value = f"**{tuned_value}**"
        cog.outl(f"| {row} | {shown.format(defaults[name])} | {tuned_value} |")


def models_alike() -> None:
    """docs/lesson.md: both models put every test image in the same class and reach the same
    test accuracy, at the defaults and at the tuned set; made from the runs, and checked."""
    import cog

    accuracies = []
    for after_tuned in (False, True):
        agreement = metric("agreement", after_tuned=after_tuned)
        scratch, gluon = (metric("test_accuracy", m, after_tuned) for m in ("scratch", "gluon"))
        if agreement != 1.0 or scratch != gluon:
            raise AssertionError(
                "docs/lesson.md says both models agree on every test image, but "
                f"{'tuned' if after_tuned else 'defaults'}: agreement {agreement}, test "
                f"accuracy {scratch} and {gluon}"
            )
        accuracies.append(f"{scratch:.4f}")
    cog.outl(
        "On the real data, at the defaults and at the README's tuned set, they put every one "
        "of the\n10,000 test images in the same class (agreement 1.0) and reach the same test "
        f"accuracy\n({accuracies[0]} and {accuracies[1]})."
    )


def sweep_rows(record) -> list[dict]:
    """The experiments of the sweep's `dvc exp show --md` table: lr, momentum, the two
    models' validation accuracies and their agreement."""
    rows = []
    for line in record.table.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if cells[0].startswith(("├──", "└──")):
            scratch, gluon, agreement, lr, momentum = map(float, cells[1:6])
            rows.append(dict(scratch=scratch, gluon=gluon, agreement=agreement, lr=lr, m=momentum))
    return rows


def sweep_findings() -> None:
    """docs/dvc-tools.md: the best set of the recorded sweep on validation, which must be the
    README's tuned set (chosen there, never on the test set), and the runner-up."""
    import cog

    rows = sorted(sweep_rows(read_record(SWEEP_RECORD)), key=lambda row: -row["scratch"])
    tuned = dict(arg.split("=") for arg in readme_tuned_command() if arg.startswith("train."))
    best, second = rows[0], rows[1]
    if (best["lr"], best["m"]) != (float(tuned["train.lr"]), float(tuned["train.momentum"])):
        raise AssertionError(
            f"the README's tuned set is not the sweep's best on validation: {best}"
        )
    behind = round((best["scratch"] - second["scratch"]) * 10_000)
    cog.outl(
        f"lr {best['lr']:g} with momentum {best['m']:g} is the best of the grid on validation "
        f"({best['scratch']:.4f}), the README's tuned set; lr {second['lr']:g} with momentum "
        f"{second['m']:g} is {behind} validation images behind. One seed per set: the grid "
        "tells the region, not a winner to the fourth digit."
    )


def params_faults_table() -> None:
    """docs/failure-modes.md, "Bad values in params.yaml": tests/params_faults.py's rows."""
    import cog

    cog.outl("| What went wrong | In params.yaml | What you see | What happens |")
    cog.outl("|---|---|---|---|")
    for what, _, line, message, happens in PARAMS_FAULTS:
        cog.outl(f"| {what} | `{line}` | `<stage>: error: {message}` | {happens} |")


def code(text: str) -> str:
    """text as inline code in a Markdown table cell."""
    text = text.replace("|", "\\|")
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def every_mirror_fails() -> None:
    """docs/failure-modes.md: fetch's error when every mirror fails, as tests/test_fetch.py
    asserts it, and DVC's line after it."""
    import cog

    mirrors = [(fault, f"http://127.0.0.1:<port>/{name}") for name, fault in FAILED_MIRRORS.items()]
    lines = [
        f"fetch: error: {EVERY_MIRROR_FAILS}",
        *(failed_mirror_line(fault, mirror) for fault, mirror in mirrors),
        failed_mirror_line("no directory", "<missing-dir>"),
        OFFLINE,
        DVC_SAYS,
    ]
    cog.outl("```\n" + "\n".join(lines) + "\n```")


def faults_table(*tables: dict) -> None:
    """docs/failure-modes.md: rows of tests/*_faults.py (tests/fault_lines.py), each line as
    the tests assert it, with the doc's placeholders."""
    import cog

    cog.outl("| What went wrong | What you see | What happens |")
    cog.outl("|---|---|---|")
    for fault in (fault for table in tables for fault in table.values()):
        lines = "; ".join(map(code, fault.shown_lines())) if fault.line else ""
        shown = fault.shown or lines
        cog.outl(f"| {fault.what} | {shown} | {fault.happens} |")


def measured(render, *args, record=BENCH_RECORD) -> None:
    """What render() makes of a record `make bench`, `make bench-loop` or `make sweep` wrote
    (docs/measured/): the doc says what the record says, and the record where and when."""
    import cog

    cog.outl(render(read_record(record), *args))


MARKERS = "cog[[ ]]cog cog[[end]]"
DOCS = ["README.md", *sorted(str(path) for path in Path("docs").glob("*.md"))]


def run_cog(flags: list[str], docs: list[str] = DOCS) -> int:
    """cog over docs (paths from the working directory, which reads the records): -r
    rewrites, --check checks."""
    from cogapp import Cog

    options = ["-I", str(Path(__file__).parent), "-p", "from docs_outputs import *"]
    return Cog().main(["cog", *flags, *options, "--markers", MARKERS, *docs])


def main(argv: list[str]) -> int:
    """cog over README.md and docs/*.md, from the project's root."""
    return run_cog(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
