"""params.yaml, read exactly as DVC reads it and checked against one declared schema before
any work starts.

DVC 3.67 reads params.yaml with ruamel.yaml's safe loader (YAML 1.2: `010` is 10, `1e-3`
is 0.001, `off` is text); PyYAML (YAML 1.1) reads such scalars otherwise, and a stage would
train one value while dvc.lock records another. The dataclasses below are the schema, which
pydantic enforces in parse_params (made directly, as tests do, they are not checked);
params.schema.json is exported from them for editors (`python -m fmnist.params --schema`).
Any fault is one line: the key, its value (shortened: YAML aliases can nest a 2 KB file into
millions of items) and what is allowed.
"""

import dataclasses
import datetime
import ipaddress
import json
import re
import reprlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, get_type_hints
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    Strict,
    TypeAdapter,
    ValidationError,
    with_config,
)
from pydantic.fields import FieldInfo
from ruamel.yaml import YAML, YAMLError
from ruamel.yaml.compat import ordereddict
from ruamel.yaml.error import MarkedYAMLError
from typing_extensions import TypedDict

from . import FmnistError
from .guards.bounded_files import NotRegularFile, TooLarge, read_bounded
from .guards.stage_runner import run_stage, shown

DATA_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
DATA_FILES += ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
SCHEMA_FILE = "params.schema.json"


class ParamsError(FmnistError):
    pass


def checked(problem):
    """A validator from a function that says why a value is refused, or returns None."""

    def check(value):
        if (why := problem(value)) is not None:
            raise ValueError(why)
        return value

    return AfterValidator(check)


def number(allowed: str, *more, **bounds):  # ints pass as floats, booleans and text do not
    return Annotated[
        float, Strict(), Field(allow_inf_nan=False, description=allowed, **bounds), *more
    ]


def integer(allowed: str, **bounds):
    return Annotated[int, Strict(), Field(description=allowed, **bounds)]


def choice(*options):
    return Annotated[Literal[options], Field(description="one of " + ", ".join(map(repr, options)))]


# What urllib and http.client can send a request to: an ASCII host name, IPv4 or [IPv6]
# address, an optional port, no user name (urllib would take it for the host), no query or
# fragment (the file names are appended to the path), nothing to percent-encode.
HOST_NAME = re.compile(r"[A-Za-z0-9_-]{1,63}(\.[A-Za-z0-9_-]{1,63})*\.?")


def mirror_problem(mirror) -> str | None:
    """Why fetch cannot use this mirror (a local directory or an http(s) base URL), or None."""
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
    if not re.fullmatch(r"[!-~]+", mirror):  # printable ASCII, no space
        return "has a space, a control or a non-ASCII character (percent-encode it; write a host name in punycode)"  # noqa: E501
    if parts.username is not None or parts.password is not None:
        return "has a user name; fetch sends none"
    if "?" in mirror or "#" in mirror:
        return "has a query (?) or fragment (#); give the directory the files are in"
    if not (host := parts.hostname):
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
    except ValueError:  # not a number, or beyond 65535
        port = 0
    return "has a port outside 1-65535" if port == 0 else None


def mirror_kind(mirror) -> str | None:
    """ "url" for an http(s) base URL, "dir" for a local path, None if fetch refuses it."""
    if mirror_problem(mirror) is not None:
        return None
    return "url" if urlsplit(mirror).scheme else "dir"


def is_host(name) -> bool:
    """An IPv4 address or an RFC 1123 host name (which an ssh config alias may also be).
    Never a leading '-', which ssh would read as an option (-oProxyCommand=... runs a
    command); no IPv6 address, because MXNet's parameter server (ps-lite) cannot bind one."""
    if not isinstance(name, str):
        return False
    try:
        return bool(ipaddress.IPv4Address(name))
    except ValueError:
        labels = name.split(".")  # 1.2.3.999 or 127.1 (last label all digits): not a name
    label = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
    return len(name) <= 253 and all(map(label.fullmatch, labels)) and not labels[-1].isdigit()


def _repeated(hosts) -> str | None:
    seen = [h.lower() for h in hosts]
    return next((f"{h!r} is listed twice" for i, h in enumerate(seen) if h in seen[:i]), None)


