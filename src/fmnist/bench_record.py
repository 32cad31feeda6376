"""What `make bench`, `make bench-loop` and `make sweep` measured, as a record
(docs/measured/*.json): the timings (or the sweep's table), the command, the commit, when,
and on what machine (CPU model, logical CPUs, load average at the start and the end). The
docs (docs/speed.md, docs/dvc-tools.md) show a record only through the functions here (cog
blocks, tests/docs_outputs.py), so a doc and its record cannot disagree without the docs
test failing.

Each record keeps the raw timings (every epoch, every repro); medians, ranges and ratios
are computed from them when shown, by the same functions the benchmarks print with.
"""

import argparse
import itertools
import os
import shlex
import statistics
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from .guards import FmnistError
from .guards.atomic import write_text_atomic

BENCH_RECORD = Path("docs/measured/bench.json")
LOOP_RECORD = Path("docs/measured/loop-bench.json")
SWEEP_RECORD = Path("docs/measured/sweep.json")

# `make bench`'s loops, as its table and the record name them.
TUTORIAL = "tutorial (per-item transform, DataLoader)"
NUMPY = "numpy forward+gradient bound"
GLUON = "pipeline, gluon (hybridized)"
SCRATCH = "pipeline, scratch"

# Stored rounded: a microsecond is below any timer's noise here, and a record stays readable.
Seconds = Annotated[NonNegativeFloat, AfterValidator(lambda s: round(s, 6))]
Timings = Annotated[list[Seconds], Field(min_length=1)]
Rounded = Annotated[NonNegativeFloat, AfterValidator(lambda x: round(x, 2))]
Load = tuple[Rounded, Rounded, Rounded]  # os.getloadavg(): over 1, 5 and 15 minutes


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Machine(Strict):
    cpu: str  # /proc/cpuinfo's first `model name`
    logical_cpus: int
    load_at_start: Load
    load_at_end: Load


class Run(Strict):
    command: str
    commit: str  # of the tree measured; "+ changes" when src/ differed from it
    started: datetime
    finished: datetime
    machine: Machine


PROFILED = ("operator", "MXNET_C_API")  # mx.profiler's sections: the engine thread, Python's


class ProfileRow(Strict):
    section: Literal[PROFILED]
    name: str
    calls: int
    total_ms: Rounded


class BenchRecord(Run):
    kind: Literal["bench"] = "bench"
    samples: int  # training images per epoch
    epochs: dict[str, Timings]  # per loop, the seconds of each epoch, in order
    peak_rss_mb: Rounded
    profile: dict[str, list[ProfileRow]] = {}  # per model, with --profile

    @model_validator(mode="after")
    def has_the_compared_loops(self):
        missing = [name for name in (TUTORIAL, SCRATCH, GLUON, NUMPY) if name not in self.epochs]
        if missing:
            raise ValueError(f"no timings of {', '.join(missing)}")
        return self


class TreeTimes(Strict):
    name: str  # HEAD, or the revision given
    commit: str
    repro_s: Timings  # each timed `dvc repro`
    stage_s: dict[str, Timings]  # each stage's command alone, per repro


class LoopRecord(Run):
    kind: Literal["bench-loop"] = "bench-loop"
    trees: Annotated[list[TreeTimes], Field(min_length=1, max_length=2)]  # HEAD, AGAINST


class SweepRecord(Run):
    kind: Literal["sweep"] = "sweep"
    commands: list[list[str]]  # run in this order: queue the grid, run it, show it
    table: str  # what the last command printed


Record = Annotated[BenchRecord | LoopRecord | SweepRecord, Field(discriminator="kind")]
RECORD = TypeAdapter(Record)


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    try:
        lines = cpuinfo.read_text().splitlines()
    except OSError:
        return "unknown"
    models = [line.partition(":")[2].strip() for line in lines if line.startswith("model name")]
    return models[0] if models else "unknown"


def git_commit(root: Path = Path(".")) -> str:
    """HEAD's short id, and whether the code (src/) measured differs from it."""

    def git(*args) -> str:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short=10", "HEAD") or "unknown"
    return commit + " + changes" * bool(git("status", "--porcelain", "--", "src"))


class Stopwatch:
    """Started when a benchmark starts; fields() then gives the record's common fields."""

    def __init__(self):
        self.started = datetime.now(UTC).replace(microsecond=0)
        self.load = os.getloadavg()

    def fields(self, command: list[str], commit: str) -> dict:
        machine = Machine(
            cpu=cpu_model(),
            logical_cpus=os.cpu_count() or 1,
            load_at_start=self.load,
            load_at_end=os.getloadavg(),
        )
        finished = datetime.now(UTC).replace(microsecond=0)
        return dict(
            command=shlex.join(command),
            commit=commit,
            started=self.started,
            finished=finished,
            machine=machine,
        )


def record_destination(text: str) -> Path:
    """An argparse type: the record's path, refused before anything is timed if its
    directory is missing."""
    path = Path(text)
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"no directory {path.parent}/ to write {path.name} in")
    return path


def write_record(path: Path, record: BenchRecord | LoopRecord | SweepRecord) -> None:
    write_text_atomic(path, record.model_dump_json(indent=1) + "\n")


