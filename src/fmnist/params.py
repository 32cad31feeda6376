"""Load params.yaml into frozen dataclasses, validating every key before any work starts.

A bad value gives one FmnistError naming the key, what was found and what is allowed.
"""

import dataclasses
import ipaddress
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from . import FmnistError

DATA_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


class ParamsError(FmnistError):
    pass


@dataclass(frozen=True)
class FetchParams:
    mirrors: tuple  # tried in order: local directories or http(s) base URLs
    timeout_s: float  # per network read; a stalled server ends that mirror
    sha256: dict  # file name (without .gz) -> sha256 of the decompressed bytes


@dataclass(frozen=True)
class TrainParams:
    batch_size: int
    epochs: int
    lr: float
    lr_schedule: str  # "constant" or "cosine" (decays per batch to 0 over the run)
    momentum: float
    weight_decay: float
    seed: int


@dataclass(frozen=True)
class ScratchParams:
    init: str  # "normal" (N(0, init_scale^2)), "uniform" (U(-s, s)) or "zeros"
    init_scale: float


@dataclass(frozen=True)
class GluonParams:
    init: str
    init_scale: float
    kvstore: str  # "local" (one process) or "dist_sync" (MXNet parameter server)
    workers: int
    hosts: tuple  # hosts for dist_sync workers 1..; empty means loopback
    ssh_config: str  # ssh -F file for reaching the hosts; "" means ssh's own (~/.ssh/config)
    timeout_s: float  # a dist_sync job still running after this is stopped


@dataclass(frozen=True)
class Params:
    fetch: FetchParams
    train: TrainParams
    scratch: ScratchParams
    gluon: GluonParams


@dataclass(frozen=True)
class Rule:
    test: Callable[[Any], bool]  # called only on a value of the right type
    allowed: str  # shown in every error about this key
    why: Callable[[Any], str] | None = None  # which part of a list is wrong, and how


def one_of(*choices) -> Rule:
    return Rule(lambda v: v in choices, "one of " + ", ".join(repr(c) for c in choices))


def at_least(low) -> Rule:
    return Rule(lambda v: v >= low, f">= {low}")


def within(low, high, shown: str, zero=False) -> Rule:
    """low <= v <= high (or v == 0 with zero); `shown` is the range as the user reads it."""
    return Rule(lambda v: low <= v <= high or (zero and v == 0), shown)


# MXNet reads every number it is given as a float32 and refuses one that float32 cannot hold
# as a normal number (beyond 3.4e38, or below 1.2e-38 and not 0): lr, momentum,
# weight_decay and init_scale stay well inside, with room for the products training forms.
MX_LOW, MX_HIGH = 1e-30, 1e30
POSITIVE = Rule(lambda v: v > 0, "> 0")
INITS = one_of("normal", "uniform", "zeros")
# A value that fits every consumer: sockets take at most ~9.2e9 s, numpy seeds < 2**32, and
# the cosine schedule turns epochs x batches into a float.
FETCH_TIMEOUT = within(0.001, 86400, "in [0.001, 86400] (seconds; 86400 is a day)")
SEED = within(0, 2**32 - 1, "in [0, 4294967295] (numpy's seed range)")
EPOCHS = within(1, 1_000_000, "in [1, 1000000]")

# What urllib and http.client can send a request to: an ASCII host name, IPv4 or [IPv6]
# address, an optional port, no user name (urllib would take it for the host), no query or
# fragment (the file names are appended to the path), nothing to percent-encode.
HOST_NAME = re.compile(r"[A-Za-z0-9_-]{1,63}(\.[A-Za-z0-9_-]{1,63})*\.?")
URL_CHARACTERS = re.compile(r"[!-~]+")  # printable ASCII, no space


def _http_url_problem(url: str, parts) -> str | None:
    if not URL_CHARACTERS.fullmatch(url):
        return (
            "has a space, a control or a non-ASCII character (percent-encode it; "
            "write a host name in punycode)"
        )
    if parts.username is not None or parts.password is not None:
        return "has a user name; fetch sends none"
    if "?" in url or "#" in url:
        return "has a query (?) or fragment (#); give the directory the files are in"
    host = parts.hostname
    if not host:
        return "has no host"
    if parts.netloc.startswith("["):
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return f"[{host}] is not an IPv6 address"
    elif not HOST_NAME.fullmatch(host):
        return f"host {host!r} is not a host name or an IP address"
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        return "has a port outside 1-65535"
    return None


