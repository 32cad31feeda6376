"""params.yaml is validated before any work: each bad value gives one message that names
the key and what is allowed."""

import copy
import datetime
import json
import math
import os
import re
import subprocess
import sys
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import PROJECT
from fetch_faults import MIRRORS_FAULTS
from fmnist.distributed.ssh import ssh_argv
from fmnist.params import (
    MAX_PARAMS_BYTES,
    SCHEMA_FILE,
    ParamsError,
    is_host,
    json_schema,
    load_params,
    params_json,
    parse_params,
    read_yaml,
)
from hosts_faults import HOSTS_FAULTS
from params_faults import PARAMS_FAULTS, with_line
from settings_faults import SETTINGS_FAULTS

GOOD = read_yaml(PROJECT / "params.yaml")


def with_change(section: str, key: str, value) -> dict:
    raw = copy.deepcopy(GOOD)
    raw[section][key] = value
    return raw


def test_the_projects_params_yaml_is_valid():
    params = load_params(PROJECT / "params.yaml")  # whatever values it holds
    assert (params.train.batch_size, params.train.lr) == (
        GOOD["train"]["batch_size"],
        GOOD["train"]["lr"],
    )


LR_RANGE = "a number in [1e-30, 1e30]"
# (section, key, bad value, the whole message)
BAD_VALUES = {
    "validation_size zero": (
        "preprocess",
        "validation_size",
        0,
        "params: preprocess.validation_size must be an integer >= 1 (and below the number "
        "of training images), got 0",
    ),
    "split seed negative": (
        "preprocess",
        "seed",
        -1,
        "params: preprocess.seed must be an integer in [0, 4294967295] (numpy's seed range), "
        "got -1",
    ),
    "lr zero": ("train", "lr", 0, f"params: train.lr must be {LR_RANGE}, got 0"),
    "lr negative": ("train", "lr", -0.1, f"params: train.lr must be {LR_RANGE}, got -0.1"),
    "lr not a number": ("train", "lr", "fast", f"params: train.lr must be {LR_RANGE}, got 'fast'"),
    "lr quoted (DVC records the text '0.1')": (
        "train",
        "lr",
        "0.1",
        f"params: train.lr must be {LR_RANGE}, got '0.1'",
    ),
    "lr a boolean": ("train", "lr", True, f"params: train.lr must be {LR_RANGE}, got True"),
    "lr beyond float32 (MXNet refused it)": (
        "train",
        "lr",
        1e39,
        f"params: train.lr must be {LR_RANGE}, got 1e+39",
    ),
    "lr beyond any float": (
        "train",
        "lr",
        10**400,
        f"params: train.lr must be {LR_RANGE}, got 100000000000000000...0000000000000000000",
    ),
    "lr infinite": ("train", "lr", math.inf, f"params: train.lr must be {LR_RANGE}, got inf"),
    "momentum subnormal (MXNet refused it)": (
        "train",
        "momentum",
        1e-45,
        "params: train.momentum must be 0 or a number in [1e-30, 1), got 1e-45 "
        "(float32 cannot hold it)",
    ),
    "weight_decay negative": (
        "train",
        "weight_decay",
        -1.0,
        "params: train.weight_decay must be 0 or a number in [1e-30, 1e30], got -1.0",
    ),
    "batch_size zero": (
        "train",
        "batch_size",
        0,
        "params: train.batch_size must be an integer >= 1, got 0",
    ),
    "batch_size float": (
        "train",
        "batch_size",
        25.6,
        "params: train.batch_size must be an integer >= 1, got 25.6",
    ),
    "epochs zero": (
        "train",
        "epochs",
        0,
        "params: train.epochs must be an integer in [1, 1000000], got 0",
    ),
    "epochs a string": (
        "train",
        "epochs",
        "five",
        "params: train.epochs must be an integer in [1, 1000000], got 'five'",
    ),
    "epochs a boolean": ("train", "epochs", True, SETTINGS_FAULTS["wrong type"].message(1)),
    "epochs a float (DVC records 10.0)": (
        "train",
        "epochs",
        10.0,
        SETTINGS_FAULTS["wrong type"].message(0),
    ),
    "epochs a date": (
        "train",
        "epochs",
        datetime.date(2001, 2, 3),
        SETTINGS_FAULTS["tag"].message(5),
    ),
    "seed beyond numpy's range (RandomState crashed)": (
        "train",
        "seed",
        2**32,
        "params: train.seed must be an integer in [0, 4294967295] (numpy's seed range), "
        "got 4294967296",
    ),
    "init_scale zero (MXNet's normal initializer crashed)": (
        "scratch",
        "init_scale",
        0,
        "params: scratch.init_scale must be a number in [1e-30, 1e30], got 0",
    ),
    "gluon init_scale beyond float32": (
        "gluon",
        "init_scale",
        1e39,
        "params: gluon.init_scale must be a number in [1e-30, 1e30], got 1e+39",
    ),
    "scratch.init unknown": (
        "scratch",
        "init",
        "xavier",
        "params: scratch.init must be one of 'normal', 'uniform', 'zeros', got 'xavier'",
    ),
    "gluon.init unknown": (
        "gluon",
        "init",
        "Xavier",
        "params: gluon.init must be one of 'normal', 'uniform', 'zeros', got 'Xavier'",
    ),
    "lr_schedule unknown": (
        "train",
        "lr_schedule",
        "step",
        "params: train.lr_schedule must be one of 'constant', 'cosine', got 'step'",
    ),
    "kvstore null": (
        "gluon",
        "kvstore",
        None,
        "params: gluon.kvstore must be one of 'local', 'dist_sync', got None",
    ),
    "timeout_s zero": (
        "fetch",
        "timeout_s",
        0,
        "params: fetch.timeout_s must be in [0.001, 86400] (seconds; 86400 is a day), got 0",
    ),
    "timeout_s beyond sockets (settimeout crashed)": (
        "fetch",
        "timeout_s",
        1e10,
        "params: fetch.timeout_s must be in [0.001, 86400] "
        "(seconds; 86400 is a day), got 10000000000.0",
    ),
    "gluon timeout_s negative": (
        "gluon",
        "timeout_s",
        -1,
        "params: gluon.timeout_s must be a number > 0 (seconds), got -1",
    ),
    "sha256 with a key too many": (
        "fetch",
        "sha256",
        {"x": "0" * 64},
        "params: fetch.sha256 must be a mapping of train-images-idx3-ubyte, "
        "train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte to 64 "
        "lowercase hex digits, got "
        "{'x': '000000000000000000000000000...0000000000000000000000000000'}",
    ),
}
# each case: its fault and example in tests/fetch_faults.py, whose example holds the mirrors
BAD_MIRRORS = {
    "ftp": ("scheme", 0),
    "file": ("scheme", 1),
    "no host": ("url", 0),
    "empty list": ("not a list", 0),
    "not a string": ("not a list", 1),
    # These passed and then ended fetch in a traceback, or reached the wrong place.
    "unclosed IPv6 bracket": ("url", 1),
    "not an IPv6 address": ("url", 2),
    "port out of range": ("url", 3),
    "port not a number": ("url", 4),
    "user name": ("url", 5),
    "space": ("url", 6),
    "query": ("url", 7),
    "host label too long": ("url", 8),
}


