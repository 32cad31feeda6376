"""Every value params.yaml's validator accepts is usable (property-based).

For every key, hypothesis draws values (boundaries, huge and tiny numbers, odd strings and
URLs) and writes them into a params.yaml. When load_params accepts the file, the values go
through the code that consumes them up to the first real work: seeding the generators,
drawing the validation rows,
the mirrors (URLs parsed and their requests built, directories read), socket timeouts,
batch sizes, both models created and stepped with the schedule's learning rates. Anything
raised there other than an FmnistError fails the test. gluon.hosts and gluon.ssh_config go
as far as the ssh command line, and all params through the JSON a dist_sync worker gets
(starting processes and reaching hosts is tests/test_distributed.py's and
tests/test_multihost.py's).
"""

import contextlib
import dataclasses
import http.client
import json
import math
import os
import socket
import ssl
import urllib.request

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mxnet import autograd, nd

from fmnist import FmnistError
from fmnist.distributed import check_hosts, per_worker_batch_size
from fmnist.distributed.ssh import ssh_argv
from fmnist.download import fetch_file
from fmnist.lesson.gluon import GluonSoftmax
from fmnist.lesson.graph import seed_everything
from fmnist.lesson.scratch import ScratchSoftmax
from fmnist.lesson.training import batch_bounds, learning_rate
from fmnist.params import (
    DATA_FILES,
    SECTIONS,
    ParamsError,
    load_params,
    mirror_kind,
    params_json,
    parse_params,
)
from fmnist.prepared import validation_rows
from fmnist.training_stage import check_batch_fits