def mirror_problem(mirror) -> str | None:
    """Why fetch cannot use this mirror, or None: a local directory, or an http(s) base URL
    that urllib can send a request to."""
    if not isinstance(mirror, str) or not mirror:
        return "not a non-empty string"
    try:
        parts = urlsplit(mirror)
    except ValueError as exc:  # e.g. an unclosed [ in the host
        return f"not a URL ({exc})"
    if not parts.scheme:
        return None
    if parts.scheme not in ("http", "https"):
        return f"{parts.scheme}:// is not accepted"
    return _http_url_problem(mirror, parts)


def mirror_kind(mirror) -> str | None:
    """ "url" for an http(s) base URL, "dir" for a local path, None for anything fetch does
    not accept (ftp://, file://, a malformed URL)."""
    if mirror_problem(mirror) is not None:
        return None
    return "url" if urlsplit(mirror).scheme else "dir"


def _first_bad_mirror(mirrors) -> str:
    if not mirrors:
        return "the list is empty"
    bad = next(m for m in mirrors if mirror_problem(m))
    return f"{bad!r}: {mirror_problem(bad)}"


HOST_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def is_host(name) -> bool:
    """An IPv4 address or an RFC 1123 host name (which an ssh config alias may also be).
    Never a leading '-', which ssh would read as an option (-oProxyCommand=... runs a
    command); no IPv6 address, because MXNet's parameter server (ps-lite) cannot bind one."""
    if not isinstance(name, str):
        return False
    try:
        ipaddress.IPv4Address(name)
        return True
    except ValueError:
        pass
    labels = name.split(".")
    return (
        len(name) <= 253
        and all(HOST_LABEL.fullmatch(label) for label in labels)
        and not labels[-1].isdigit()
    )  # 1.2.3.999 or 127.1: not a name, not an address


def _are_hosts(v) -> bool:
    return all(is_host(h) for h in v) and len({h.lower() for h in v}) == len(v)


def _is_sha256_map(v) -> bool:
    return set(v) == set(DATA_FILES) and all(
        isinstance(h, str) and len(h) == 64 and all(c in "0123456789abcdef" for c in h)
        for h in v.values()
    )


RULES: dict[tuple[str, str], Rule] = {
    ("fetch", "mirrors"): Rule(
        lambda v: len(v) > 0 and all(mirror_kind(m) for m in v),
        "a non-empty list of local directories and http:// or https:// "
        "URLs (ftp://, file:// and other schemes are not accepted)",
        why=_first_bad_mirror,
    ),
    ("fetch", "timeout_s"): FETCH_TIMEOUT,
    ("fetch", "sha256"): Rule(
        _is_sha256_map, "a mapping of " + ", ".join(DATA_FILES) + " to 64 lowercase hex digits"
    ),
    ("train", "batch_size"): at_least(1),
    ("train", "epochs"): EPOCHS,
    ("train", "lr"): within(MX_LOW, MX_HIGH, "in [1e-30, 1e30]"),
    ("train", "lr_schedule"): one_of("constant", "cosine"),
    ("train", "momentum"): Rule(lambda v: v == 0 or MX_LOW <= v < 1, "0 or in [1e-30, 1)"),
    ("train", "weight_decay"): within(MX_LOW, MX_HIGH, "0 or in [1e-30, 1e30]", zero=True),
    ("train", "seed"): SEED,
    ("scratch", "init"): INITS,
    # Not 0: MXNet's normal initializer refuses a standard deviation of 0.
    ("scratch", "init_scale"): within(MX_LOW, MX_HIGH, "in [1e-30, 1e30]"),
    ("gluon", "init"): INITS,
    ("gluon", "init_scale"): within(MX_LOW, MX_HIGH, "in [1e-30, 1e30]"),
    ("gluon", "kvstore"): one_of("local", "dist_sync"),
    ("gluon", "workers"): at_least(1),
    ("gluon", "hosts"): Rule(
        _are_hosts,
        "a list of distinct host names (RFC 1123, such as "
        "node-2 or node-2.example.org; ssh config aliases of that form "
        "too) or IPv4 addresses; IPv6 addresses are not supported by "
        "MXNet's parameter server",
    ),
    ("gluon", "ssh_config"): Rule(
        lambda v: "\0" not in v,
        "'' (ssh's own ~/.ssh/config) or the path of an ssh config file, given to ssh as -F",
    ),
    ("gluon", "timeout_s"): POSITIVE,
}