@pytest.mark.parametrize("case", BAD_VALUES)
def test_a_bad_value_names_the_key_and_what_is_allowed(case):
    section, key, value, message = BAD_VALUES[case]
    with pytest.raises(ParamsError) as error:
        parse_params(with_change(section, key, value))
    assert str(error.value) == message


@pytest.mark.parametrize("case", BAD_MIRRORS)
def test_only_usable_http_https_and_local_mirrors_are_accepted(case):
    fault, example = BAD_MIRRORS[case]
    fault = MIRRORS_FAULTS[fault]
    with pytest.raises(ParamsError) as error:
        parse_params(with_change("fetch", "mirrors", fault.examples[example]["mirrors"]))
    assert str(error.value) == fault.message(example)


def test_https_and_relative_mirrors_are_accepted():
    mirrors = [
        "https://example.org/fashion",
        "HTTP://example.org/x",
        "data/mirror",
        "~/fmnist",
        "http://[::1]:8080/fashion/",
        "http://127.0.0.1:8000",
        "data/[x] y",
    ]
    params = parse_params(with_change("fetch", "mirrors", mirrors))
    assert params.fetch.mirrors == tuple(mirrors)


@pytest.mark.parametrize(
    "section, key, value",
    [
        ("train", "seed", 2**32 - 1),
        ("train", "seed", 0),
        ("fetch", "timeout_s", 86400),
        ("fetch", "timeout_s", 0.001),
        ("train", "lr", 1e-30),
        ("train", "lr", 1e30),
        ("train", "momentum", 0),
        ("train", "weight_decay", 0),
        ("train", "epochs", 1_000_000),
    ],
)
def test_the_limits_themselves_are_accepted(section, key, value):
    params = parse_params(with_change(section, key, value))
    assert getattr(getattr(params, section), key) == value