# Fashion-MNIST's training set; the batch checks are also run against the small test sets.
TRAIN_SIZES = (60_000, 300)
FIRST_FILE = DATA_FILES[0] + ".gz"
BASE = {
    "fetch": {
        "mirrors": ["no-such-mirror-dir"],
        "timeout_s": 30,
        "sha256": {name: "0" * 64 for name in DATA_FILES},
    },
    "preprocess": {"validation_size": 10_000, "seed": 0},
    "train": {
        "batch_size": 256,
        "epochs": 5,
        "lr": 0.1,
        "lr_schedule": "cosine",
        "momentum": 0.9,
        "weight_decay": 0.001,
        "seed": 42,
    },
    "scratch": {"init": "normal", "init_scale": 0.01},
    "gluon": {
        "init": "uniform",
        "init_scale": 0.01,
        "kvstore": "local",
        "workers": 1,
        "hosts": [],
        "ssh_config": "",
        "timeout_s": 600,
    },
}
SETTINGS = dict(
    max_examples=50,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# --- what is drawn -------------------------------------------------------------------------

HUGE_INTS = [
    2**31 - 1,
    2**31,
    2**32 - 1,
    2**32,
    2**53 + 1,
    2**63,
    2**64,
    10**30,
    10**308,
    10**309,
    10**400,
    1_000_000,
    1_000_001,
]
EDGE_FLOATS = [
    0.0,
    -0.0,
    5e-324,
    1e-45,
    1.1754943508222875e-38,
    1e-31,
    1e-30,
    1e-3,
    0.999,
    0.9999999999999999,
    1.0,
    86400.0,
    86400.5,
    9.3e9,
    1e10,
    1e30,
    1.0000000000000002e30,
    3.4028235e38,
    3.5e38,
    1.7976931348623157e308,
    math.inf,
    -math.inf,
    math.nan,
]
# Spread over every order of magnitude, so each key's limits are met from both sides.
SCALED_INTS = st.builds(lambda m, e: m * 10**e, st.integers(1, 9), st.integers(0, 40))
SCALED_FLOATS = st.builds(lambda m, e: float(f"{m}e{e}"), st.floats(1, 10), st.integers(-330, 320))
NUMBERS = st.one_of(
    SCALED_INTS,
    SCALED_FLOATS,
    st.integers(-2, 100),
    st.floats(0, 1),
    st.sampled_from(HUGE_INTS),
    st.sampled_from(HUGE_INTS).map(lambda n: -n),
    st.sampled_from(EDGE_FLOATS),
    st.integers(),
    st.floats(),
)
# One branch of a one_of (which would flatten a nested one_of into its own branches).
ANYTHING = st.one_of(
    NUMBERS,
    st.text(max_size=20),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
).map(lambda value: value)
# URLs: good parts, and one odd part at a time (an odd scheme, host, port or path), so
# that each odd part meets the validator in an otherwise good URL.
GOOD_URL_PARTS = {
    "scheme": st.sampled_from(["http", "https", "HTTP", "hTTps"]),
    "host": st.sampled_from(
        [
            "127.0.0.1",
            "localhost",
            "example.org",
            "[::1]",
            "a-b.c_d.",
            "xn--bcher-kva.example",
            "[::ffff:1.2.3.4]",
            "1.2.3.4.5",
            "-",
        ]
    ),
    "port": st.one_of(
        st.just(""), st.integers(1, 65535).map(lambda p: f":{p}"), st.sampled_from([":", ":0080"])
    ),
    "path": st.one_of(
        st.just(""), st.text("abcXYZ019-._~%/:@!$&'()*+,;=", max_size=12).map(lambda t: "/" + t)
    ),
}
ODD_URL_PARTS = {
    "scheme": st.one_of(st.sampled_from(["ftp", "file", "htp", "http:", ""]), st.text(max_size=5)),
    "host": st.one_of(
        st.text(max_size=10),
        st.sampled_from(
            [
                "[::1",
                "[zz]",
                "[]",
                "[v1.x]",
                "[fe80::1%eth0]",
                "[fe80::1%25eth0]",
                "a" * 64,
                "a..b",
                "ü.de",
                "u:p@h",
                "@h",
                "%41",
                " ",
                "h ",
                "h\n",
                ".",
                "",
                "h\x00",
            ]
        ),
    ),
    "port": st.one_of(
        st.integers(-5, 70_000).map(lambda p: f":{p}"),
        st.text(max_size=5).map(lambda t: ":" + t),
        st.sampled_from([":abc", ":+80", ": 80", ":٣", ":0", ":65536"]),
    ),
    "path": st.one_of(
        st.text(max_size=12).map(lambda t: "/" + t),
        st.sampled_from(["/a b", "/ü", "/%zz", "/x?q", "/#f", "/x?", "/\x7f", "//", "?", "#"]),
    ),
}


def url_with_odd(odd: str):
    parts = {**GOOD_URL_PARTS, **({odd: ODD_URL_PARTS[odd]} if odd else {})}
    return st.builds(lambda scheme, host, port, path: f"{scheme}://{host}{port}{path}", **parts)


URLS = st.one_of(*(url_with_odd(odd) for odd in (None, *ODD_URL_PARTS))).map(lambda url: url)
DIRS = st.one_of(
    st.text(max_size=20),
    st.sampled_from(
        [
            "~no-such-user-fmnist/x",
            "~",
            "/",
            ".",
            "a\x00b",
            "data/[x",
            "C:\\x",
            "http:x",
            "http:/x",
            "//x",
            " /x",
        ]
    ),
)
MIRROR = st.one_of(URLS, DIRS)
TEXTS = st.one_of(
    st.text(max_size=8),
    st.sampled_from(
        [
            "normal",
            "Normal",
            "normal ",
            "uniform",
            "zeros",
            "cosine",
            "cosine\n",
            "constant",
            "local",
            "dist_sync",
            "device",
            "",
        ]
    ),
    ANYTHING,
)
HEX = st.one_of(
    st.text("0123456789abcdef", min_size=64, max_size=64),
    st.text("0123456789abcdefABCDEF", min_size=63, max_size=65),
)
SHA256 = st.one_of(
    ANYTHING,
    st.dictionaries(
        st.sampled_from(DATA_FILES + ("x",)), st.one_of(st.text(max_size=70), NUMBERS, HEX)
    ),
    st.fixed_dictionaries({name: HEX for name in DATA_FILES}),
    st.fixed_dictionaries(
        {name: st.text("0123456789abcdef", min_size=64, max_size=64) for name in DATA_FILES}
    ),
)
DRAWN = {
    ("fetch", "mirrors"): st.one_of(st.lists(MIRROR, max_size=3), ANYTHING),
    ("fetch", "sha256"): SHA256,
    ("gluon", "hosts"): st.one_of(
        st.lists(
            st.one_of(
                st.text(max_size=10),
                st.sampled_from(
                    [
                        "w1",
                        "W1",
                        "node-2.lan",
                        "1.2.3.4",
                        "127.1",
                        "::1",
                        "-oProxyCommand=x",
                        "a" * 64,
                        "a_b",
                        "a\x00b",
                    ]
                ),
            ),
            max_size=3,
        ),
        ANYTHING,
    ),
    ("gluon", "ssh_config"): st.one_of(
        st.text(max_size=20),
        st.sampled_from(["", "a\x00b", "-F", "~/.ssh/config", "ssh config", "/etc/ssh/ssh_config"]),
        ANYTHING,
    ),
}
TEXT_KEYS = {"lr_schedule", "init", "kvstore"}


def values_for(section: str, key: str):
    """Texts and numbers stand for every other key, of the wrong type too."""
    if (section, key) in DRAWN:
        return DRAWN[(section, key)]
    return TEXTS if key in TEXT_KEYS else NUMBERS


# --- what consumes the values --------------------------------------------------------------

TLS = ssl.create_default_context()


def build_request(url: str, timeout_s: float) -> None:
    """What urllib does with a mirror URL before it connects: the Request, the connection
    object, the request line and Host header, the host name as getaddrinfo encodes it."""
    request = urllib.request.Request(url)
    if request.type == "https":
        connection = http.client.HTTPSConnection(request.host, timeout=timeout_s, context=TLS)
    else:
        connection = http.client.HTTPConnection(request.host, timeout=timeout_s)
    connection.putrequest("GET", request.selector, skip_host=True, skip_accept_encoding=True)
    connection.putheader("Host", request.host)
    connection.host.encode("idna")
    assert 0 < connection.port < 65536, f"{url}: the connection would go to {connection.port}"
    connection.close()


def consume_fetch(fetch, workdir) -> None:
    with socket.socket() as sock:
        sock.settimeout(fetch.timeout_s)
    for mirror in fetch.mirrors:
        kind = mirror_kind(mirror)
        assert kind in ("url", "dir"), f"params accepted {mirror!r} but fetch would not"
        if kind == "url":
            build_request(f"{mirror.rstrip('/')}/{FIRST_FILE}", fetch.timeout_s)
        else:
            with contextlib.suppress(FmnistError):  # no such directory or file: what fetch reports
                fetch_file(mirror, FIRST_FILE, workdir / FIRST_FILE, fetch)


def learning_rates(train, train_size: int) -> list[float]:
    """The schedule's rates at the first, middle and last steps of the run."""
    check_batch_fits(train, train_size)
    total = train.epochs * len(batch_bounds(train_size, train.batch_size))
    return [learning_rate(train, step, total) for step in sorted({0, 1, total // 2, total - 1})]


def consume_models(params, rates: list[float]) -> None:
    np.random.RandomState(params.train.seed).permutation(3)
    seed_everything(params.train.seed)
    x, y = nd.array(np.full((2, 784), 0.5)), nd.array([0, 9])
    for model in (
        ScratchSoftmax.create(params.scratch, params.train),
        GluonSoftmax.create(params.gluon, params.train),
    ):
        for lr in rates:
            with autograd.record():
                loss, _ = model.loss_and_correct(x, y)
            loss.backward()
            model.step(lr, min(params.train.batch_size, TRAIN_SIZES[0]))
    nd.waitall()


def consume_hosts(gluon) -> None:
    """What the launcher does with the hosts before it starts anything: the host list
    checked against the workers, and each host's ssh command line, which exec must take."""
    check_hosts(gluon.workers, gluon.hosts)
    for host in gluon.hosts or ("w1",):  # a stand-in, so that ssh_config meets argv too
        argv = ssh_argv(host, gluon.ssh_config, "true")
        assert argv[argv.index("--") + 1] == host and not host.startswith("-")
        for arg in argv:
            assert b"\0" not in os.fsencode(arg), f"exec would refuse {arg!r}"


def consume(params, workdir) -> None:
    """Each consumer on its own: an FmnistError (what a stage reports in one line) ends
    that consumer only; any other exception fails the test."""

    def allowing_project_errors(consumer, *args):
        try:
            return consumer(*args)
        except FmnistError:
            return None

    allowing_project_errors(consume_fetch, params.fetch, workdir)
    for size in TRAIN_SIZES:
        split = params.preprocess
        allowing_project_errors(validation_rows, size, split.validation_size, split.seed)
    allowing_project_errors(per_worker_batch_size, params.train.batch_size, params.gluon.workers)
    allowing_project_errors(consume_hosts, params.gluon)
    assert parse_params(json.loads(params_json(params))) == params  # a dist_sync worker's
    _ = f"{params.fetch.timeout_s:g} {params.gluon.timeout_s:g}"  # as messages show them
    rates = [
        rate
        for size in TRAIN_SIZES
        for rate in allowing_project_errors(learning_rates, params.train, size) or []
    ]
    consume_models(params, rates or [params.train.lr])


def load_written(raw: dict, workdir):
    path = workdir / "params.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    try:
        return load_params(path)
    except ParamsError:
        return None


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("usable")


def test_the_base_params_are_accepted_and_consumed(workdir):
    params = load_written(BASE, workdir)
    assert params is not None
    consume(params, workdir)


EVERY_KEY = [(name, f.name) for name, cls in SECTIONS.items() for f in dataclasses.fields(cls)]


@pytest.mark.parametrize("section, key", EVERY_KEY)
def test_every_accepted_value_is_usable(section, key, workdir):
    @settings(**SETTINGS)
    @given(values_for(section, key))
    def check(value):
        raw = {name: dict(values) for name, values in BASE.items()}
        raw[section][key] = value
        params = load_written(raw, workdir)
        if params is not None:
            consume(params, workdir)

    check()


@settings(**{**SETTINGS, "max_examples": 300})  # many more ways to be odd; cheap to check
@given(MIRROR)
def test_every_accepted_mirror_is_usable(workdir, mirror):
    """One mirror at a time: one odd mirror in a list would hide the others."""
    raw = {name: dict(values) for name, values in BASE.items()}
    raw["fetch"]["mirrors"] = [mirror]
    params = load_written(raw, workdir)
    if params is not None:
        consume_fetch(params.fetch, workdir)


# Near the limits of every number at once: the schedule multiplies lr, epochs and batches.
LIMITS = st.fixed_dictionaries(
    {
        "batch_size": st.one_of(st.integers(1, 70_000), st.sampled_from([1, 300, 301, 60_000])),
        "epochs": st.one_of(st.integers(1, 1_000_000), st.just(1_000_000)),
        "lr": st.one_of(st.floats(1e-30, 1e30), st.sampled_from([1e-30, 1e30])),
        "lr_schedule": st.sampled_from(["constant", "cosine"]),
        "momentum": st.one_of(st.floats(0, 1, exclude_max=True), st.sampled_from([0.0, 1e-30])),
        "weight_decay": st.one_of(st.floats(1e-30, 1e30), st.sampled_from([0.0, 1e-30, 1e30])),
        "seed": st.one_of(st.integers(0, 2**32 - 1), st.sampled_from([0, 2**32 - 1])),
    }
)


@settings(**SETTINGS)
@given(LIMITS, st.sampled_from([1e-30, 1e30, 0.01]), st.sampled_from(["normal", "uniform"]))
def test_numbers_at_their_limits_together_are_usable(workdir, train, init_scale, init):
    raw = {name: dict(values) for name, values in BASE.items()}
    raw["train"] = train
    for model in ("scratch", "gluon"):
        raw[model].update(init=init, init_scale=init_scale)
    params = load_written(raw, workdir)
    if params is not None:
        consume(params, workdir)