_TYPE_NAMES = {
    int: "an integer",
    float: "a number",
    str: "a string",
    tuple: "a list",
    dict: "a mapping",
}


def _coerce(value, kind):
    """The value as `kind`, or None when the YAML type is wrong (ints pass as floats)."""
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        try:
            value = float(value)
        except OverflowError:  # an integer beyond any float
            return None
    if kind is tuple and isinstance(value, list):
        value = tuple(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        return None
    if kind is float and not math.isfinite(value):
        return None
    return value


def _yaml_number_hint(raw, kind) -> str:
    """PyYAML reads 1e-3 (no dot) as a string; say so rather than leave the user puzzled."""
    try:
        number = float(raw) if kind is float and isinstance(raw, str) else None
    except ValueError:
        return ""
    if number is None or not math.isfinite(number):
        return ""
    return f"; YAML reads {raw} as text, write it as {number!r}"


def _value(key: str, raw, kind, rule: Rule):
    value = _coerce(raw, kind)
    if value is None:
        raise ParamsError(
            f"params: {key} must be {_TYPE_NAMES[kind]} ({rule.allowed}), "
            f"got {raw!r}" + _yaml_number_hint(raw, kind)
        )
    if not rule.test(value):
        detail = f" ({rule.why(value)})" if rule.why else ""
        raise ParamsError(f"params: {key} must be {rule.allowed}, got {raw!r}{detail}")
    return value


def _section(name: str, raw, cls):
    fields = {f.name: f.type for f in dataclasses.fields(cls)}
    if not isinstance(raw, dict):
        raise ParamsError(
            f"params: section '{name}' must be a mapping with keys " + ", ".join(fields)
        )
    unknown = sorted(str(k) for k in raw if k not in fields)
    if unknown:
        raise ParamsError(
            f"params: unknown key {name}.{unknown[0]}; "
            f"allowed keys in '{name}': " + ", ".join(fields)
        )
    missing = [k for k in fields if k not in raw]
    if missing:
        raise ParamsError(
            f"params: missing key {name}.{missing[0]}; '{name}' needs all of: " + ", ".join(fields)
        )
    return cls(
        **{
            key: _value(f"{name}.{key}", raw[key], kind, RULES[(name, key)])
            for key, kind in fields.items()
        }
    )


def parse_params(raw) -> Params:
    sections = {f.name: f.type for f in dataclasses.fields(Params)}
    if not isinstance(raw, dict):
        raise ParamsError("params: the file must be a mapping with sections " + ", ".join(sections))
    unknown = sorted(str(k) for k in raw if k not in sections)
    if unknown:
        raise ParamsError(
            f"params: unknown section '{unknown[0]}'; allowed sections: " + ", ".join(sections)
        )
    return Params(**{name: _section(name, raw.get(name), cls) for name, cls in sections.items()})


def load_params(path="params.yaml") -> Params:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_bytes())  # bytes: PyYAML itself reports bad UTF-8
    except FileNotFoundError:
        raise ParamsError(f"params: {path} not found; run from the project root") from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"params: {path} is not valid YAML: {exc}") from None
    except (ValueError, RecursionError) as exc:  # PyYAML lets these through
        # (a date like 2001-02-30, an integer of over 4300 digits; Python's advice on the
        # latter, after the ";", is for programmers)
        why = "it is nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise ParamsError(f"params: {path} cannot be read ({why.split(';')[0]})") from None
    return parse_params(raw)


def params_json(params: Params) -> str:
    """The resolved params as JSON, read back by parse_params(json.loads(...)): how a
    dist_sync launcher gives its params to workers on other hosts, which have their own
    params.yaml (or none that matches, for `dvc exp run -S` or a --temp experiment)."""
    return json.dumps(dataclasses.asdict(params), sort_keys=True)
