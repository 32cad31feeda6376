"""Load params.yaml into frozen dataclasses, validating every key before any work starts.

A bad value gives one FmnistError naming the key, what was found and what is allowed.
"""
import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

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
    timeout_s: float = 600.0  # a dist_sync job still running after this is stopped


@dataclass(frozen=True)
class Params:
    fetch: FetchParams
    train: TrainParams
    scratch: ScratchParams
    gluon: GluonParams


def _positive(v):
    return v > 0, "> 0"


def _at_least(low):
    return lambda v: (v >= low, f">= {low}")


def _unit_interval(v):
    return 0 <= v < 1, "in [0, 1)"


def _non_negative(v):
    return v >= 0, ">= 0"


def _one_of(*choices):
    return lambda v: (v in choices, "one of " + ", ".join(repr(c) for c in choices))


def _sha256_map(v):
    ok = set(v) == set(DATA_FILES) and all(
        isinstance(h, str) and len(h) == 64 and all(c in "0123456789abcdef" for c in h)
        for h in v.values())
    return ok, "a mapping of " + ", ".join(DATA_FILES) + " to 64 lowercase hex digits"


def _mirrors(v):
    def supported(m):
        return isinstance(m, str) and m and (
            "://" not in m or m.startswith(("http://", "https://")))
    ok = len(v) > 0 and all(supported(m) for m in v)
    return ok, "a non-empty list of local directories or http:// or https:// URLs"


def _hosts(v):
    return all(isinstance(h, str) and h for h in v), "a list of host names"


CHECKS: dict[tuple[str, str], Callable[[Any], tuple[bool, str]]] = {
    ("fetch", "mirrors"): _mirrors,
    ("fetch", "timeout_s"): _positive,
    ("fetch", "sha256"): _sha256_map,
    ("train", "batch_size"): _at_least(1),
    ("train", "epochs"): _at_least(1),
    ("train", "lr"): _positive,
    ("train", "lr_schedule"): _one_of("constant", "cosine"),
    ("train", "momentum"): _unit_interval,
    ("train", "weight_decay"): _non_negative,
    ("train", "seed"): _at_least(0),
    ("scratch", "init"): _one_of("normal", "uniform", "zeros"),
    ("scratch", "init_scale"): _non_negative,
    ("gluon", "init"): _one_of("normal", "uniform", "zeros"),
    ("gluon", "init_scale"): _non_negative,
    ("gluon", "kvstore"): _one_of("local", "dist_sync"),
    ("gluon", "workers"): _at_least(1),
    ("gluon", "hosts"): _hosts,
    ("gluon", "timeout_s"): _positive,
}

_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string",
               tuple: "a list", dict: "a mapping"}


def _coerce(key: str, value, kind):
    """Check the YAML value's type; ints are accepted where a float is expected."""
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is tuple and isinstance(value, list):
        value = tuple(value)
    ok = isinstance(value, kind) and not isinstance(value, bool)
    if kind is float and ok and not math.isfinite(value):
        ok = False
    if not ok:
        raise ParamsError(f"params: {key} must be {_TYPE_NAMES[kind]}, got {value!r}")
    return value


def _section(name: str, raw, cls):
    fields = {f.name: f.type for f in dataclasses.fields(cls)}
    if not isinstance(raw, dict):
        raise ParamsError(f"params: section '{name}' must be a mapping with keys "
                          + ", ".join(fields))
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ParamsError(f"params: unknown key {name}.{unknown[0]}; "
                          f"allowed keys in '{name}': " + ", ".join(fields))
    missing = [k for k in fields if k not in raw]
    if missing:
        raise ParamsError(f"params: missing key {name}.{missing[0]}")
    values = {}
    for key, kind in fields.items():
        full = f"{name}.{key}"
        value = _coerce(full, raw[key], kind)
        ok, allowed = CHECKS[(name, key)](value)
        if not ok:
            raise ParamsError(f"params: {full} must be {allowed}, got {raw[key]!r}")
        values[key] = value
    return cls(**values)


def parse_params(raw) -> Params:
    sections = {f.name: f.type for f in dataclasses.fields(Params)}
    if not isinstance(raw, dict):
        raise ParamsError("params: the file must be a mapping with sections "
                          + ", ".join(sections))
    unknown = sorted(set(raw) - set(sections))
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
