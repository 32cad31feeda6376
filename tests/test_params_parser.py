"""The stages read params.yaml exactly as DVC does (property-based): for generated YAML
scalars and documents, and for `dvc exp run -S key=value` overrides as DVC writes them into
params.yaml, the value a stage uses equals DVC's own reading (DVC's parser called directly:
dvc.utils.serialize.load_yaml, what dvc.lock, `dvc params diff` and `dvc exp show` use), or
the stage refuses the file in one line. Never a run that trains one value while recording
another (issue 16: `epochs: 010` trained 8 epochs, dvc.lock said 10)."""

import dataclasses
import datetime
import functools
import json
import math
import re

import pytest
from dvc.utils.hydra import apply_overrides
from dvc.utils.serialize import load_yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import PROJECT
from fmnist.params import ParamsError, load_params, read_yaml

SETTINGS = dict(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
GOOD = (PROJECT / "params.yaml").read_text()
# Scalars PyYAML (YAML 1.1) and ruamel.yaml (YAML 1.2, DVC's) read differently, and others
# with a type of their own: octal- and sexagesimal-looking, underscores, exponents without a
# dot, YAML 1.1 booleans, dates, infinities, nulls, explicit tags.
TRICKY = (  # noqa: SIM905 (a list literal of 70 short words would take 70 lines)
    "010 0_10 011 1:05 0o10 0o17 1e-3 1E-3 1e3 1.0e+3 6.02e23 -1e-3 off on yes no y n "
    "true True TRUE false 2001-02-03 2001-02-03T04:05:06Z 2001-12-14t21:59:43.10-05:00 "
    ".inf -.inf +.inf .Inf .nan .NaN ~ null Null NULL 0x1F 0X1f 0b101 +1 -0 +0.0 .5 1. "
    "1_000 1_0.5 12:30:45 190:20:30 0.1 5 42 256 0.0 -1 '010' \"1e-3\" '' \"\" 'off' 0.1_0 "
    "1__0 _1 1_ 0xG = [1] "
).split() + ["!!float 1", "!!float '1e-3'", "!!str 5", "!!int '7'", "!!bool yes", "&x 5", "{a: 1}"]
NUMBERS_AS_TEXT = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.builds(lambda z, n: "0" * z + str(n), st.integers(1, 3), st.integers(0, 999)),
    st.builds(
        lambda n, k: f"{n:_}" if k else f"{n:,}".replace(",", "_"),
        st.integers(0, 10**7),
        st.booleans(),
    ),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.builds(lambda m, e: f"{m}e{e}", st.integers(-9, 9), st.integers(-40, 40)),
    st.builds(
        lambda m, e: f"{m}E+{e}",
        st.floats(0, 10, allow_nan=False).map(lambda f: f"{f:.3g}"),
        st.integers(0, 40),
    ),
    st.builds(lambda a, b: f"{a}:{b:02d}", st.integers(0, 99), st.integers(0, 59)),
)
UNQUOTED = st.one_of(
    st.sampled_from(TRICKY),
    NUMBERS_AS_TEXT,
    st.text("0123456789._-+:eExob", min_size=1, max_size=8),
)
SCALARS = st.one_of(
    UNQUOTED,
    UNQUOTED.map(lambda s: f"'{s}'"),
    UNQUOTED.map(lambda s: f'"{s}"'),
)
# Where a scalar goes: keys of every type (the int and float ones above all).
KEYS = [
    ("train", "epochs"),
    ("train", "lr"),
    ("train", "batch_size"),
    ("train", "momentum"),
    ("train", "seed"),
    ("scratch", "init"),
    ("gluon", "workers"),
    ("fetch", "timeout_s"),
]