# MXNet reads every number as a float32 and refuses one that float32 cannot hold as a normal
# number (beyond 3.4e38, or below 1.2e-38 and not 0): [1e-30, 1e30] leaves room for products.
MX_RANGE = dict(ge=1e-30, le=1e30)
ZERO_OR_NORMAL = checked(lambda v: None if v == 0 or v >= 1e-30 else "float32 cannot hold it")
SCALE = number("a number in [1e-30, 1e30]", **MX_RANGE)  # not 0: MXNet's normal init refuses it
INIT = choice("normal", "uniform", "zeros")
Mirror = Annotated[str, Strict(), checked(lambda m: (why := mirror_problem(m)) and f"{m!r}: {why}")]
Host = Annotated[str, Strict(), checked(lambda h: None if is_host(h) else f"not a host: {h!r}")]
Hex64 = Annotated[str, Strict(), Field(pattern="^[0-9a-f]{64}$")]
Sha256 = with_config(ConfigDict(extra="forbid"))(
    TypedDict("Sha256", dict.fromkeys(DATA_FILES, Hex64))
)
SECTION = ConfigDict(extra="forbid")


@with_config(SECTION)
@dataclass(frozen=True)
class FetchParams:
    mirrors: Annotated[  # tried in order
        tuple[Mirror, ...],
        Field(
            min_length=1,
            description="a non-empty list of local directories and http:// or "
            "https:// URLs (ftp://, file:// and other schemes are not accepted)",
        ),
    ]
    timeout_s: number("in [0.001, 86400] (seconds; 86400 is a day)", ge=0.001, le=86400)
    sha256: Annotated[  # of the decompressed files
        Sha256,
        Field(description=f"a mapping of {', '.join(DATA_FILES)} to 64 lowercase hex digits"),
    ]


@with_config(SECTION)
@dataclass(frozen=True)
class PreprocessParams:
    # Held out of Zalando's 60,000 training images: every choice (epochs, lr, the tuned set)
    # is made on it, and the test set is left to evaluate.
    validation_size: integer("an integer >= 1 (and below the number of training images)", ge=1)
    seed: integer("an integer in [0, 4294967295] (numpy's seed range)", ge=0, le=2**32 - 1)


@with_config(SECTION)
@dataclass(frozen=True)
class TrainParams:
    batch_size: integer("an integer >= 1", ge=1)
    epochs: integer("an integer in [1, 1000000]", ge=1, le=1_000_000)
    lr: number("a number in [1e-30, 1e30]", **MX_RANGE)
    lr_schedule: choice("constant", "cosine")  # cosine: per batch, down to 0 at the end
    momentum: number("0 or a number in [1e-30, 1)", ZERO_OR_NORMAL, ge=0, lt=1)
    weight_decay: number("0 or a number in [1e-30, 1e30]", ZERO_OR_NORMAL, ge=0, le=1e30)
    seed: integer("an integer in [0, 4294967295] (numpy's seed range)", ge=0, le=2**32 - 1)


@with_config(SECTION)
@dataclass(frozen=True)
class ScratchParams:
    init: INIT  # normal: N(0, init_scale^2), uniform: U(-init_scale, init_scale)
    init_scale: SCALE


@with_config(SECTION)
@dataclass(frozen=True)
class GluonParams:
    init: INIT
    init_scale: SCALE
    kvstore: choice("local", "dist_sync")  # one process, or MXNet's parameter server
    workers: integer("an integer >= 1", ge=1)
    hosts: Annotated[  # for dist_sync workers 1..; empty means loopback
        tuple[Host, ...],
        checked(_repeated),
        Field(
            description="a list of distinct host names (RFC 1123, such as node-2 or "
            "node-2.example.org; ssh config aliases of that form too) or IPv4 addresses; "
            "IPv6 addresses are not supported by MXNet's parameter server"
        ),
    ]
    ssh_config: Annotated[  # exec refuses a NUL
        str,
        Strict(),
        Field(
            pattern="^[^\\x00]*$",
            description="'' (ssh's own ~/.ssh/config) "
            "or the path of an ssh config file, given to ssh as -F",
        ),
    ]
    timeout_s: number("a number > 0 (seconds)", gt=0)  # a dist_sync job running longer is stopped


