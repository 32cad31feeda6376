"""The operating system's refusals end a stage with one line that names the path and says
what to do, like the project's own errors: a read-only or immutable file or directory, a
read-only mount, a missing permission, a missing input, a file in the way. Real stage runs
on the small project, with real flags, modes and mounts (so, as root)."""

import re
import shlex
import subprocess

import pytest
import yaml

from conftest import AS_ROOT, copy_reproduced
from fmnist.guards.atomic import TEMP_GLOB
from stage_faults import FILE_FAULTS

pytestmark = AS_ROOT
RERUN = "run the stage again (dvc repro)"
# A root without CAP_DAC_OVERRIDE: file modes apply to it as to any user.
WITHOUT_OVERRIDE = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]


@pytest.fixture(scope="module")
def project(tmp_path_factory, reproduced_template):
    return copy_reproduced(reproduced_template, tmp_path_factory.mktemp("os-errors") / "project")


@pytest.fixture
def chattr(project):
    """chattr(path, "+i"): the flag is removed again after the test."""
    flagged = []

    def set_flag(path, flag):
        subprocess.run(["chattr", flag, str(path)], check=True)
        flagged.append(path)

    yield set_flag
    for path in flagged:
        subprocess.run(["chattr", "-ia", str(path)], check=True)


@pytest.fixture
def chmod(project):
    """chmod(path, mode): the old mode comes back after the test."""
    changed = []

    def set_mode(path, mode):
        changed.append((path, path.stat().st_mode))
        path.chmod(mode)

    yield set_mode
    for path, mode in reversed(changed):
        path.chmod(mode)


def run_script(project, stage: str, prefix=(), **flags) -> subprocess.CompletedProcess:
    """The stage's command from dvc.yaml, with some flags changed (--live-dir= live_dir)."""
    argv = shlex.split(
        yaml.safe_load((project.root / "dvc.yaml").read_text())["stages"][stage]["cmd"]
    )
    for name, value in flags.items():
        argv[argv.index("--" + name.replace("_", "-")) + 1] = value
    return subprocess.run(
        [*prefix, *argv],
        cwd=project.root,
        env=project.env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def outputs(project) -> dict:
    root = project.root
    return {
        p: p.read_bytes()
        for d in ("models", "dvclive")
        for p in (root / d).rglob("*")
        if p.is_file()
    }


def the_one_line(result, stage: str, by_dvc: bool = False) -> str:
    """The stage's error: its last line on stderr (before DVC's own), and its only one."""
    assert result.returncode == (255 if by_dvc else 1), result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    said = [line for line in lines if line.startswith(f"{stage}: error")]
    assert said == lines[-3 if by_dvc else -1 :][:1], result.stderr  # DVC adds 2 lines
    return said[0]


def expect(line: str, pattern: str) -> None:
    assert re.fullmatch(pattern, line), line


def test_an_immutable_output_file(project, chattr):
    before = outputs(project)
    chattr(project.root / "models/scratch.params", "+i")
    line = the_one_line(run_script(project, "train_scratch"), "train_scratch")
    assert line == FILE_FAULTS["immutable"].message(0)
    assert outputs(project) == before  # the model's rename failed: nothing was committed
    assert not list(project.root.rglob(TEMP_GLOB))


@pytest.mark.parametrize("flag", ["+i", "+a"])
def test_an_immutable_or_append_only_output_directory(project, chattr, flag):
    before = outputs(project)
    chattr(project.root / "dvclive", flag)
    line = the_one_line(run_script(project, "train_scratch"), "train_scratch")
    assert line == FILE_FAULTS["immutable"].message(1)
    # +a: the history could be written but not renamed out: the new model, already in
    # place, was put back out too.
    assert outputs(project) == before
    if flag == "+a":  # which keeps the temporary history (no entry of it can be removed)...
        subprocess.run(["chattr", "-a", project.root / "dvclive"], check=True)
        assert len(list(project.root.rglob(TEMP_GLOB))) == 1
        project.dvc("repro", "--force", "--single-item", "train_scratch")  # ...till it next runs
    assert not list(project.root.rglob(TEMP_GLOB))


def test_a_read_only_file_system_under_dvc_repro(project, mounts):
    models = project.root / "models"
    mounts.tmpfs(models, "1m", "ro")
    try:
        result = project.dvc("repro", "--force", "--single-item", "train_scratch", check=False)
        assert "train_scratch:" in project.dvc("status", "train_scratch").stdout
    finally:
        mounts.unmount_all()
        project.dvc("repro", "train_scratch")  # DVC deleted dvclive/scratch: back for the next
    line = the_one_line(result, "train_scratch", by_dvc=True)
    assert line == FILE_FAULTS["read-only"].message(0, mount=models)


def test_a_read_only_bind_mount(project, mounts):
    data = project.root / "data"
    mounts.bind_read_only(data)
    line = the_one_line(run_script(project, "preprocess"), "preprocess")
    assert line == FILE_FAULTS["read-only"].message(1, mount=data)


def test_no_permission_to_write(project, chmod):
    chmod(project.root / "dvclive", 0o555)
    result = run_script(project, "train_scratch", prefix=WITHOUT_OVERRIDE)
    assert the_one_line(result, "train_scratch") == FILE_FAULTS["permission"].message(0)


def test_no_permission_to_read_an_input(project, chmod):
    chmod(project.root / "models/gluon.onnx", 0o000)
    result = run_script(project, "evaluate", prefix=WITHOUT_OVERRIDE)
    assert the_one_line(result, "evaluate") == FILE_FAULTS["permission"].message(1)


@pytest.mark.parametrize(
    "stage, flag, named",
    [
        ("preprocess", "raw_dir", "missing/train-images-idx3-ubyte.gz"),
        ("train_scratch", "prepared_dir", "missing/train_x.npy"),
        ("train_gluon", "prepared_dir", "missing/train_x.npy"),
        ("evaluate", "scratch_onnx", "missing"),
        ("evaluate", "gluon_live", "missing"),
        ("render", "probabilities_dir", "missing/scratch.npy"),
    ],
)
def test_a_missing_input(project, stage, flag, named):
    line = the_one_line(run_script(project, stage, **{flag: "missing"}), stage)
    expect(line, rf"{stage}: error: {re.escape(named)}: .*(run|rerun) the \w+ stage.*")


def test_a_file_where_a_directory_is_needed(project):
    result = run_script(project, "train_scratch", live_dir="params.yaml/history")
    assert the_one_line(result, "train_scratch") == FILE_FAULTS["file in the way"].message()
