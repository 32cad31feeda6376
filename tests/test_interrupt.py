"""Stopping `dvc repro` during training: no model, no half-written metrics, dvc.lock as it
was, no temporary files, and the next `dvc repro` runs the stage again from scratch."""

import contextlib
import os
import signal
import subprocess
import threading

import psutil
import pytest

from conftest import VENV_BIN
from fmnist.guards.atomic import TEMP_GLOB
from stage_faults import STOP_FAULTS

STAGE_SCRIPT = "stages/train_scratch.py"
OUTPUTS = ("models/scratch.params", "dvclive/scratch")
MXNET_NDARRAY_LIST_MAGIC = (0x112).to_bytes(8, "little")  # MXNet's parameter file format


def ctrl_c(dvc, stage):
    """What a terminal does: SIGINT to the whole foreground process group."""
    os.killpg(dvc.pid, signal.SIGINT)


def terminate_stage(dvc, stage):
    stage.send_signal(signal.SIGTERM)


def terminate_group(dvc, stage):
    """What a job scheduler does: DVC dies at once, the stage cleans up on its own."""
    os.killpg(dvc.pid, signal.SIGTERM)


def stop_during_training(project, stop, stderr_path) -> str:
    """Run `dvc repro train_scratch` in its own process group, stop it once the first epoch
    is reported, wait for every process of the group to end; return what it wrote to stderr."""
    with open(stderr_path, "w") as stderr:
        dvc = subprocess.Popen(
            [str(VENV_BIN / "dvc"), "repro", "train_scratch"],
            cwd=project.root,
            env=project.env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            start_new_session=True,
        )
    # A hung run fails the test instead of hanging the suite.
    watchdog = threading.Timer(300, os.killpg, (dvc.pid, signal.SIGKILL))
    watchdog.start()
    try:
        lines = []
        for line in dvc.stdout:
            lines.append(line)
            if line.startswith("Epoch 1."):
                break
        assert lines[-1].startswith("Epoch 1."), "".join(lines) + stderr_path.read_text()
        stage = next(
            p
            for p in psutil.Process(dvc.pid).children(recursive=True)
            if STAGE_SCRIPT in p.cmdline()
        )
        stop(dvc, stage)
        stage.wait(timeout=120)
        dvc.wait(timeout=120)
    finally:
        watchdog.cancel()
        # whatever of the group still runs after a failed assertion
        with contextlib.suppress(ProcessLookupError):
            os.killpg(dvc.pid, signal.SIGKILL)
        dvc.wait()
        dvc.stdout.close()
    return stderr_path.read_text()


@pytest.mark.expensive("a real training stopped by a signal under dvc repro, then the full rerun")
def test_stopping_training_leaves_nothing_and_the_next_repro_reruns(reproduced_project, tmp_path):
    project, root = reproduced_project, reproduced_project.root
    project.commit("trained")
    lock = (root / "dvc.lock").read_bytes()
    model = (root / "models/scratch.params").read_bytes()
    history = (root / "dvclive/scratch/metrics.json").read_bytes()

    project.set_params(train={"epochs": 100_000})  # still training when the signal comes
    expected = {ctrl_c: 0, terminate_stage: 1, terminate_group: 1}  # SIGINT, SIGTERM
    for stop, example in expected.items():
        err = stop_during_training(project, stop, tmp_path / f"{stop.__name__}.stderr")
        assert STOP_FAULTS["stopped"].message(example) + "\n" in err
        assert "Traceback" not in err, err
        for output in OUTPUTS:
            assert not (root / output).exists(), f"{stop.__name__} left {output}"
        assert not list(root.rglob(TEMP_GLOB)), f"{stop.__name__} left temporary files"
        assert (root / "dvc.lock").read_bytes() == lock
        assert "changed outs" in project.dvc("status", "train_scratch").stdout

    project.set_params(train={"epochs": 2})
    rerun = project.dvc("repro", "train_scratch").stdout
    assert "Running stage 'train_scratch'" in rerun
    assert (root / "models/scratch.params").read_bytes() == model  # same params, same bytes
    assert model.startswith(MXNET_NDARRAY_LIST_MAGIC)
    assert (root / "dvclive/scratch/metrics.json").read_bytes() == history
    assert (root / "dvc.lock").read_bytes() == lock  # nothing volatile: the same bytes
    assert "Data and pipelines are up to date" in project.dvc("status", "train_scratch").stdout
