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
import pytest
import yaml

from conftest import PROJECT, REAL_DATA, TEST_PARAMS
from fmnist.data import load_prepared
from fmnist.distributed import DistributedError, per_worker_batch_size
from fmnist.distributed.launcher import plan_nodes, ssh_argv
from fmnist.distributed.worker import shard
from fmnist.models.gluon import GluonSoftmax
from fmnist.params import parse_params
from fmnist.prepare import SPLITS, load_split, to_features
from fmnist.train import train

STAGE_FLAGS = ["--prepared-dir", "prepared", "--model", "models/gluon.params",
               "--export-prefix", "models/gluon", "--live-dir", "dvclive/gluon"]
STARTED = re.compile(r"^started (\w+ ?\d*) \(pid (\d+)\)", re.M)
DIGEST = re.compile(r"^\[(worker \d+)\] final weights sha256 ([0-9a-f]{64})$", re.M)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """10,000 real training images and the whole test set (0.01 is 100 images). Real, because
    the generated classes are learnt perfectly: both runs would score 1.0 whatever happened."""
    assert REAL_DATA.is_dir(), (f"{REAL_DATA} is missing: `make test` installs Debian's "
                                "dataset-fashion-mnist; run it that way")
    directory = tmp_path_factory.mktemp("prepared")
    for split, prefix in SPLITS.items():
        images, labels = load_split(REAL_DATA, prefix)
        np.save(directory / f"{split}_x.npy", to_features(images[:10_000]), allow_pickle=False)
        np.save(directory / f"{split}_y.npy", labels[:10_000].astype(np.int32), allow_pickle=False)
    return directory


def workspace(tmp_path, prepared, train=None, gluon=None):
    """A directory to run the stage in: params.yaml (the project's, with TEST_PARAMS and the
    changes) and the data."""
    params = yaml.safe_load((PROJECT / "params.yaml").read_text())
    # The cosine schedule ends every run settled (lr -> 0), not mid-oscillation: with a
    # constant lr, test accuracy moves by 0.02-0.03 from one epoch to the next.
    params["train"].update({**TEST_PARAMS["train"], "epochs": 3, "batch_size": 64,
                            "lr_schedule": "cosine", **(train or {})})
    params["gluon"].update({**TEST_PARAMS["gluon"], "kvstore": "dist_sync", "workers": 2,
                            "timeout_s": 120, **(gluon or {})})  # a hung job ends by itself
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    (tmp_path / "prepared").symlink_to(prepared)
    return tmp_path


def start_stage(directory) -> subprocess.Popen:
    env = {**os.environ, "PYTHONWARNINGS": "ignore::DeprecationWarning"}
    return subprocess.Popen([sys.executable, str(PROJECT / "stages/train_gluon.py"),
                             *STAGE_FLAGS], cwd=directory, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


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
    model = GluonSoftmax.load(directory / "models/gluon.params")
    assert digest_of(model) == digests["worker 0"], "worker 0 wrote other weights than it had"
    data = load_prepared(prepared)
    distributed = float((model.predict_proba(data.test_x).argmax(axis=1) == data.test_y).mean())

    params = parse_params(yaml.safe_load((directory / "params.yaml").read_text()))
    single = GluonSoftmax.create(params.gluon, params.train, kvstore=None)
    history = train(single, data, params.train, on_epoch=lambda stats: None)
    assert distributed >= 0.75, "the workers did not learn"
    assert abs(distributed - history[-1].test_accuracy) <= 0.01
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
    assert (f"worker 1 (pid {pids['worker 1']}) was killed by signal SIGKILL" in err
            and "stopped scheduler, server 0, worker 0" in err), err
    assert "Traceback" not in err
    assert_all_gone(pids)
    assert not (directory / "models").exists(), "a failed job must not write a model"


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
    with pytest.raises(DistributedError, match=r"train.batch_size \(256\) must be a multiple "
                                               r"of gluon.workers \(3\)"):
        per_worker_batch_size(256, 3)


def test_placement_keeps_worker_0_here_and_spreads_the_rest():
    nodes = plan_nodes(4, 1, ("127.0.0.1", "localhost"), ["--model", "m"])
    assert [(n.name, n.host) for n in nodes] == [
        ("scheduler", None), ("server 0", None), ("worker 0", None),
        ("worker 1", "127.0.0.1"), ("worker 2", "localhost"), ("worker 3", "127.0.0.1")]
    assert nodes[3].argv == (sys.executable, "-m", "fmnist.distributed", "worker",
                             "--model", "m", "--index", "1")


def test_the_ssh_command_runs_in_the_same_directory_with_the_job_environment(tmp_path):
    directory = tmp_path / "a dir with 'quotes' and spaces"
    directory.mkdir()
    argv = ssh_argv("host", {"DMLC_ROLE": "worker", "ODD": "a b'c"}, str(directory),
                    [sys.executable, "-c", "import os; print(os.getcwd(), os.environ['ODD'])"])
    assert argv[:5] == ["ssh", "-o", "BatchMode=yes", "-tt", "host"]
    # What the remote shell would run, run here by a shell.
    out = subprocess.run(["sh", "-c", argv[-1]], capture_output=True, text=True, check=True)
    assert out.stdout == f"{directory} a b'c\n"


def test_repro_with_two_workers_reports_their_accuracy(small_project):
    project = small_project
    project.set_params(gluon={"kvstore": "dist_sync", "workers": 2})
    project.commit("two workers")
    output = project.dvc("repro").stdout
    assert "2 workers ended with identical weights" in output
    metrics = json.loads(project.dvc("metrics", "show", "--json").stdout)
    accuracy = metrics[""]["data"]["metrics/test_accuracy.json"]["data"]["gluon"]
    assert accuracy >= 0.85