def test_an_unknown_key_names_it_and_the_allowed_keys():
    raw = with_change("train", "learning_rate", 0.1)
    with pytest.raises(ParamsError) as error:
        parse_params(raw)
    assert str(error.value) == (
        "params: unknown key train.learning_rate; allowed keys in "
        "'train': batch_size, epochs, lr, lr_schedule, momentum, "
        "weight_decay, seed"
    )


def test_an_unknown_section_names_it_and_the_allowed_sections():
    raw = copy.deepcopy(GOOD)
    raw["evaluate"] = {"batch_size": 256}
    with pytest.raises(
        ParamsError,
        match="^params: unknown key evaluate; allowed keys in the file: "
        "fetch, preprocess, train, scratch, gluon$",
    ):
        parse_params(raw)


def test_a_section_that_is_no_mapping_names_its_keys():
    raw = copy.deepcopy(GOOD)
    raw["scratch"] = [1, 2]
    with pytest.raises(ParamsError) as error:
        parse_params(raw)
    assert str(error.value) == (
        "params: scratch must be a mapping with keys init, init_scale, got [1, 2]"
    )


def test_a_missing_key_names_it_and_the_keys_needed():
    raw = copy.deepcopy(GOOD)
    del raw["gluon"]["init"]
    with pytest.raises(
        ParamsError,
        match="^params: missing key gluon.init; 'gluon' needs all "
        "of: init, init_scale, kvstore, workers, hosts, "
        "ssh_config, timeout_s$",
    ):
        parse_params(raw)


NOT_UTF8 = SETTINGS_FAULTS["not utf-8"]


@pytest.mark.parametrize(
    "text, message",
    [
        # issue 18: a tab, a non-UTF-8 byte and bad syntax gave multi-line errors
        (
            b"train:\n  lr: 0.1\n\tepochs: 5\n",
            ":3:1: found character '\\t' that cannot start any token (a tab: indent with spaces)",
        ),
        (b"train: {seed: \xff}\n", NOT_UTF8.message(1).removeprefix("params.yaml")),
        (b"# \xc3\xa9\ntrain: \xe9\n", NOT_UTF8.message(0).removeprefix("params.yaml")),
        (b"train: [unclosed\n", ":2:1: expected ',' or ']', but got '<stream end>'"),
        (b"train:\n  lr: a: b\n", ":2:8: mapping values are not allowed here"),
        (
            b"train:\r\n  lr: 1\r\n  lr: 2\r\n",
            ':3:3: found duplicate key "lr" with value "2" (original value: "1")',
        ),
        (b"train: \x07\n", ":1:8: special characters are not allowed: character #x0007"),
        (b"gluon:\n  hosts: *nowhere\n", ":2:10: found undefined alias 'nowhere'"),
        # no position: ruamel's constructor says only what
        (
            b"train:\n  seed: " + b"1" * 5000 + b"\n",
            ": Exceeds the limit (4300 digits) for "
            "integer string conversion: value has 5000 digits",
        ),
        (b"train: " + b"[" * 5000 + b"\n", ": it is nested too deeply"),
        (b"train:\n  seed: 2001-02-30\n", ": day is out of range for month"),
    ],
    ids=lambda value: str(value)[:24],
)
def test_a_file_that_is_no_valid_yaml_is_one_line_with_its_position(tmp_path, text, message):
    path = tmp_path / "params.yaml"
    path.write_bytes(text)
    with pytest.raises(ParamsError) as error:
        load_params(path)
    assert str(error.value) == f"{path}{message}"


def aliases_nested(depth: int) -> str:
    """params.yaml with gluon.hosts holding `depth` lists, the last 8**depth names deep."""
    levels = ["&a0 [" + ", ".join(["node-1"] * 8) + "]"]
    levels += [f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 8) + "]" for i in range(1, depth)]
    good = (PROJECT / "params.yaml").read_text()
    return re.sub(r"^  hosts: .*$", f"  hosts: [{', '.join(levels)}]", good, count=1, flags=re.M)


@pytest.mark.parametrize("depth", [5, 9])
def test_a_value_nested_by_aliases_gives_one_short_line_at_once(tmp_path, depth):
    """issue 16: nine levels of aliases took a CPU for 30 s; five gave a 7.2 MB message."""
    path = tmp_path / "params.yaml"
    path.write_text(aliases_nested(depth))
    assert path.stat().st_size < 3000
    started = time.perf_counter()
    with pytest.raises(ParamsError) as error:
        load_params(path)
    assert time.perf_counter() - started < 1.0
    message = str(error.value)
    assert "\n" not in message and len(message) < 600
    assert message == SETTINGS_FAULTS["aliases"].message()


