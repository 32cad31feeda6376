"""The commit of a training stage's outputs (the renames into place): a stop signal that comes
during it is handled after the last rename, and says so; the temporaries a killed stage leaves
are removed when a stage next starts."""

import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from conftest import copy_reproduced
from fmnist.guards.atomic import PAUSE_VARIABLE, TEMP_GLOB, aside_path, temp_path
from fmnist.mxnet_files import export_paths
from stage_faults import STOP_FAULTS

OUTPUTS = ("models/scratch.params", "models/scratch.onnx", "dvclive/scratch")
PAUSE_S = 1.0  # between the two renames: the window the signal is sent in


def stage_argv(root: Path, stage: str) -> list[str]:
    return shlex.split(yaml.safe_load((root / "dvc.yaml").read_text())["stages"][stage]["cmd"])


def snapshot(root: Path) -> dict:
    """{path: bytes} of every file of the training outputs."""
    files = {}
    for output in OUTPUTS:
        path = root / output
        under = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        files.update({file.relative_to(root): file.read_bytes() for file in under})
    return files


def restore(root: Path, files: dict) -> None:
    for output in OUTPUTS:
        shutil.rmtree(root / output) if (root / output).is_dir() else (root / output).unlink()
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)


def start_paused_commit(project) -> subprocess.Popen:
    """train_scratch's script, pausing between its renames; returns once the first is done."""
    model = project.root / OUTPUTS[0]
    old_inode = model.stat().st_ino
    process = subprocess.Popen(
        stage_argv(project.root, "train_scratch"),
        cwd=project.root,
        env={**project.env, PAUSE_VARIABLE: str(PAUSE_S)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while model.stat().st_ino == old_inode:  # os.replace gives the path a new inode
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.01)
    return process


@pytest.fixture(scope="module")
def trained(tmp_path_factory, reproduced_template):
    """(project, files of a run at train.lr 0.1, files of a run at 0.05, now in params)."""
    project = copy_reproduced(reproduced_template, tmp_path_factory.mktemp("commit") / "project")
    project.set_params(train={"lr": 0.1})
    project.dvc("repro", "train_scratch")
    old = snapshot(project.root)
    project.set_params(train={"lr": 0.05})
    subprocess.run(
        stage_argv(project.root, "train_scratch"),
        cwd=project.root,
        env=project.env,
        check=True,
        capture_output=True,
    )
    new = snapshot(project.root)
    assert old.keys() == new.keys() and all(old[k] != new[k] for k in old)
    return project, old, new


@pytest.fixture
def old_and_new(trained):
    """trained, with the old files in place and no temporaries."""
    project, old, new = trained
    restore(project.root, old)
    for tmp in project.root.rglob(TEMP_GLOB):
        shutil.rmtree(tmp) if tmp.is_dir() else tmp.unlink()
    return project, old, new


def test_a_signal_during_the_commit_waits_for_its_end(old_and_new):
    project, old, new = old_and_new
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        restore(project.root, old)
        process = start_paused_commit(project)
        try:
            process.send_signal(signum)
            _, err = process.communicate(timeout=60)
        finally:
            process.kill()
        assert process.returncode == 128 + signum, err
        assert snapshot(project.root) == new, f"{signum.name}: old and new outputs mixed"
        assert err.splitlines()[-1] == STOP_FAULTS["during the commit"].message(signal=signum.name)
        assert not list(project.root.rglob(TEMP_GLOB))


def test_the_temporaries_of_a_killed_stage_go_when_a_stage_starts(old_and_new):
    project, old, _ = old_and_new
    root = project.root
    process = start_paused_commit(project)
    process.kill()  # SIGKILL between the renames: the new history and the old model stay
    process.communicate(timeout=60)
    left = [
        root / "dvclive" / temp_path(Path("scratch"), process.pid),
        root / "models" / temp_path(Path("scratch.onnx"), process.pid),
        root / "models" / aside_path(Path("scratch.params"), process.pid),
    ]
    assert sorted(root.rglob(TEMP_GLOB)) == sorted(left)
    for path in left:  # `git add -A` would not add them
        assert project.git("check-ignore", str(path)).returncode == 0
    # A live process's temporary (this test's) is its work in progress: it stays.
    live = root / "models" / temp_path(Path("scratch.params"))
    live.write_bytes(b"work in progress")

    project.dvc("repro", "train_scratch")
    assert sorted(root.rglob(TEMP_GLOB)) == [live]


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def staged_paths(root: Path) -> list[Path]:
    """Every path the stages stage: dvc.yaml's outputs, but for the export directory the
    files train_gluon's --export-prefix names in it."""
    paths = []
    for stage in yaml.safe_load((root / "dvc.yaml").read_text())["stages"].values():
        argv = shlex.split(stage["cmd"])
        flag = "--export-prefix"
        prefix = root / argv[argv.index(flag) + 1] if flag in argv else None
        for out in stage["outs"]:
            path = root / (out if isinstance(out, str) else next(iter(out)))
            if prefix and prefix.parent == path:
                paths += [Path(p) for p in export_paths(prefix)]
            else:
                paths.append(path)
    return paths


def test_every_stage_removes_dead_temporaries_of_its_outputs(small_project):
    project, root = small_project, small_project.root
    pid = dead_pid()
    for path in staged_paths(root):
        tmp = path.parent / temp_path(Path(path.name), pid)
        tmp.mkdir(parents=True)
        (tmp / "part").write_bytes(b"left by a killed stage")
    project.dvc("repro")  # runs every stage
    assert not list(root.rglob(TEMP_GLOB))