@with_config(SECTION)
@dataclass(frozen=True)
class Params:
    fetch: FetchParams
    preprocess: PreprocessParams
    train: TrainParams
    scratch: ScratchParams
    gluon: GluonParams


ADAPTER = TypeAdapter(Params)
SHORT = reprlib.Repr()  # at most ~200 characters, whatever the size or nesting of the value
SHORT.maxlevel, SHORT.maxstring, SHORT.maxother, SHORT.maxlong = 3, 60, 60, 40
UNKNOWN = ("unexpected_keyword_argument", "extra_forbidden", "invalid_key")
MISSING = ("missing_argument", "missing")
SECTIONS = {f.name: f.type for f in dataclasses.fields(Params)}


def short_repr(value) -> str:
    text = SHORT.repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def keys(cls) -> str:
    return ", ".join(f.name for f in dataclasses.fields(cls))


def one_line(error: dict, raw: dict) -> str:
    """What a pydantic error says: about a section (a loc of 1) or a key (2 or more)."""
    kind, loc = error["type"], error["loc"]
    name = ".".join(p if isinstance(p, str) else short_repr(p) for p in loc[:2])
    owner, cls = ("the file", Params) if len(loc) == 1 else (f"'{loc[0]}'", SECTIONS[loc[0]])
    if kind in UNKNOWN and len(loc) <= 2:
        return f"unknown key {name}; allowed keys in {owner}: {keys(cls)}"
    if kind in MISSING and len(loc) <= 2:
        return f"missing key {name}; {owner} needs all of: {keys(cls)}"
    if len(loc) == 1:
        got = short_repr(raw[name])
        return f"{name} must be a mapping with keys {keys(SECTIONS[name])}, got {got}"
    why = f" ({shown(str(error['ctx']['error']))})" if kind == "value_error" else ""
    hint = get_type_hints(cls, include_extras=True)[loc[1]]
    allowed = next(m.description for m in hint.__metadata__ if isinstance(m, FieldInfo))
    return f"{name} must be {allowed}, got {short_repr(raw[loc[0]][loc[1]])}{why}"


def parse_params(raw) -> Params:
    if not isinstance(raw, dict):
        raise ParamsError(f"params: the file must be a mapping with sections {keys(Params)}")
    if why := meaningless_value(raw):
        raise ParamsError(f"params: {shown(why)}")
    try:
        return ADAPTER.validate_python(raw)
    except ValidationError as exc:  # the first error; an unknown key first (a typo is both)
        errors = exc.errors(include_url=False)
        first = min(errors, key=lambda e: (e["type"] not in UNKNOWN, e["type"] not in MISSING))
        raise ParamsError("params: " + one_line(first, raw)) from None


def _position(text: str | bytes, offset: int) -> str:
    """LINE:COL (from 1) of a character or byte offset into text."""
    newline = "\n" if isinstance(text, str) else b"\n"
    return f"{text.count(newline, 0, offset) + 1}:{offset - text.rfind(newline, 0, offset)}"


def yaml_problem(exc: Exception, text: str) -> tuple[str | None, str]:
    """Where (LINE:COL, if known) and what the YAML loader refused."""
    if isinstance(exc, MarkedYAMLError) and (mark := exc.problem_mark or exc.context_mark):
        what = exc.problem or exc.context
        tab = " (a tab: indent with spaces)" if "'\\t'" in what else ""
        return f"{mark.line + 1}:{mark.column + 1}", shown(what) + tab
    if isinstance(exc, YAMLError) and hasattr(exc, "position"):  # ruamel's ReaderError
        return _position(text, exc.position), f"{exc.reason}: character #x{exc.character:04x}"
    if isinstance(exc, RecursionError):
        return None, "it is nested too deeply"
    return None, shown(str(exc).split(";")[0])  # a date like 2001-02-30, an int of 5000 digits


# params.yaml is 2.5 KB; one larger than this is not a file of settings, and is refused
# before it is read (a symlink to /dev/zero grew memory until MemoryError).
MAX_PARAMS_BYTES = 1 << 20