def read_record(path: Path) -> BenchRecord | LoopRecord | SweepRecord:
    try:
        return RECORD.validate_json(Path(path).read_bytes())
    except (OSError, ValidationError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else first_error(exc)
        raise FmnistError(
            f"{path}: not a benchmark record ({why}); `make bench`, `make bench-loop` or "
            "`make sweep` writes it"
        ) from None


def first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(map(str, error["loc"]))
    return f"{where}: {error['msg']}" if where else error["msg"]


# What the docs show, made from a record.


def run_line(record: BenchRecord | LoopRecord | SweepRecord) -> str:
    machine, started = record.machine, record.started
    minutes = (record.finished - started).total_seconds() / 60
    return (
        f"Measured by `{record.command}` at commit `{record.commit}`, on {started:%Y-%m-%d} "
        f"from {started:%H:%M} UTC for {minutes:.1f} min, on {machine.cpu} with "
        f"{machine.logical_cpus} logical CPUs, load average (1 min) "
        f"{machine.load_at_start[0]:.2f} at the start and {machine.load_at_end[0]:.2f} at the end."
    )


def bench_rows(record: BenchRecord) -> list[tuple]:
    """(loop, median, fastest, slowest, first, epochs, samples/s) per loop."""
    rows = []
    for name, seconds in record.epochs.items():
        median = statistics.median(seconds)
        row = (name, median, min(seconds), max(seconds), seconds[0], len(seconds))
        rows.append(row + (record.samples / median,))
    return rows


def bench_table(record: BenchRecord, only: str = "") -> str:
    """The loops whose names start with `only`, all by default."""
    lines = [
        "| loop | median s/epoch | fastest-slowest | first | epochs | samples/s |",
        "|---|---|---|---|---|---|",
    ]
    for name, median, fastest, slowest, first, count, rate in bench_rows(record):
        if not name.startswith(only):
            continue
        lines.append(
            f"| {name} | {median:.3f} | {fastest:.3f}-{slowest:.3f} | {first:.3f} "
            f"| {count} | {rate:,.0f} |"
        )
    return "\n".join(lines)


def ratios(record: BenchRecord) -> dict[str, float]:
    tutorial, scratch, gluon, bound = (
        statistics.median(record.epochs[name]) for name in (TUTORIAL, SCRATCH, GLUON, NUMPY)
    )
    return {
        "speedup_vs_tutorial": tutorial / gluon,
        "scratch_speedup_vs_tutorial": tutorial / scratch,
        "scratch_to_gluon": scratch / gluon,
        "ratio_to_numpy_bound": gluon / bound,
    }


def bench_summary(record: BenchRecord) -> str:
    """The last line `make bench` prints: each model's speed-up on the tutorial's loop, the
    scratch epoch against Gluon's, Gluon's against numpy's bound, and the peak memory."""
    shown = [
        f"{name}={value:.{1 if 'speedup' in name else 2}f}"
        for name, value in ratios(record).items()
    ]
    return " ".join(shown) + f" peak_rss_mb={record.peak_rss_mb:.0f}"


def bench_sentence(record: BenchRecord) -> str:
    """bench_summary in words."""
    said = ratios(record)
    return (
        f"The tutorial's loop takes {said['speedup_vs_tutorial']:.1f} times as long per epoch "
        f"as the Gluon model's and {said['scratch_speedup_vs_tutorial']:.1f} times the "
        f"scratch model's; a scratch epoch takes {said['scratch_to_gluon']:.2f} times a Gluon "
        f"one, and a Gluon epoch {said['ratio_to_numpy_bound']:.2f} times numpy's bound. The "
        f"process peaked at {record.peak_rss_mb:.0f} MB (the last line `make bench` printed: "
        f"`{bench_summary(record)}`)."
    )


def profile_table(record: BenchRecord, model: str) -> str:
    """The busiest operators of the engine thread and C API calls of the Python thread, side
    by side, in one epoch of `model` (`--profile`)."""
    if model not in record.profile:
        return f"(This record holds no profile of {model}: it was made without `--profile`.)"
    sections = [[row for row in record.profile[model] if row.section == name] for name in PROFILED]
    lines = [
        "| engine thread: operator | calls | ms | Python thread: C API call | calls | ms |",
        "|---|---|---|---|---|---|",
    ]
    for pair in itertools.zip_longest(*sections):
        cells = [
            f"`{row.name}` | {row.calls} | {row.total_ms:.1f}" if row else " | | " for row in pair
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def tree_medians(tree: TreeTimes) -> dict[str, float]:
    """Each stage's median, DVC's own share (the repro's median less the stages'), and the
    repro's median."""
    stages = {name: statistics.median(seconds) for name, seconds in tree.stage_s.items()}
    total = statistics.median(tree.repro_s)
    return stages | {"(dvc itself)": total - sum(stages.values()), "dvc repro": total}


def loop_table(record: LoopRecord) -> str:
    medians = [tree_medians(tree) for tree in record.trees]
    stages = dict.fromkeys(name for tree in record.trees for name in tree.stage_s)
    rows = [*stages, "(dvc itself)", "dvc repro"]  # a stage one revision lacks shows "-"
    heads = [f"{tree.name} (`{tree.commit}`), s" for tree in record.trees]
    lines = [
        f"| median of {len(record.trees[0].repro_s)} | " + " | ".join(heads) + " |",
        "|---" * (1 + len(heads)) + "|",
    ]
    for row in rows:
        cells = [f"{tree[row]:.2f}" if row in tree else "-" for tree in medians]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    shares = [
        f"{tree['(dvc itself)'] / tree['dvc repro']:.0%} on {times.name}"
        for tree, times in zip(medians, record.trees, strict=True)
    ]
    lines.append(f"\nDVC's own share of `dvc repro`: {', '.join(shares)}.")
    if len(medians) == 2:
        ratio = medians[0]["dvc repro"] / medians[1]["dvc repro"]
        first, second = (tree.name for tree in record.trees)
        lines.append(f"`dvc repro` on {first} takes {ratio:.2f} times as long as on {second}.")
    return "\n".join(lines)


def sweep_table(record: SweepRecord) -> str:
    """What the sweep's `dvc exp show` printed, as a code block."""
    return "```\n" + record.table.rstrip("\n") + "\n```"
