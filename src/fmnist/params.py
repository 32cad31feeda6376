"""Load params.yaml into frozen dataclasses, validating every key before any work starts.

A bad value gives one FmnistError naming the key, what was found and what is allowed.
"""
import dataclasses
import ipaddress
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
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
    mirrors: tuple       # tried in order: local directories or http(s) base URLs
    timeout_s: float     # per network read; a stalled server ends that mirror
    sha256: dict         # file name (without .gz) -> sha256 of the decompressed bytes


@dataclass(frozen=True)
class TrainParams:
    batch_size: int
    epochs: int
    lr: float
    lr_schedule: str     # "constant" or "cosine" (decays per batch to 0 over the run)
    momentum: float
    weight_decay: float
    seed: int


@dataclass(frozen=True)
class ScratchParams:
    init: str            # "normal" (N(0, init_scale^2)), "uniform" (U(-s, s)) or "zeros"
    init_scale: float


@dataclass(frozen=True)
class GluonParams:
    init: str
    init_scale: float
    kvstore: str         # "local" (one process) or "dist_sync" (MXNet parameter server)
    workers: int
    hosts: tuple         # hosts for dist_sync workers 1..; empty means loopback
    ssh_config: str      # ssh -F file for reaching the hosts; "" means ssh's own (~/.ssh/config)
    timeout_s: float     # a dist_sync job still running after this is stopped


@dataclass(frozen=True)
class Params:
    fetch: FetchParams
    train: TrainParams
    scratch: ScratchParams
    gluon: GluonParams


@dataclass(frozen=True)
class Rule:
    test: Callable[[Any], bool]   # called only on a value of the right type
    allowed: str                  # shown in every error about this key


def one_of(*choices) -> Rule:
    return Rule(lambda v: v in choices, "one of " + ", ".join(repr(c) for c in choices))


def at_least(low) -> Rule:
    return Rule(lambda v: v >= low, f">= {low}")


POSITIVE = Rule(lambda v: v > 0, "> 0")
NON_NEGATIVE = at_least(0)
INITS = one_of("normal", "uniform", "zeros")


def mirror_kind(mirror) -> str | None:
    """"url" for http(s)://host/..., "dir" for a local path, None for anything else
    (ftp://, file://, ...), which fetch does not accept."""
    if not isinstance(mirror, str) or not mirror:
        return None
    parts = urlsplit(mirror)
    if parts.scheme in ("http", "https") and parts.netloc:
        return "url"
    return "dir" if not parts.scheme else None


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
    return (len(name) <= 253 and all(HOST_LABEL.fullmatch(label) for label in labels)
            and not labels[-1].isdigit())  # 1.2.3.999 or 127.1: not a name, not an address


def _are_hosts(v) -> bool:
    return all(is_host(h) for h in v) and len({h.lower() for h in v}) == len(v)


def _is_sha256_map(v) -> bool:
    return set(v) == set(DATA_FILES) and all(
        isinstance(h, str) and len(h) == 64 and all(c in "0123456789abcdef" for c in h)
        for h in v.values())


RULES: dict[tuple[str, str], Rule] = {
    ("fetch", "mirrors"): Rule(lambda v: len(v) > 0 and all(mirror_kind(m) for m in v),
                               "a non-empty list of local directories and http:// or https:// "
                               "URLs (ftp://, file:// and other schemes are not accepted)"),
    ("fetch", "timeout_s"): POSITIVE,
    ("fetch", "sha256"): Rule(_is_sha256_map, "a mapping of " + ", ".join(DATA_FILES)
                              + " to 64 lowercase hex digits"),
    ("train", "batch_size"): at_least(1),
    ("train", "epochs"): at_least(1),
    ("train", "lr"): POSITIVE,
    ("train", "lr_schedule"): one_of("constant", "cosine"),
    ("train", "momentum"): Rule(lambda v: 0 <= v < 1, "in [0, 1)"),
    ("train", "weight_decay"): NON_NEGATIVE,
    ("train", "seed"): NON_NEGATIVE,
    ("scratch", "init"): INITS,
    ("scratch", "init_scale"): NON_NEGATIVE,
    ("gluon", "init"): INITS,
    ("gluon", "init_scale"): NON_NEGATIVE,
    ("gluon", "kvstore"): one_of("local", "dist_sync"),
    ("gluon", "workers"): at_least(1),
    ("gluon", "hosts"): Rule(_are_hosts, "a list of distinct host names (RFC 1123, such as "
                             "node-2 or node-2.example.org; ssh config aliases of that form "
                             "too) or IPv4 addresses; IPv6 addresses are not supported by "
                             "MXNet's parameter server"),
    ("gluon", "ssh_config"): Rule(lambda v: "\0" not in v,
                                  "'' (ssh's own ~/.ssh/config) or the path of an ssh config "
                                  "file, given to ssh as -F"),
    ("gluon", "timeout_s"): POSITIVE,
}

_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string",
               tuple: "a list", dict: "a mapping"}


def _coerce(value, kind):
    """The value as `kind`, or None when the YAML type is wrong (ints pass as floats)."""
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
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
    return "" if number is None else f"; YAML reads {raw} as text, write it as {number!r}"


def _value(key: str, raw, kind, rule: Rule):
    value = _coerce(raw, kind)
    if value is None:
        raise ParamsError(f"params: {key} must be {_TYPE_NAMES[kind]} ({rule.allowed}), "
                          f"got {raw!r}" + _yaml_number_hint(raw, kind))
    if not rule.test(value):
        raise ParamsError(f"params: {key} must be {rule.allowed}, got {raw!r}")
    return value


def _section(name: str, raw, cls):
    fields = {f.name: f.type for f in dataclasses.fields(cls)}
    if not isinstance(raw, dict):
        raise ParamsError(f"params: section '{name}' must be a mapping with keys "
                          + ", ".join(fields))
    unknown = sorted(str(k) for k in raw if k not in fields)
    if unknown:
        raise ParamsError(f"params: unknown key {name}.{unknown[0]}; "
                          f"allowed keys in '{name}': " + ", ".join(fields))
    missing = [k for k in fields if k not in raw]
    if missing:
        raise ParamsError(f"params: missing key {name}.{missing[0]}; "
                          f"'{name}' needs all of: " + ", ".join(fields))
    return cls(**{key: _value(f"{name}.{key}", raw[key], kind, RULES[(name, key)])
                  for key, kind in fields.items()})


def parse_params(raw) -> Params:
    sections = {f.name: f.type for f in dataclasses.fields(Params)}
    if not isinstance(raw, dict):
        raise ParamsError("params: the file must be a mapping with sections "
                          + ", ".join(sections))
    unknown = sorted(str(k) for k in raw if k not in sections)
    if unknown:
        raise ParamsError(f"params: unknown section '{unknown[0]}'; allowed sections: "
                          + ", ".join(sections))
    return Params(**{name: _section(name, raw.get(name), cls)
                     for name, cls in sections.items()})


def load_params(path="params.yaml") -> Params:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ParamsError(f"params: {path} not found; run from the project root") from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"params: {path} is not valid YAML: {exc}") from None
    return parse_params(raw)


def params_json(params: Params) -> str:
    """The resolved params as JSON, read back by parse_params(json.loads(...)): how a
    dist_sync launcher gives its params to workers on other hosts, which have their own
    params.yaml (or none that matches, for `dvc exp run -S` or a --temp experiment)."""
    return json.dumps(dataclasses.asdict(params), sort_keys=True)
