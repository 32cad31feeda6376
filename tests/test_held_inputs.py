"""A stage's inputs are held still while it runs (fmnist.guards.held_inputs): DVC hashes deps
and params after the command exits, so a param or a source file edited mid-run must fail the
stage, leave no output and leave dvc.lock as it was."""

import os
import subprocess
import time

import pytest
import yaml

from conftest import TEST_PARAMS, VENV_BIN
from fmnist.guards import held_inputs
from fmnist.guards.held_inputs import HeldInputs, changed_paths, stage_inputs
from stage_faults import HELD_FAULTS

DVC_YAML = """
stages:
  train:
    cmd: python train.py
    deps: [train.py, data]
    params:
      - train.lr
      - other.yaml: [a.b]
      - whole.yaml:
"""


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dvc.yaml").write_text(DVC_YAML)
    (tmp_path / "train.py").write_text("print()")
    (tmp_path / "data").mkdir()
    (tmp_path / "data/x.npy").write_bytes(b"x")
    (tmp_path / "params.yaml").write_text("train: {lr: 0.1, epochs: 5}\n")
    (tmp_path / "other.yaml").write_text("a: {b: 1}\n")
    (tmp_path / "whole.yaml").write_text("k: v\n")
    monkeypatch.setattr(held_inputs, "STARTED_NS", time.time_ns())
    time.sleep(0.02)  # file times come from a clock that ticks every few ms
    return tmp_path


def test_the_inputs_are_the_stages_deps_and_params_keys_as_dvc_yaml_lists_them(workdir):
    paths, params = stage_inputs("train")
    assert paths == ["train.py", "data"]
    assert params == {
        ("params.yaml", "train.lr"): 0.1,
        ("other.yaml", "a.b"): 1,
        ("whole.yaml", None): {"k": "v"},
    }
    assert stage_inputs("not-a-stage") == ([], {})


def test_nothing_changed_says_nothing(workdir):
    assert HeldInputs("train").changes() == []


@pytest.mark.parametrize(  # each edit, and its fault and example in tests/stage_faults.py
    "edit, expected",
    [
        (lambda d: (d / "train.py").write_text("print(1)"), ("source", 1)),
        (lambda d: (d / "data/new.npy").write_bytes(b""), ("source", 2)),
        (lambda d: (d / "data/x.npy").unlink(), ("source", 2)),
        (lambda d: (d / "data/x.npy").chmod(0o600), ("source", 3)),
        (lambda d: (d / "params.yaml").write_text("train: {lr: 0.2}\n"), ("params", 1)),
        (lambda d: (d / "other.yaml").write_text("a: {}\n"), ("params", 2)),
        (lambda d: (d / "whole.yaml").write_text("k: w\n"), ("params", 3)),
        (lambda d: (d / "params.yaml").write_text("train: [\n"), ("params", 4)),
    ],
)
def test_an_input_changed_during_the_run_is_named(workdir, edit, expected):
    held = HeldInputs("train")
    edit(workdir)
    with pytest.raises(held_inputs.FmnistError) as raised:
        held.check()
    fault, example = expected
    assert str(raised.value) == HELD_FAULTS[fault].message(example)


def test_an_edit_to_a_key_the_stage_does_not_use_is_not_its_business(workdir):
    held = HeldInputs("train")
    (workdir / "params.yaml").write_text("train: {lr: 0.1, epochs: 50}\n")
    held.check()


def test_a_file_older_than_the_process_passes_but_a_missing_one_does_not(tmp_path):
    (tmp_path / "old").write_text("")
    assert changed_paths([str(tmp_path / "old")], time.time_ns()) == []
    assert changed_paths([str(tmp_path / "gone")], time.time_ns()) == [str(tmp_path / "gone")]


def repro_editing_midway(project, edit) -> subprocess.CompletedProcess:
    """`dvc repro train_scratch`, with edit() applied once the third epoch has printed."""
    argv = [str(VENV_BIN / "dvc"), "repro", "--single-item", "train_scratch"]
    env = {**project.env, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(
        argv, cwd=project.root, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    ) as proc:
        deadline, output = time.monotonic() + 300, []
        for line in proc.stdout:
            output.append(line)
            if line.startswith("Epoch 3."):
                edit()
            assert time.monotonic() < deadline, "".join(output)
        proc.wait(timeout=60)
    return subprocess.CompletedProcess(argv, proc.returncode, "".join(output), "")


def recorded_epochs(project) -> int:
    lock = yaml.safe_load((project.root / "dvc.lock").read_text())
    return lock["stages"]["train_scratch"]["params"]["params.yaml"]["train.epochs"]


@pytest.mark.expensive("two real 150-epoch trainings, each edited midway")
def test_a_param_or_source_edited_during_dvc_repro_fails_the_stage_and_records_nothing(
    reproduced_project,
):
    project = reproduced_project
    project.set_params(train={"epochs": 150})
    project.commit("150 epochs")
    model = project.root / "models/scratch.params"
    source = project.root / "src/fmnist/lesson/scratch.py"

    edits = {  # the doc's examples (tests/stage_faults.py)
        "params": lambda: project.set_params(train={"epochs": 3}),
        "source": lambda: source.write_text(source.read_text() + "# edited\n"),
    }
    for fault, edit in edits.items():
        before = (project.root / "dvc.lock").read_text()
        result = repro_editing_midway(project, edit)
        assert result.returncode != 0, result.stdout
        (line,) = [x for x in result.stdout.splitlines() if x.startswith("train_scratch: error")]
        assert line == HELD_FAULTS[fault].prefix + HELD_FAULTS[fault].message(0)
        assert (project.root / "dvc.lock").read_text() == before
        assert not model.exists()
        assert "train_scratch" in project.dvc("status", "train_scratch").stdout
        project.git("checkout", "--", ".")  # back to the committed 150 epochs and source
    assert recorded_epochs(project) == TEST_PARAMS["train"]["epochs"]


def test_a_params_file_that_is_a_fifo_is_not_opened_for_a_blocking_read(workdir):
    """fmnist.params refuses it with its own line; holding the inputs must not block first."""
    (workdir / "params.yaml").unlink()
    os.mkfifo(workdir / "params.yaml")
    paths, params = stage_inputs("train")
    assert params[("params.yaml", "train.lr")] is held_inputs.UNREADABLE