def read_params_bytes(path: Path) -> bytes:
    """The bytes of a regular file of bounded size (fmnist.guards.bounded_files)."""
    try:
        return read_bounded(path, MAX_PARAMS_BYTES)
    except FileNotFoundError:
        raise ParamsError(f"params: {path} not found; run from the project root") from None
    except NotRegularFile as exc:
        raise ParamsError(
            f"params: {path} is {exc.kind}, not a regular file; make it a file of settings"
        ) from None
    except TooLarge as exc:
        raise ParamsError(
            f"params: {path} holds {exc.size} bytes, more than a file of settings (at most "
            f"{MAX_PARAMS_BYTES}); give the project's params.yaml"
        ) from None


# What YAML gives that a setting can mean: DVC records these as they are. !!set (unordered),
# !!binary (bytes), !!omap and !!pairs, timestamps: refused, whatever key they are under.
PLAIN = (dict, list, str, int, float, bool, type(None))
TAG_NAMES = {  # type: (what it is, what to write instead)
    set: ("a !!set (unordered)", "write a list"),
    bytes: ("!!binary data", "write text"),
    tuple: ("a !!pairs entry", "write a mapping"),
    ordereddict: ("an !!omap", "write a plain mapping"),
    datetime.date: ("a timestamp", "write a number, or text in quotes"),
    datetime.datetime: ("a timestamp", "write a number, or text in quotes"),
}


def meaningless_value(document) -> str | None:
    """'KEY: what' for the first value under a YAML tag without meaning in a setting.
    Each container once: aliases can nest a 2 KB file into millions of items."""
    stack, seen = [("", document)], set()
    while stack:
        where, value = stack.pop()
        if type(value) not in PLAIN:
            unknown = (f"a YAML {type(value).__name__}", "write a plain value")
            what, todo = TAG_NAMES.get(type(value), unknown)
            return f"{where or 'the file'}: {what} has no meaning in a setting; {todo}"
        if isinstance(value, (dict, list)) and id(value) not in seen:
            seen.add(id(value))
            items = value.items() if isinstance(value, dict) else enumerate(value)
            stack.extend((child_name(where, key), item) for key, item in reversed(list(items)))
    return None


def child_name(where: str, key) -> str:
    if isinstance(key, str):
        return f"{where}.{key}" if where else key
    return f"{where}[{short_repr(key)}]"


def read_yaml(path) -> object:
    """params.yaml as DVC 3.67 reads it (dvc.utils.serialize.load_yaml): UTF-8 text with
    universal newlines, ruamel.yaml's safe loader, an empty document as {}; read only from
    a regular file of at most MAX_PARAMS_BYTES."""
    path = Path(path)
    data = read_params_bytes(path)
    try:
        text = data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError as exc:
        raise ParamsError(
            f"{path}:{_position(data, exc.start)}: byte 0x{data[exc.start]:02x} is not UTF-8 "
            "(save the file as UTF-8)"
        ) from None
    try:
        document = YAML(typ="safe").load(text) or {}
    except (YAMLError, ValueError, RecursionError) as exc:
        where, what = yaml_problem(exc, text)
        raise ParamsError(f"{path}:{where}: {what}" if where else f"{path}: {what}") from None
    return document


def load_params(path="params.yaml") -> Params:
    return parse_params(read_yaml(path))


def params_json(params: Params) -> str:
    """The resolved params as JSON, read back by parse_params(json.loads(...)): how a
    dist_sync launcher gives its params to workers on other hosts, which have their own
    params.yaml (or none that matches, for `dvc exp run -S` or a --temp experiment)."""
    return json.dumps(dataclasses.asdict(params), sort_keys=True)


def json_schema() -> str:
    """The text of params.schema.json: the models above, as JSON Schema."""
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **ADAPTER.json_schema()}
    return json.dumps(schema, indent=2) + "\n"


def main() -> None:
    """`python -m fmnist.params` checks params.yaml; with --schema it writes params.schema.json."""
    if sys.argv[1:] == ["--schema"]:
        Path(SCHEMA_FILE).write_text(json_schema())
        print(f"wrote {SCHEMA_FILE} from fmnist/params.py")
    else:
        load_params()
        print("params.yaml is valid")


if __name__ == "__main__":
    run_stage("params", main)
