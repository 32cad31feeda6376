"""The DVC remote round trip: `make push`, lose the cache and the outputs, `make pull`."""

import hashlib
import shutil

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


def test_push_then_pull_restores_every_output(small_project, tmp_path):
    project, root = small_project, small_project.root
    project.dvc("repro")
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
