"""Data-parallel training on MXNet's parameter server, for real, on 127.0.0.1: the
train_gluon stage run as a process (scheduler, server and workers are its children)."""

import hashlib
import json
import os
import re
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import psutil
import pytest
import yaml

from conftest import PROJECT, REAL_DATA, TEST_PARAMS
from fmnist.distributed import DistributedError, check_hosts, per_worker_batch_size
from fmnist.distributed.launcher import plan_nodes, run_job
from fmnist.distributed.ssh import SSH_OPTIONS, Route, remote_command, ssh_argv
from fmnist.distributed.worker import check_same_data, shard
from fmnist.lesson.gluon import GluonSoftmax
from fmnist.lesson.training import train
from fmnist.mxnet_sources import read_model
from fmnist.params import params_json, parse_params
from fmnist.prepared import (
    load_prepared,
    load_split,
    prepared_digest,
    to_features,
    write_manifest,
)
from hosts_faults import ARRAYS_DIFFER, HOSTS_FAULTS
from test_pipeline import ran_stages

STAGE_FLAGS = [
    "--prepared-dir",
    "prepared",
    "--model",
    "models/gluon.params",
    "--onnx",
    "models/gluon.onnx",
    "--export-prefix",
    "models/gluon",
    "--live-dir",
    "dvclive/gluon",
]
STARTED = re.compile(r"^started (\w+ ?\d*) \(pid (\d+)\)", re.M)
DIGEST = re.compile(r"^\[(worker \d+)\] final weights sha256 ([0-9a-f]{64})$", re.M)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """10,000 real training images and the whole test set (0.01 is 100 images). Real, because
    the generated classes are learnt perfectly: both runs would score 1.0 whatever happened."""
    assert REAL_DATA.is_dir(), (
        f"{REAL_DATA} is missing: `make test` installs Debian's "
        "dataset-fashion-mnist; run it that way"
    )
    directory = tmp_path_factory.mktemp("prepared")
    # The validation set: 2,000 other training images.
    for split, prefix, rows in (
        ("train", "train", slice(0, 10_000)),
        ("val", "train", slice(10_000, 12_000)),
        ("test", "t10k", slice(0, 10_000)),
    ):
        images, labels = load_split(REAL_DATA, prefix)
        np.save(directory / f"{split}_x.npy", to_features(images[rows]), allow_pickle=False)
        np.save(directory / f"{split}_y.npy", labels[rows].astype(np.int32), allow_pickle=False)
    write_manifest(directory, {})
    return directory


def workspace(tmp_path, prepared, train=None, gluon=None):
    """A directory to run the stage in: params.yaml (the project's, with TEST_PARAMS and the
    changes) and the data."""
    params = yaml.safe_load((PROJECT / "params.yaml").read_text())
    # The cosine schedule ends every run settled (lr -> 0), not mid-oscillation: with a
    # constant lr, validation accuracy moves by 0.02-0.03 from one epoch to the next.
    params["train"].update(
        {
            **TEST_PARAMS["train"],
            "epochs": 3,
            "batch_size": 64,
            "lr_schedule": "cosine",
            **(train or {}),
        }
    )
    params["gluon"].update(
        {
            **TEST_PARAMS["gluon"],
            "kvstore": "dist_sync",
            "workers": 2,
            "timeout_s": 120,
            **(gluon or {}),
        }
    )  # a hung job ends by itself
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    (tmp_path / "prepared").symlink_to(prepared)
    return tmp_path