def test_a_long_value_is_shown_shortened():
    with pytest.raises(ParamsError) as error:
        parse_params(with_change("scratch", "init", "x" * 100_000 + "\n"))
    message = str(error.value)
    assert "\n" not in message and len(message) < 300
    assert message.startswith("params: scratch.init must be one of 'normal', 'uniform', 'zeros'")


def test_a_stage_reports_bad_params_in_one_line_before_any_work(small_project):
    project = small_project
    project.set_params(train={"lr": 0})
    result = project.dvc("repro", "fetch", check=False)
    assert result.returncode != 0
    assert f"fetch: error: params: train.lr must be {LR_RANGE}, got 0\n" in result.stderr
    assert "Traceback" not in result.stderr
    assert "fetch: trying" not in result.stderr  # no mirror was touched
    assert not (project.root / "data/raw").exists()


HOSTS_RULE = (
    "params: gluon.hosts must be a list of distinct host names (RFC 1123, such as "
    "node-2 or node-2.example.org; ssh config aliases of that form too) or IPv4 "
    "addresses; IPv6 addresses are not supported by MXNet's parameter server, got "
)


@pytest.mark.parametrize(
    "hosts",
    [
        ["node-2"],
        ["node-2.example.org", "w1"],
        ["198.18.0.2"],
        ["localhost", "127.0.0.1"],
        ["a" * 63],
        ["9host.lan"],
    ],
)
def test_host_names_and_ipv4_addresses_are_accepted(hosts):
    assert parse_params(with_change("gluon", "hosts", hosts)).gluon.hosts == tuple(hosts)


REFUSED_HOSTS = [
    ["-oProxyCommand=touch /tmp/x"],
    ["-p"],
    ["node_2"],
    ["node 2"],
    ["node-"],
    ["::1"],
    ["fe80::1"],
    ["[::1]"],
    ["root@node"],
    [""],
    ["a" * 64],
    ["1.2.3.999"],
    ["n;rm -rf /"],
    ["node."],
    ["w1", "W1"],
    [42],
]


@pytest.mark.parametrize("hosts", REFUSED_HOSTS)
def test_hosts_that_ssh_could_misread_or_ps_lite_cannot_use_are_refused(hosts):
    with pytest.raises(ParamsError) as error:
        parse_params(with_change("gluon", "hosts", hosts))
    assert str(error.value).startswith(HOSTS_RULE + repr(hosts)[:20])
    fault = HOSTS_FAULTS["host names"]  # the doc's examples, whole
    for example, shown in enumerate(fault.examples):
        if shown["hosts"] == hosts:
            assert str(error.value) == fault.message(example)


def test_the_refused_hosts_the_doc_shows_are_among_those_tested():
    assert all(shown["hosts"] in REFUSED_HOSTS for shown in HOSTS_FAULTS["host names"].examples)


@given(st.text(max_size=300) | st.text(alphabet="aZ09-._:@ ;[]/=\n", max_size=80))
def test_an_accepted_host_is_one_plain_ssh_argument(name):
    """Whatever the text, an accepted host is an address or dotted letters, digits and
    hyphens, and reaches ssh after `--`, as one argument."""
    if not is_host(name):
        return
    assert not name.startswith("-") and len(name) <= 253
    assert re.fullmatch(r"[A-Za-z0-9.-]+", name)
    argv = ssh_argv(name, "", "true")
    assert argv[argv.index("--") + 1] == name


@given(
    st.from_regex(
        r"\A([a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?\.){0,3}"
        r"[a-z]([a-z0-9-]{0,20}[a-z0-9])?\Z"
    )
)
def test_rfc_1123_names_are_accepted(name):
    """(The last label must not be all digits: 127.1 would be read as an IPv4 address.)"""
    assert is_host(name)


def test_ssh_config_is_a_path_or_empty():
    assert parse_params(with_change("gluon", "ssh_config", "")).gluon.ssh_config == ""
    assert (
        parse_params(with_change("gluon", "ssh_config", "ci/ssh config")).gluon.ssh_config
        == "ci/ssh config"
    )
    with pytest.raises(ParamsError, match=r"^params: gluon.ssh_config must be '' .* got None$"):
        parse_params(with_change("gluon", "ssh_config", None))
    with pytest.raises(
        ParamsError,
        match=r"^params: gluon.ssh_config must be '' \(ssh's own "
        r"~/.ssh/config\) or the path of an ssh config file",
    ):
        parse_params(with_change("gluon", "ssh_config", "a\0b"))  # exec would refuse it


def test_params_reach_workers_as_json_unchanged():
    params = load_params(PROJECT / "params.yaml")
    assert parse_params(json.loads(params_json(params))) == params


