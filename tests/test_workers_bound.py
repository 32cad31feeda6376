"""gluon.workers is bounded by the memory this machine has (issue 18): a value above the
bound is refused in one line, with the measured memory per worker, before any process of
the job starts."""

import subprocess
import sys

import pytest
import yaml

from conftest import PROJECT, VENV_BIN
from fmnist.distributed import (
    SCHEDULER_AND_SERVER_MB,
    WORKER_MB,
    DistributedError,
    check_workers_fit,
    memory_available_mb,
)
from settings_faults import SETTINGS_FAULTS


def meminfo(tmp_path, available_mb: int):
    path = tmp_path / "meminfo"
    path.write_text(f"MemTotal: 99999999 kB\nMemAvailable: {available_mb * 1024} kB\n")
    return path


def test_the_workers_that_fit_are_accepted_and_one_more_is_refused(tmp_path):
    fit = 3
    table = meminfo(tmp_path, SCHEDULER_AND_SERVER_MB + fit * WORKER_MB + 1)
    check_workers_fit(fit, (), table)
    with pytest.raises(DistributedError) as error:
        check_workers_fit(fit + 1, (), table)
    assert str(error.value) == SETTINGS_FAULTS["workers"].message(0, workers=fit + 1, fit=fit)
    assert f"({WORKER_MB} MB each, measured on Fashion-MNIST" in str(error.value)


def test_with_hosts_only_worker_0_runs_here(tmp_path):
    table = meminfo(tmp_path, SCHEDULER_AND_SERVER_MB + WORKER_MB + 1)
    check_workers_fit(256, ("node-1",), table)
    with pytest.raises(DistributedError, match="at most 1 fit here"):
        check_workers_fit(2, (), table)


def test_this_machines_memory_is_read():
    assert memory_available_mb() > 0
    assert memory_available_mb("/nonexistent/meminfo") is None


def test_the_stage_refuses_too_many_workers_before_any_process_starts(tmp_path):
    """Valid params (the workers divide the batch), but more processes than memory holds:
    on a machine with 23 GB available, 42 workers (`workers: 256` needed 140 GB)."""
    workers = int(memory_available_mb() // WORKER_MB) + 1
    params = yaml.safe_load((PROJECT / "params.yaml").read_text())
    params["train"]["batch_size"] = 2 * workers
    params["gluon"].update(kvstore="dist_sync", workers=workers)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    outputs = ["--model", "m", "--onnx", "o", "--export-prefix", "e/g", "--live-dir", "live"]
    result = subprocess.run(
        [sys.executable, PROJECT / "stages/train_gluon.py", "--prepared-dir", "nowhere", *outputs],
        cwd=tmp_path,
        env={"PATH": str(VENV_BIN), "PYTHONPATH": str(PROJECT / "src")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    fault = SETTINGS_FAULTS["workers"]
    assert fault.matches(line.removeprefix(fault.prefix), 1, workers=workers), line
    assert line.startswith(fault.prefix)
    assert f"({WORKER_MB} MB each" in line
    assert "started" not in result.stdout  # no scheduler, server or worker
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]