def start_stage(directory) -> subprocess.Popen:
    env = {**os.environ, "PYTHONWARNINGS": "ignore::DeprecationWarning"}
    return subprocess.Popen(
        [sys.executable, str(PROJECT / "stages/train_gluon.py"), *STAGE_FLAGS],
        cwd=directory,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def read_until(proc, pattern: str, limit_s: float) -> str:
    """The stage's output up to the first line matching pattern (or its end)."""
    seen, deadline = "", time.monotonic() + limit_s
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline and selector.select(deadline - time.monotonic()):
            line = proc.stdout.readline()
            seen += line
            if not line or re.search(pattern, line):
                return seen
    raise AssertionError(f"no line matching {pattern!r} in {limit_s} s; output:\n{seen}")


def started_pids(output: str) -> dict[str, int]:
    pids = {name: int(pid) for name, pid in STARTED.findall(output)}
    assert set(pids) == {"scheduler", "server 0", "worker 0", "worker 1"}, output
    return pids


def assert_all_gone(pids: dict[str, int]) -> None:
    alive = {name: pid for name, pid in pids.items() if os.path.exists(f"/proc/{pid}")}
    assert not alive, f"left behind: {alive}"


def digest_of(model) -> str:
    digest = hashlib.sha256()
    for param in model.net.collect_params().values():
        digest.update(param.data().asnumpy().tobytes())
    return digest.hexdigest()


def test_two_workers_end_identical_and_match_one_process(tmp_path, prepared):
    directory = workspace(tmp_path, prepared)
    proc = start_stage(directory)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, out + err

    digests = dict(DIGEST.findall(out))
    assert set(digests) == {"worker 0", "worker 1"}, out
    assert digests["worker 0"] == digests["worker 1"]
    model = read_model(directory / "models/gluon.params", "gluon")
    assert digest_of(model) == digests["worker 0"], "worker 0 wrote other weights than it had"
    data = load_prepared(prepared)
    distributed = float((model.predict_proba(data.val_x).argmax(axis=1) == data.val_y).mean())

    params = parse_params(yaml.safe_load((directory / "params.yaml").read_text()))
    single = GluonSoftmax.create(params.gluon, params.train, kvstore=None)
    history = train(single, data, params.train, on_epoch=lambda stats: None)
    assert distributed >= 0.75, "the workers did not learn"
    assert abs(distributed - history[-1].val_accuracy) <= 0.01
    epochs = (directory / "dvclive/gluon/plots/metrics/loss.tsv").read_text().splitlines()[1:]
    assert len(epochs) == 3
    assert json.loads((directory / "dvclive/gluon/metrics.json").read_text())["step"] == 3


def test_a_killed_worker_stops_the_job_and_says_so(tmp_path, prepared):
    directory = workspace(tmp_path, prepared, train={"epochs": 100_000})
    proc = start_stage(directory)
    try:
        output = read_until(proc, r"^\[worker 0\] Epoch 2\.", limit_s=120)  # training is underway
        pids = started_pids(output)
        os.kill(pids["worker 1"], signal.SIGKILL)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 1
    assert (
        f"worker 1 (pid {pids['worker 1']}) was killed by signal SIGKILL" in err
        and "stopped scheduler, server 0, worker 0" in err
    ), err
    assert "Traceback" not in err
    assert_all_gone(pids)
    assert not (directory / "models").exists(), "a failed job must not write a model"


def listening(pid: int) -> set[str]:
    """ADDRESS:PORT of every TCP socket the process listens on, as `ss -ltnp` shows them."""
    return {
        f"{c.laddr.ip}:{c.laddr.port}"
        for c in psutil.Process(pid).net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN
    }


def test_an_all_local_job_listens_on_loopback_only(tmp_path, prepared):
    """ps-lite takes anyone who reaches its ports (no authentication): with gluon.hosts
    empty, no process of the job may listen on another address than 127.0.0.1."""
    directory = workspace(tmp_path, prepared, train={"epochs": 100_000})
    proc = start_stage(directory)
    try:
        pids = started_pids(read_until(proc, r"^\[worker 0\] Epoch 2\.", limit_s=120))
        sockets = {name: listening(pid) for name, pid in pids.items()}
        proc.terminate()
        proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert_all_gone(pids)
    everywhere = [address for found in sockets.values() for address in found]
    assert sockets["scheduler"] and sockets["server 0"], sockets  # a real job, measured
    assert all(address.startswith("127.0.0.1:") for address in everywhere), sockets


def test_the_time_limit_stops_every_process(tmp_path, prepared):
    directory = workspace(tmp_path, prepared, train={"epochs": 100_000}, gluon={"timeout_s": 4})
    proc = start_stage(directory)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "the job passed its time limit of 4 s (gluon.timeout_s)" in err, err
    assert_all_gone(started_pids(out))


def test_local_kvstore_with_several_workers_is_refused(tmp_path, prepared):
    directory = workspace(tmp_path, prepared, gluon={"kvstore": "local"})
    out, err = start_stage(directory).communicate(timeout=60)
    assert "train_gluon: error: gluon.workers is 2 but gluon.kvstore is local" in err, err


def test_shards_are_equal_disjoint_and_miss_only_the_remainder(prepared):
    data = load_prepared(prepared)
    data = replace(data, train_x=data.train_x[:1003], train_y=data.train_y[:1003])
    shards = [shard(data, index, 3) for index in range(3)]
    assert [len(s.train_y) for s in shards] == [334] * 3
    rows = np.concatenate([s.train_x for s in shards])
    assert len(np.unique(rows, axis=0)) == 1002  # disjoint; one left out
    np.testing.assert_array_equal(shards[1].train_x[0], data.train_x[1])


def test_the_global_batch_must_split_evenly():
    assert per_worker_batch_size(256, 4) == 64
    with pytest.raises(
        DistributedError,
        match=r"train.batch_size \(256\) must be a multiple "
        r"of gluon.workers \(3\)",
    ):
        per_worker_batch_size(256, 3)


def test_placement_keeps_worker_0_here_and_spreads_the_rest():
    routes = {
        "a": Route(here="10.0.0.1", there="10.0.0.2"),
        "b": Route(here="10.0.1.1", there="10.0.1.2"),
    }
    nodes = plan_nodes(4, 1, routes, ["--model", "m"])
    assert [(n.name, n.host, n.address) for n in nodes] == [
        ("scheduler", None, "10.0.0.1"),
        ("server 0", None, "10.0.0.1"),
        ("worker 0", None, "10.0.0.1"),
        ("worker 1", "a", "10.0.0.2"),
        ("worker 2", "b", "10.0.1.2"),
        ("worker 3", "a", "10.0.0.2"),
    ]
    assert nodes[3].argv == (
        sys.executable,
        "-m",
        "fmnist.distributed",
        "worker",
        "--model",
        "m",
        "--index",
        "1",
    )


def test_the_ssh_command_runs_in_the_same_directory_with_the_job_environment(tmp_path):
    directory = tmp_path / "a dir with 'quotes' and spaces"
    directory.mkdir()
    command = remote_command(
        str(directory),
        {"DMLC_ROLE": "worker", "ODD": "a b'c"},
        [sys.executable, "-c", "import os; print(os.getcwd(), os.environ['ODD'])"],
    )
    argv = ssh_argv("host", "my ssh config", command)
    assert argv == ["ssh", *SSH_OPTIONS, "-F", "my ssh config", "--", "host", command]
    assert ssh_argv("host", "", command) == ["ssh", *SSH_OPTIONS, "--", "host", command]
    # What the remote shell would run, run here by a shell.
    out = subprocess.run(["sh", "-c", argv[-1]], capture_output=True, text=True, check=True)
    assert out.stdout == f"{directory} a b'c\n"


def test_a_host_list_that_leaves_a_host_without_a_worker_is_refused():
    check_hosts(3, ("a", "b"))
    check_hosts(5, ("a", "b"))  # round-robin: two workers each
    fault = HOSTS_FAULTS["too many hosts"]
    with pytest.raises(DistributedError) as refused:
        check_hosts(2, ("a", "b"))
    assert str(refused.value) == fault.message(0)
    with pytest.raises(DistributedError) as refused:
        check_hosts(1, ("a",))
    assert str(refused.value) == fault.message(1)


def test_a_worker_whose_arrays_differ_under_the_same_manifest_refuses_to_join(tmp_path):
    """The manifest matches the launcher's; one array was replaced by another valid one."""
    directory = tmp_path / "prepared"
    directory.mkdir()
    for name, array in {
        "train_x": np.zeros((4, 784), np.float32),
        "train_y": np.arange(4, dtype=np.int32),
        "val_x": np.ones((2, 784), np.float32),
        "val_y": np.arange(2, dtype=np.int32),
        "test_x": np.ones((2, 784), np.float32),
        "test_y": np.arange(2, dtype=np.int32),
    }.items():
        np.save(directory / f"{name}.npy", array, allow_pickle=False)
    write_manifest(directory, {})
    launchers = prepared_digest(directory)
    check_same_data(directory, launchers)
    np.save(directory / "train_y.npy", np.arange(4, dtype=np.int32)[::-1], allow_pickle=False)
    with pytest.raises(DistributedError) as refused:
        check_same_data(directory, launchers)
    assert str(refused.value) == ARRAYS_DIFFER.format(prepared=directory)


def test_a_worker_that_finishes_early_stops_the_job_and_says_so(tmp_path, prepared, monkeypatch):
    """Worker 1 gets 1 epoch where worker 0 gets 100,000. Worker 1 reports its weights and
    then waits at ps-lite's exit barrier (MXNet 1.9.1 does not let it exit 0), while worker 0
    waits for its pushes: neither would ever end by itself."""
    directory = workspace(tmp_path, prepared, train={"epochs": 100_000})
    monkeypatch.chdir(directory)
    params = parse_params(yaml.safe_load((directory / "params.yaml").read_text()))
    short = replace(params, train=replace(params.train, epochs=1))

    def worker_args(p):
        return [
            *STAGE_FLAGS,
            "--params",
            params_json(p),
            "--data-digest",
            prepared_digest(prepared),
        ]

    nodes = plan_nodes(2, 1, {}, worker_args(params))
    nodes[3] = replace(nodes[3], argv=plan_nodes(2, 1, {}, worker_args(short))[3].argv)
    started = time.monotonic()
    with pytest.raises(DistributedError) as failure:
        run_job(nodes, timeout_s=120)
    assert HOSTS_FAULTS["finished early"].matches(str(failure.value)), str(failure.value)
    assert time.monotonic() - started < 40, "the job should not wait for its time limit"


@pytest.mark.expensive("a real dist_sync job under dvc repro: scheduler, server, 2 workers")
def test_repro_with_two_workers_reports_their_accuracy(reproduced_project):
    """`dvc repro` after the change reruns train_gluon as a real dist_sync job (scheduler,
    server, 2 workers), then evaluate and render."""
    project = reproduced_project
    project.set_params(gluon={"kvstore": "dist_sync", "workers": 2})
    project.commit("two workers")
    output = project.dvc("repro").stdout
    assert ran_stages(output) == ["train_gluon", "evaluate", "render"]
    assert "2 workers ended with identical weights" in output
    metrics = json.loads(project.dvc("metrics", "show", "--json").stdout)
    accuracy = metrics[""]["data"]["metrics/test_accuracy.json"]["data"]["gluon"]
    assert accuracy >= 0.85


def test_a_host_ssh_cannot_use_fails_in_one_line_before_any_start(tmp_path, prepared):
    """A missing gluon.ssh_config: ssh refuses before any connection (no network needed)."""
    missing = tmp_path / "no such ssh config"
    directory = workspace(
        tmp_path / "job", prepared, gluon={"hosts": ["w1"], "ssh_config": str(missing)}
    )
    out, err = start_stage(directory).communicate(timeout=60)
    assert err == HOSTS_FAULTS["ssh config"].message(config=missing) + "\n", err
    assert "started" not in out