def test_the_committed_json_schema_is_the_models():
    committed = (PROJECT / SCHEMA_FILE).read_text()
    assert committed == json_schema(), (
        f"{SCHEMA_FILE} differs from the models in fmnist/params.py: "
        "rewrite it with `python -m fmnist.params --schema`"
    )


def test_params_yaml_points_editors_at_the_schema():
    first_line = (PROJECT / "params.yaml").read_text().splitlines()[0]
    assert first_line == f"# yaml-language-server: $schema={SCHEMA_FILE}"
    schema = json.loads((PROJECT / SCHEMA_FILE).read_text())
    assert schema["additionalProperties"] is False and set(schema["required"]) == set(GOOD)


def test_a_stage_reports_a_tab_in_params_yaml_as_one_line_with_its_position(tmp_path):
    text = (PROJECT / "params.yaml").read_text().replace("\n  epochs:", "\n\tepochs:")
    (tmp_path / "params.yaml").write_text(text)
    line = 1 + next(i for i, t in enumerate(text.splitlines()) if t.startswith("\tepochs:"))
    result = subprocess.run(
        [sys.executable, PROJECT / "stages/fetch.py", "--raw-dir", "raw"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(PROJECT / "src")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == SETTINGS_FAULTS["tab"].message(line=line) + "\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]


@pytest.mark.parametrize(  # each value, and its example in tests/settings_faults.py
    "value, example",
    [
        ("!!set {node-1, node-2}", 0),
        ("[!!binary bm9kZS0x]", 1),
        ("!!omap [node-1: 1]", 2),
        ("!!pairs [node-1: 1]", 3),
        ("[2001-02-03]", 4),
    ],
)
def test_a_yaml_tag_without_meaning_in_a_setting_is_refused(tmp_path, value, example):
    """issue 24: a !!set became a tuple in hash order, which PYTHONHASHSEED changes."""
    path = tmp_path / "params.yaml"
    good = (PROJECT / "params.yaml").read_text()
    path.write_text(re.sub(r"^  hosts: .*$", f"  hosts: {value}", good, count=1, flags=re.M))
    with pytest.raises(ParamsError) as error:
        load_params(path)
    assert str(error.value) == SETTINGS_FAULTS["tag"].message(example)


def make_fifo(path):
    os.mkfifo(path)


def make_device_link(path):
    path.symlink_to("/dev/zero")


def make_directory(path):
    path.mkdir()


def make_oversized(path):
    path.write_text("# padding\n" * (MAX_PARAMS_BYTES // 10 + 1))


@pytest.mark.parametrize(  # each file, and its example in tests/settings_faults.py
    "make, example",
    [(make_fifo, 0), (make_device_link, 1), (make_directory, 2), (make_oversized, 3)],
)
def test_params_yaml_that_is_not_a_small_regular_file_gets_one_line_at_once(
    tmp_path, make, example
):
    """issue 24: a symlink to /dev/zero grew memory until MemoryError; a FIFO blocked."""
    make(tmp_path / "params.yaml")
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "fmnist.params"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert time.monotonic() - started < 10
    assert (result.returncode, result.stdout) == (1, "")
    fault = SETTINGS_FAULTS["not a file"]
    assert result.stderr == fault.prefix + fault.message(example) + "\n"


@pytest.mark.parametrize("fault", PARAMS_FAULTS, ids=[f[2] for f in PARAMS_FAULTS])
def test_the_documented_params_faults_give_their_documented_lines(fault, tmp_path, monkeypatch):
    """docs/failure-modes.md shows these messages, read from the same tuple."""
    _, (section, key), line, message, _ = fault
    text = (PROJECT / "params.yaml").read_text()
    (tmp_path / "params.yaml").write_text(with_line(text, section, key, line))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ParamsError) as refused:
        load_params("params.yaml")
    assert str(refused.value) == message


def test_dvc_reads_a_deeply_nested_params_yaml_to_an_error_not_a_crash(small_project):
    """DVC parses params.yaml with ruamel.yaml before any stage runs. In pure Python, as
    installed, nesting too deep ends in DVC's one error line; ruamel.yaml's C parser
    (ruamel.yaml.clib, which would make DVC's reads faster) crashes on it instead, killed
    by a segmentation fault."""
    project = small_project
    with project.params_path.open("a") as params:
        params.write("deep: " + "[" * 100_000 + "]" * 100_000 + "\n")
    result = project.dvc("status", check=False, timeout=120)
    assert result.returncode == 255, (result.returncode, result.stderr[-500:])
    assert result.stderr.startswith("ERROR: "), result.stderr[-500:]