def same(a, b) -> bool:
    """Equal values of the same type, NaN equal to NaN, all the way down."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(map(same, a, b))
    return a == b


def dvc_reading(path):
    """What DVC records, or None where DVC cannot read the file."""
    try:
        return load_yaml(path)
    except Exception:  # DVC's own YAMLFileCorruptedError, EncodingError, ValueError...
        return None


def assert_stage_reads_what_dvc_records(path) -> None:
    recorded = dvc_reading(path)
    try:
        raw = read_yaml(path)
    except ParamsError as error:
        assert recorded is None, f"DVC reads {recorded!r}; the stage refused it: {error}"
        assert "\n" not in str(error)
        return
    assert recorded is not None and same(raw, recorded), f"{raw!r} != DVC's {recorded!r}"
    try:
        params = load_params(path)
    except ParamsError as error:
        assert "\n" not in str(error)
        return
    for section, values in recorded.items():
        used = dataclasses.asdict(getattr(params, section))
        for key, value in values.items():  # ints pass as floats: 30 is 30.0, nothing else
            assert used[key] == (tuple(value) if isinstance(value, list) else value), key
            assert type(used[key]) in (type(value), float, tuple), key


def with_scalar(section: str, key: str, scalar: str) -> str:
    lines = GOOD.splitlines(keepends=True)
    start = (
        lines.index(f"{section}:\n")
        if f"{section}:\n" in lines
        else next(i for i, line in enumerate(lines) if line.startswith(f"{section}:"))
    )
    at = next(i for i in range(start, len(lines)) if lines[i].startswith(f"  {key}:"))
    lines[at] = f"  {key}: {scalar}   # a comment\n"
    return "".join(lines)


@settings(**SETTINGS)
@given(st.sampled_from(KEYS), SCALARS)
@example(("train", "epochs"), "010")  # the issue's table, each as a key that uses it
@example(("train", "epochs"), "0_10")
@example(("train", "epochs"), "011")
@example(("train", "epochs"), "1:05")
@example(("train", "epochs"), "0o10")
@example(("train", "lr"), "1e-3")
@example(("scratch", "init"), "off")
@example(("train", "seed"), "2001-02-03")
@example(("train", "lr"), ".inf")
@example(("train", "lr"), ".nan")
@example(("train", "lr"), "~")
def test_every_scalar_reads_as_dvc_records_it(tmp_path, where, scalar):
    path = tmp_path / "params.yaml"
    path.write_text(with_scalar(*where, scalar))
    assert_stage_reads_what_dvc_records(path)


def set_line(key: str, form: str):
    """A twist of the first `  key: value  # comment` line, whatever its value: form gets
    the value and the comment (if any) as {value} and {comment}."""
    line = re.compile(rf"^  {key}: ([^#\n]*?)(\s*#.*)?$", re.M)
    return lambda text: line.sub(
        lambda m: form.format(value=m[1], comment=m[2] or ""), text, count=1
    )


def twists(*steps):
    return lambda text: functools.reduce(lambda t, step: step(t), steps, text)


# Each changes the document whatever values params.yaml holds (a test checks it does).
DOCUMENT_TWISTS = {
    "crlf": lambda text: text.replace("\n", "\r\n"),
    "cr": lambda text: text.replace("\n", "\r"),
    "bom": lambda text: "\ufeff" + text,
    "flow": set_line("batch_size", "  {{batch_size: {value}}}{comment}"),
    "tab": lambda text: text.replace("  epochs:", "\tepochs:"),
    "duplicate": set_line("lr", "  lr: {value}{comment}\n  lr: 0.2"),
    "anchor": twists(
        set_line("lr", "  lr: &lr {value}{comment}"),
        set_line("init_scale", "  init_scale: *lr{comment}"),
    ),
    "merge key": lambda text: re.sub(
        r"^(scratch:.*)\n((?:  .*\n|\s*\n)*?)gluon:.*\n  init: .*\n  init_scale: .*\n",
        r"\1 &s\n\2gluon:\n  <<: *s\n",
        text,
        count=1,
        flags=re.M,
    ),
    "document markers": lambda text: "%YAML 1.2\n---\n" + text + "...\n",
    "empty": lambda text: "",
    "just a comment": lambda text: "# nothing\n",
    "a list": lambda text: "- 1\n- 2\n",
    "latin-1 byte": lambda text: text.replace("ssh -F", "ssh \udce9-F"),
}


@pytest.mark.parametrize("twist", sorted(DOCUMENT_TWISTS))
def test_every_twist_changes_the_document(twist):
    assert DOCUMENT_TWISTS[twist](GOOD) != GOOD


@settings(**{**SETTINGS, "max_examples": 60})
@given(st.lists(st.sampled_from(sorted(DOCUMENT_TWISTS)), min_size=1, max_size=3, unique=True))
def test_every_document_form_reads_as_dvc_records_it(tmp_path, twists):
    text = GOOD
    for twist in twists:
        text = DOCUMENT_TWISTS[twist](text)
    path = tmp_path / "params.yaml"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    assert_stage_reads_what_dvc_records(path)


# Values as a user types them after `dvc exp run -S key=`: hydra's grammar reads them, and
# DVC writes the result into params.yaml (dvc.utils.hydra.apply_overrides).
OVERRIDE_VALUES = st.one_of(
    st.sampled_from(
        [
            "1e-3",
            "010",
            "0_10",
            "0o10",
            "1:05",
            "off",
            "yes",
            "null",
            "true",
            "0.1",
            "5",
            "'010'",
            '"1e-3"',
            "1_000",
            "[a,b]",
            "[]",
            "{}",
            "inf",
            "nan",
            "-1",
            "2001-02-03",
            "0x10",
        ]
    ),
    NUMBERS_AS_TEXT,
)


@settings(**{**SETTINGS, "max_examples": 60})
@given(st.sampled_from(KEYS), OVERRIDE_VALUES)
@example(("train", "lr"), "1e-3")
@example(("train", "epochs"), "010")
def test_every_dvc_exp_run_override_reads_as_dvc_records_it(tmp_path, where, value):
    path = tmp_path / "params.yaml"
    path.write_text(GOOD)
    try:
        apply_overrides(path, [f"{where[0]}.{where[1]}={value}"])
    except Exception:  # DVC refuses the override itself: `dvc exp run` stops there
        return
    assert_stage_reads_what_dvc_records(path)


@pytest.mark.parametrize(
    "scalar, value",
    [("010", 10), ("0_10", 10), ("011", 11), ("0o10", 8), ("1e1", None), ("1:05", None)],
)
def test_the_epochs_of_the_issue_read_as_dvc_reads_them_or_are_refused(tmp_path, scalar, value):
    path = tmp_path / "params.yaml"
    path.write_text(with_scalar("train", "epochs", scalar))
    if value is None:  # DVC records the float 10.0 and the text '1:05': no epoch count
        with pytest.raises(ParamsError, match="^params: train.epochs must be an integer"):
            load_params(path)
    else:
        assert load_params(path).train.epochs == value == load_yaml(path)["train"]["epochs"]


def test_lr_written_1e_3_is_the_number_dvc_records(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(with_scalar("train", "lr", "1e-3"))
    assert load_params(path).train.lr == 0.001 == load_yaml(path)["train"]["lr"]


def test_yaml_dates_are_refused_where_a_number_is_needed(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(with_scalar("train", "seed", "2001-02-03"))
    assert load_yaml(path)["train"]["seed"] == datetime.date(2001, 2, 3)
    with pytest.raises(ParamsError, match=r"^params: train.seed: a timestamp has no meaning"):
        load_params(path)


def write_train_values(project, **scalars: str) -> None:
    """Each `  key: value` line of params.yaml's train section rewritten, as a user types it."""
    lines = project.params_path.read_text().splitlines(keepends=True)
    start = lines.index("train:\n")
    for i in range(start + 1, len(lines)):
        key = lines[i].strip().split(":")[0]
        if lines[i].startswith("  ") and key in scalars:
            lines[i] = f"  {key}: {scalars[key]}\n"
    project.params_path.write_text("".join(lines))


