"""The venv is exact and checked: pyproject.toml pins what the project uses, uv.lock pins
every package they pull in (the indirect ones too, since a newer wheel can change output
bytes) for Python 3.11 and 3.12, with a sha256 for every file, and an install refuses a
wheel whose hash differs from the lock."""

import os
import re
import shutil
import subprocess
import sys
import tomllib

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from conftest import PROJECT, VENV_BIN

UV = str(VENV_BIN / "uv")
PYPROJECT = tomllib.loads((PROJECT / "pyproject.toml").read_text())
LOCK = tomllib.loads((PROJECT / "uv.lock").read_text())
PINNED = [
    Requirement(line)
    for line in PYPROJECT["project"]["dependencies"] + PYPROJECT["dependency-groups"]["dev"]
]


def on(python: str) -> dict:
    return {"python_version": python, "python_full_version": f"{python}.0"}


def locked_for(python: str) -> dict[str, str]:
    """name -> the version uv.lock installs on this Python. A package locked at two versions
    is told apart by the marker of the project's dependency on it."""
    versions: dict[str, list[str]] = {}
    for package in LOCK["package"]:
        versions.setdefault(package["name"], []).append(package["version"])
    (project,) = [p for p in LOCK["package"] if p["name"] == "fmnist"]
    for dependency in project["dependencies"]:
        if "version" in dependency and Marker(dependency["marker"]).evaluate(on(python)):
            versions[dependency["name"]] = [dependency["version"]]
    assert all(len(found) == 1 for found in versions.values()), versions
    return {name: found for name, (found,) in versions.items()}


def test_pyproject_pins_every_package_exactly():
    loose = [str(r) for r in PINNED if [s.operator for s in r.specifier] != ["=="]]
    assert not loose, f"pin these with ==: {loose}"


def test_the_lock_is_what_the_pins_resolve_to():
    result = subprocess.run(
        [UV, "lock", "--check", "--offline"], cwd=PROJECT, capture_output=True, text=True
    )
    assert result.returncode == 0, f"run `make lock`:\n{result.stderr}"


@pytest.mark.parametrize("python", ["3.11", "3.12"])
def test_the_lock_installs_each_pin_on_each_python(python):
    locked = locked_for(python)
    wanted = {
        canonicalize_name(r.name): str(r.specifier)[2:]
        for r in PINNED
        if not r.marker or r.marker.evaluate(on(python))
    }
    assert {name: locked.get(name) for name in wanted} == wanted
    assert Version(locked["numpy"]) < Version("2")  # what mxnet 1.9.1 declares


def test_every_file_the_lock_names_has_a_sha256():
    files = [
        ((package["name"], package["version"]), file)
        for package in LOCK["package"]
        if "registry" in package["source"]
        for file in package.get("wheels", []) + ([package["sdist"]] if "sdist" in package else [])
    ]
    assert len({package for package, _ in files}) == len(LOCK["package"]) - 1  # all but fmnist
    unhashed = [
        file["url"]
        for _, file in files
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", file.get("hash", ""))
    ]
    assert not unhashed


def sync_dev_group(project_dir, venv) -> subprocess.CompletedProcess:
    """`uv sync --locked` as `make venv` runs it, of the small dev group, from uv's cache
    (less uv itself, which `make venv` installs with pip)."""
    return subprocess.run(
        [UV, "sync", "--locked", "--offline", "--no-install-project", "--only-group", "dev"]
        + ["--no-install-package", "uv", "--python", sys.executable],
        cwd=project_dir,
        env={**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_an_install_refuses_a_wheel_whose_hash_differs_from_the_lock(tmp_path):
    for name in ("pyproject.toml", "uv.lock"):
        shutil.copy(PROJECT / name, tmp_path / name)
    installed = sync_dev_group(tmp_path, tmp_path / "venv")
    assert installed.returncode == 0, f"(uv's cache is filled by `make venv`)\n{installed.stderr}"
    assert list((tmp_path / "venv").glob("lib/python3.*/site-packages/iniconfig"))

    lock = (tmp_path / "uv.lock").read_text()
    start = lock.index('[[package]]\nname = "iniconfig"')
    end = lock.index("[[package]]", start + 1)
    # Another digest for each of iniconfig's files: as if the wheel had been replaced.
    other = re.sub(r"sha256:([0-9a-f])", lambda m: "sha256:" + "10"[m[1] == "0"], lock[start:end])
    (tmp_path / "uv.lock").write_text(lock[:start] + other + lock[end:])
    refused = sync_dev_group(tmp_path, tmp_path / "venv-refused")
    assert refused.returncode != 0
    assert "Hash mismatch for `iniconfig==" in refused.stderr, refused.stderr
    assert not list((tmp_path / "venv-refused").glob("lib/python3.*/site-packages/iniconfig"))
