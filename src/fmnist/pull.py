"""`make pull`: `dvc pull`, then every cached output in the workspace checked against the md5
that dvc.lock records, and one line saying what went wrong instead of DVC's "Missing cache
files: md5: ..." and "Checkout failed".

The shipped remote has `verify = true` (.dvc/config): DVC re-hashes what it downloads and
drops an object whose bytes do not match its name. A copy that still reaches the workspace
with other bytes (a cache poisoned earlier, a remote DVC trusted) is removed here, so that
`make pull` never ends with exit 0 and a file that dvc.lock does not describe.
"""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML

from .guards.stage_runner import shown

CACHE = Path(".dvc/cache/files/md5")
# What DVC 3.67 prints when the remote lacks files that this commit's dvc.lock names.
MISSING_SIGNS = ("Missing cache files", "Checkout failed")
CORRUPT_MARK = "fmnist-pull: corrupt object "
# `dvc pull` as the CLI runs it, but DVC's debug line for an object whose bytes do not match
# its name (which DVC then deletes, and reports only as "missing") is passed on, marked.
DVC_PULL = f"""
import logging, sys
from dvc.cli import main

class Corrupt(logging.Handler):
    def emit(self, record):
        if record.msg.startswith("corrupted cache file"):
            print({CORRUPT_MARK!r} + str(record.args[0]), file=sys.stderr, flush=True)

log = logging.getLogger("dvc_data.hashfile.db")  # it logs nothing above debug
log.setLevel(logging.DEBUG)
log.propagate = False
log.addHandler(Corrupt())
sys.exit(main(["pull"]))
"""


def default_remote() -> tuple[str, str]:
    """(name, URL) of the default remote, a relative directory resolved as DVC does."""
    from dvc.repo import Repo

    config = Repo(".").config
    name = config["core"].get("remote", "")
    return name, config["remote"].get(name, {}).get("url", "(none set)")


def md5_of(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def cached_outputs(lock="dvc.lock") -> dict[str, str]:
    """{output path: md5} of every output DVC caches (a directory's md5 ends in .dir)."""
    stages = YAML(typ="safe").load(Path(lock).read_text())["stages"]
    return {
        out["path"]: out["md5"]
        for stage in stages.values()
        for out in stage.get("outs", [])
        if "md5" in out and out.get("cache", True)
    }


def listing(oid: str) -> list[dict] | None:
    """A directory's entries from the local cache, if its listing is there and whole."""
    path = CACHE / oid[:2] / oid[2:]
    try:
        if md5_of(path) == oid.removesuffix(".dir"):
            return json.loads(path.read_text())
    except (OSError, ValueError):
        pass
    return None


def expected_files(outputs: dict[str, str]) -> dict[str, str]:
    """{file path: md5}: the file outputs, and the files of each directory whose listing
    the cache holds (without one, DVC could not have placed the directory either)."""
    files = {}
    for path, oid in outputs.items():
        if not oid.endswith(".dir"):
            files[path] = oid
            continue
        for entry in listing(oid) or []:
            files[f"{path}/{entry['relpath']}"] = entry["md5"]
    return files


def wrong_files(files: dict[str, str]) -> list[str]:
    """The files present with other bytes than recorded. Each is removed, and so is the
    cache's object it came from if that object's bytes do not match its name either."""
    wrong = []
    for path, md5 in files.items():
        if Path(path).is_file() and md5_of(Path(path)) != md5:
            Path(path).unlink()
            cached = CACHE / md5[:2] / md5[2:]
            if cached.is_file() and md5_of(cached) != md5:
                cached.unlink()
            wrong.append(path)
    return wrong


def corrupted_on_pull(marked: list[str], files: dict[str, str], outputs: dict) -> list[str]:
    """The outputs whose objects DVC found corrupt (each marked line ends in its path)."""
    oids = {"".join(Path(line).parts[-2:]) for line in marked}
    by_oid = {md5: path for path, md5 in {**outputs, **files}.items()}
    return sorted({by_oid.get(oid, f"the object {oid}") for oid in oids})


def corrupt_message(paths: list[str], name: str) -> str:
    return (
        f"make pull: the DVC remote '{name}' gave a corrupt copy of {named(paths)}: its "
        "bytes do not have the md5 that dvc.lock records, so it was not placed in the "
        "workspace. Push a good copy from a machine that has one (make push), or recompute "
        "it with `make run`"
    )


def placed_corrupt_message(paths: list[str]) -> str:
    return (
        f"make pull: DVC placed a corrupt copy of {named(paths)} (other bytes than the md5 "
        "that dvc.lock records, from a corrupt object in .dvc/cache or on the remote): it "
        "was removed, with the cache's copy. Run `make pull` again, or `make run` to "
        "recompute it"
    )


def named(paths: list[str]) -> str:
    return ", ".join(shown(p) for p in paths)


def missing_outputs_message(name: str, url: str) -> str:
    return (
        f"make pull: the DVC remote '{name}' ({url}) does not hold this commit's data and "
        "models; recompute them with `make run`, or point the remote at shared storage "
        f"that holds them: dvc remote modify --local {name} url DIR_OR_URL"
    )


def main() -> int:
    pulled = subprocess.run([sys.executable, "-c", DVC_PULL], capture_output=True, text=True)
    said = pulled.stderr.splitlines(keepends=True)
    marked = [
        line.removeprefix(CORRUPT_MARK).strip() for line in said if line.startswith(CORRUPT_MARK)
    ]
    outputs = cached_outputs()
    files = expected_files(outputs)
    on_remote, placed = corrupted_on_pull(marked, files, outputs), wrong_files(files)
    if on_remote:
        print(corrupt_message(on_remote, default_remote()[0]), file=sys.stderr)
    if placed:
        print(placed_corrupt_message(placed), file=sys.stderr)
    if on_remote or placed:
        return 1
    if pulled.returncode != 0 and any(sign in pulled.stderr for sign in MISSING_SIGNS):
        print(missing_outputs_message(*default_remote()), file=sys.stderr)
        return 1
    sys.stdout.write(pulled.stdout)
    sys.stderr.write("".join(line for line in said if not line.startswith(CORRUPT_MARK)))
    return pulled.returncode


if __name__ == "__main__":
    sys.exit(main())