def test_a_run_trains_what_dvc_params_diff_reports(reproduced_project):
    """010 (PyYAML: 8), 0_32 (PyYAML: 26) and 1e-1 (PyYAML: text): the stage trains the
    values DVC records. The trained epochs are DVCLive's steps; the trained batch size and
    learning rate show in the model's bytes, equal to a forced rerun with the plain values."""
    project = reproduced_project
    write_train_values(project, epochs="010", batch_size="0_32", lr="1e-1")
    project.dvc("repro", "train_scratch")
    reported = json.loads(project.dvc("params", "diff", "--all", "--json").stdout)["params.yaml"]
    assert {key: reported[f"train.{key}"]["new"] for key in ("epochs", "batch_size", "lr")} == {
        "epochs": 10,
        "batch_size": 32,
        "lr": 0.1,
    }
    live = project.root / "dvclive/scratch"
    assert json.loads((live / "metrics.json").read_text())["step"] == 10
    assert len((live / "plots/metrics/loss.tsv").read_text().splitlines()) == 1 + 10
    model = project.root / "models/scratch.params"
    written = model.read_bytes()

    write_train_values(project, epochs="10", batch_size="32", lr="0.1")
    assert "train_scratch" not in project.dvc("status", "train_scratch").stdout  # same values
    project.dvc("repro", "--force", "--single-item", "train_scratch")
    assert model.read_bytes() == written
