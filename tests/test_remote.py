"""The DVC remote round trip: `make push`, lose the cache and the outputs, `make pull`; and
a poisoned remote or cache: nothing that differs from dvc.lock reaches the workspace."""

import hashlib
import json
import os
import shutil
from pathlib import Path

from fmnist.pull import cached_outputs
from stage_faults import PULL_FAULTS

# The outputs DVC caches (and pushes); the `cache: false` ones (metrics, DVCLive histories,
# plots) are committed to git instead and come back with a git checkout.
CACHED_OUTPUTS = (
    "data/raw",
    "data/prepared",
    "models/scratch.params",
    "models/gluon.params",
    "models/gluon-export",
)
GIT_OUTPUTS = ("metrics", "dvclive", "plots")


def digests(root, names) -> dict:
    files = [
        p for name in names for p in sorted((root / name).rglob("*")) + [root / name] if p.is_file()
    ]
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def make(project, target):
    # -o: use the venv the tests run in (first on PATH), do not build one inside the copy.
    return project.run("make", "-o", ".venv/.installed", target)


def test_push_then_pull_restores_every_output(reproduced_project, tmp_path):
    project, root = reproduced_project, reproduced_project.root
    project.commit("outputs")
    remote = tmp_path / "remote"
    project.dvc("remote", "modify", "--local", "storage", "url", str(remote))  # not the default
    before = digests(root, CACHED_OUTPUTS + GIT_OUTPUTS)

    make(project, "push")
    assert list((remote / "files" / "md5").rglob("*")), "nothing reached the remote"
    shutil.rmtree(root / ".dvc" / "cache")
    for name in CACHED_OUTPUTS + GIT_OUTPUTS:
        path = root / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    assert "deleted" in project.dvc("status").stdout

    project.git("checkout", "--", *GIT_OUTPUTS)
    make(project, "pull")
    assert digests(root, CACHED_OUTPUTS + GIT_OUTPUTS) == before
    assert "Data and pipelines are up to date" in project.dvc("status").stdout


def poison(path: Path) -> None:
    """Another valid file of the same size: one byte of the payload flipped, mtime kept."""
    times = path.stat()
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    os.utime(path, ns=(times.st_atime_ns, times.st_mtime_ns))


def object_of(root, md5: str) -> Path:
    return root / "files" / "md5" / md5[:2] / md5[2:]


def lose_cache_and_outputs(root) -> None:
    shutil.rmtree(root / ".dvc" / "cache", ignore_errors=True)
    for name in CACHED_OUTPUTS:
        path = root / name
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)


def no_file_differs(root, before: dict) -> bool:
    now = digests(root, CACHED_OUTPUTS)
    return all(before[path] == digest for path, digest in now.items())


def test_a_poisoned_remote_or_cache_never_reaches_the_workspace(reproduced_project, tmp_path):
    project, root = reproduced_project, reproduced_project.root
    project.commit("outputs")
    remote = tmp_path / "remote"
    project.dvc("remote", "modify", "--local", "storage", "url", str(remote))
    before = digests(root, CACHED_OUTPUTS)
    make(project, "push")
    lock = cached_outputs(root / "dvc.lock")
    listing = json.loads(object_of(root / ".dvc/cache", lock["data/prepared"]).read_text())
    (labels,) = [e["md5"] for e in listing if e["relpath"] == "test_y.npy"]
    poisoned = {"models/scratch.params": lock["models/scratch.params"], "data/prepared": labels}
    good = {name: object_of(remote, md5).read_bytes() for name, md5 in poisoned.items()}
    for md5 in poisoned.values():
        poison(object_of(remote, md5))

    lose_cache_and_outputs(root)
    pulled = make_failing(project, "pull")
    assert pulled == PULL_FAULTS["corrupt remote"].message()
    assert no_file_differs(root, before)
    lose_cache_and_outputs(root)
    assert project.dvc("pull", check=False).returncode != 0  # the shipped config verifies
    assert no_file_differs(root, before)

    # The remote mended, the cache poisoned: DVC itself places the bad copy and exits 0.
    for name, md5 in poisoned.items():
        object_of(remote, md5).write_bytes(good[name])
    make(project, "pull")
    assert digests(root, CACHED_OUTPUTS) == before
    cached = object_of(root / ".dvc/cache", lock["models/scratch.params"])
    poison(cached)
    (root / "models/scratch.params").unlink()
    pulled = make_failing(project, "pull")
    assert pulled == PULL_FAULTS["corrupt cache"].message()
    assert not (root / "models/scratch.params").exists() and not cached.exists()
    make(project, "pull")
    assert digests(root, CACHED_OUTPUTS) == before

    object_of(remote, lock["models/scratch.params"]).unlink()
    cached.unlink()
    (root / "models/scratch.params").unlink()
    pulled = make_failing(project, "pull")
    assert pulled == PULL_FAULTS["missing"].message(remote=remote)


def make_failing(project, target) -> str:
    """The one line `make TARGET` printed for its failure."""
    result = project.run("make", "-o", ".venv/.installed", target, check=False)
    assert result.returncode != 0, result.stderr
    (line,) = [x for x in result.stderr.splitlines() if x.startswith(f"make {target}:")]
    return line
