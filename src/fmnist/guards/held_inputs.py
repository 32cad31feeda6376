"""A stage's inputs held still while it runs.

DVC hashes a stage's deps and params after its command exits (treeverse/dvc #11058), so a
file or a param edited during a run would be recorded in dvc.lock as the one the outputs came
from. So before a stage commits its outputs (fmnist.guards.atomic), and once more as it ends,
it checks every input that dvc.yaml lists for it:
- a file or directory (and everything under it) must not have changed since this process
  started: its inode's change time (ctime), which a write, a rename or a chmod sets and no
  user can set back, must be older than the process;
- a params key must still hold the value it held when the stage started, read as DVC reads
  it (ruamel.yaml's safe loader): an edit to another key is not this stage's business.
If anything changed, the stage fails with one line naming it and keeps no output, so DVC
records nothing.
"""

import os
import time
from pathlib import Path

from . import FmnistError
from .bounded_files import read_bounded

# Set when fmnist is first imported, before a stage has read any input: fmnist/__init__.py
# imports this module first.
STARTED_NS = time.time_ns()


class Said(str):
    """A value's absence, shown without quotes."""

    __repr__ = str.__str__


UNREADABLE, MISSING = Said("unreadable"), Said("missing")


# Larger, or not a regular file: not a file of settings, and not read here (bounded_files);
# fmnist.params refuses it with its own line.
MAX_YAML_BYTES = 1 << 20


def read_yaml(path) -> object:
    from ruamel.yaml import YAML  # here: predict imports fmnist and never reads YAML

    return YAML(typ="safe").load(read_bounded(path, MAX_YAML_BYTES).decode("utf-8"))


def stage_inputs(stage: str, dvc_yaml="dvc.yaml") -> tuple[list[str], dict[tuple, object]]:
    """(dep paths, {(params file, key or None): value}) that dvc.yaml lists for the stage;
    nothing for a name that is not one of its stages (or without a dvc.yaml)."""
    try:
        spec = read_yaml(dvc_yaml)["stages"][stage]
    except (OSError, KeyError, TypeError):
        return [], {}
    params = {}
    for entry in spec.get("params") or []:
        pairs = entry.items() if isinstance(entry, dict) else [("params.yaml", [entry])]
        for file, keys in pairs:
            for key in keys or [None]:
                params[(file, key)] = None
    return list(spec.get("deps") or []), param_values(params)


def param_values(params) -> dict[tuple, object]:
    documents = {}
    for file in {file for file, _ in params}:
        try:
            documents[file] = read_yaml(file)
        except Exception:  # missing, unreadable, not YAML: no value a stage could have used
            documents[file] = UNREADABLE
    return {(file, key): lookup(documents[file], key) for file, key in params}


def lookup(document, key: str | None) -> object:
    if document is UNREADABLE:
        return UNREADABLE
    value = document
    for part in key.split(".") if key else []:
        if not isinstance(value, dict) or part not in value:
            return MISSING
        value = value[part]
    return value


def changed_paths(paths, since_ns: int) -> list[str]:
    """The paths, or files under them, that are missing or changed since since_ns."""
    changed = []
    for path in paths:
        try:
            if os.stat(path).st_ctime_ns > since_ns:
                changed.append(path)
                continue
        except OSError:
            changed.append(path)
            continue
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                inner = os.path.join(root, name)
                try:
                    if os.stat(inner).st_ctime_ns > since_ns:
                        changed.append(inner)
                except OSError:  # removed while we looked
                    changed.append(inner)
    return changed


class HeldInputs:
    def __init__(self, stage: str, dvc_yaml="dvc.yaml"):
        self.stage = stage
        self.paths, self.params = stage_inputs(stage, dvc_yaml)

    def changes(self) -> list[str]:
        """What changed, each said as a user would look for it."""
        said = [f"{path}" for path in changed_paths(self.paths, STARTED_NS)]
        now = param_values(self.params)
        for (file, key), before in self.params.items():
            if now[(file, key)] != before:
                said.append(
                    f"{file}'s {key or 'contents'} ({shorten(before)} when the stage started, "
                    f"{shorten(now[(file, key)])} now)"
                )
        return said

    def check(self) -> None:
        if changes := self.changes():
            named = ", ".join(changes[:3]) + (
                f" and {len(changes) - 3} more" if changes[3:] else ""
            )
            raise FmnistError(
                f"{named} changed while {self.stage} ran, so its outputs would not be what "
                "dvc.lock records: none were kept. Run `dvc repro` again once the edit is done."
            )


def shorten(value, limit=40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


held: HeldInputs | None = None  # the running stage's, set by hold()


def hold(stage: str, dvc_yaml="dvc.yaml") -> None:
    global held
    held = HeldInputs(stage, dvc_yaml) if Path(dvc_yaml).is_file() else None


def check() -> None:
    """Raise FmnistError if an input of the running stage changed; nothing outside a stage."""
    if held is not None:
        held.check()
