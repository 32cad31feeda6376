"""dist_sync training and the DVC remote across hosts, for real: the hosts are network
namespaces running OpenSSH's sshd (tests/hosts.py), reached by ssh config aliases that
resolve nowhere else. Needs root; skipped otherwise."""

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import SMALL_SPLIT, write_dataset
from fmnist.prepared import prepare
from hosts import LIMIT_S, missing_tools, ssh_hosts
from hosts_faults import HOSTS_FAULTS
from test_distributed import DIGEST, read_until, start_stage, workspace

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0,
    reason=("needs root: the test hosts are network namespaces running sshd (CI runs as root)"),
)
JOB_LIMIT_S = 120


@pytest.fixture(scope="module")
def hosts(tmp_path_factory):
    missing = missing_tools()
    assert not missing, (
        f"missing {', '.join(missing)}: install Debian's openssh-server, "
        "openssh-client, iproute2 and util-linux (make test does)"
    )
    with ssh_hosts(tmp_path_factory.mktemp("hosts"), count=2) as made:
        yield made


@pytest.fixture(autouse=True)
def nothing_left_running(request):
    """After every test: no process of the test in any host's namespace."""
    yield
    if "hosts" in request.fixturenames:
        made = request.getfixturevalue("hosts")
        left = {host.alias: host.strays() for host in made.hosts}
        assert not any(left.values()), f"left running on the test hosts: {left}"


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """The small generated dataset, prepared as the preprocess stage does (with manifest)."""
    directory = tmp_path_factory.mktemp("data")
    write_dataset(directory / "raw", n_train=1200, n_test=200)
    prepare(directory / "raw", directory / "prepared", *SMALL_SPLIT)
    return directory / "prepared"


def run_stage(directory, limit_s=JOB_LIMIT_S) -> subprocess.CompletedProcess:
    proc = start_stage(directory)
    try:
        out, err = proc.communicate(timeout=limit_s)
    finally:
        proc.kill()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def on_hosts(hosts, aliases, workers, **train):
    """gluon and train params for a job with workers on these hosts (batch: a multiple of 3)."""
    gluon = {"workers": workers, "hosts": aliases, "ssh_config": str(hosts.ssh_config)}
    return gluon, {"batch_size": 48, **train}


def test_workers_on_two_hosts_match_loopback_and_use_the_launchers_params(
    hosts, prepared, tmp_path
):
    """3 workers: worker 0 here, worker 1 on w1, worker 2 on w2, whose own params.yaml says
    1 epoch at another learning rate; it must train 3 epochs at the launcher's."""
    gluon, train = on_hosts(hosts, ["w1", "w2"], 3)
    directory = workspace(tmp_path / "hosts", prepared, train=train, gluon=gluon)
    own = tmp_path / "w2-params.yaml"
    params = yaml.safe_load((directory / "params.yaml").read_text())
    params["train"].update(epochs=1, lr=0.9)
    own.write_text(yaml.safe_dump(params))
    with hosts[1].mount("--bind", own, target=directory / "params.yaml"):
        seen = subprocess.run(
            ["ssh", "-F", str(hosts.ssh_config), "--", "w2", f"cat {directory / 'params.yaml'}"],
            capture_output=True,
            text=True,
            timeout=LIMIT_S,
        ).stdout
        assert yaml.safe_load(seen)["train"]["epochs"] == 1, "w2 should see its own params"
        remote = run_stage(directory)
    assert remote.returncode == 0, remote.stdout + remote.stderr
    assert re.search(r"^started worker 1 \(pid \d+\) on w1 \(198\.1[89]\.", remote.stdout, re.M)
    assert re.search(r"^started worker 2 \(pid \d+\) on w2 \(198\.1[89]\.", remote.stdout, re.M)
    assert "\x1b" not in remote.stdout, "terminal control sequences in the log"

    loopback_dir = workspace(
        tmp_path / "loopback", prepared, train=train, gluon={**gluon, "hosts": []}
    )
    loopback = run_stage(loopback_dir)
    assert loopback.returncode == 0, loopback.stdout + loopback.stderr
    digests = dict(DIGEST.findall(remote.stdout))
    assert len(digests) == 3 and len(set(digests.values())) == 1, remote.stdout
    assert dict(DIGEST.findall(loopback.stdout)) == digests
    model = "models/gluon.params"
    assert (directory / model).read_bytes() == (loopback_dir / model).read_bytes()


@pytest.mark.parametrize("victim", ["worker 1 on w1", "worker 0 here"])
def test_a_killed_worker_fails_the_job_in_seconds_and_stops_the_remote_one(
    hosts, prepared, tmp_path, victim
):
    """Killing the remote worker: the message names its host. Killing worker 0: the launcher
    stops the remote worker through its ssh (checked by nothing_left_running)."""
    gluon, train = on_hosts(hosts, ["w1"], 2, epochs=100_000)
    directory = workspace(tmp_path, prepared, train=train, gluon=gluon)
    proc = start_stage(directory)
    try:
        output = read_until(proc, r"^\[worker 0\] Epoch 2\.", limit_s=JOB_LIMIT_S)
        local = int(re.search(r"^started worker 0 \(pid (\d+)\)", output, re.M).group(1))
        os.kill(hosts[0].worker_pid() if "w1" in victim else local, signal.SIGKILL)
        killed = time.monotonic()
        out, err = proc.communicate(timeout=JOB_LIMIT_S)
        took = time.monotonic() - killed
    finally:
        proc.kill()
    assert proc.returncode == 1
    fault = HOSTS_FAULTS["worker killed"]
    if "w1" in victim:
        assert fault.matches(err.rstrip("\n"), 0), err
    else:
        assert fault.matches(err.rstrip("\n"), 1, which=f"worker 0 (pid {local})"), err
    assert took < 10, f"the job took {took:.1f} s to notice"
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert not (directory / "models").exists()


@pytest.mark.parametrize("example", [0, 1], ids=["key refused", "unreachable"])
def test_a_host_that_cannot_be_used_fails_before_anything_starts(
    hosts, prepared, tmp_path, example
):
    fault = HOSTS_FAULTS["cannot start"]  # its examples name the alias
    alias = fault.examples[example]["host"]
    gluon, train = on_hosts(hosts, ["w1", alias], 3)
    directory = workspace(tmp_path, prepared, train=train, gluon=gluon)
    result = run_stage(directory, limit_s=30)
    assert result.returncode == 1
    assert fault.matches(result.stderr.removesuffix("\n"), example), result.stderr
    assert "started" not in result.stdout, result.stdout


@pytest.mark.parametrize(
    "hidden, example",
    [("the job's directory", 0), ("the venv's bin", 1)],
    ids=["no repository", "no venv"],
)
def test_a_host_without_the_repository_or_venv_fails_before_anything_starts(
    hosts, prepared, tmp_path, hidden, example
):
    gluon, train = on_hosts(hosts, ["w1"], 2)
    job = workspace(tmp_path / "jobs" / "job", prepared, train=train, gluon=gluon)
    python = Path(sys.executable)
    # An empty file system over it, on w1 alone.
    with hosts[0].mount(
        "-t", "tmpfs", "fmnist-test", target=job.parent if "job" in hidden else python.parent
    ):
        result = run_stage(job, limit_s=30)
    assert result.returncode == 1
    path = job if "job" in hidden else python
    assert result.stderr == HOSTS_FAULTS["no repository"].message(example, path=path) + "\n"
    assert "started" not in result.stdout, result.stdout


def test_a_host_with_other_prepared_data_stops_the_job_before_training(hosts, prepared, tmp_path):
    other = tmp_path / "other"
    write_dataset(other / "raw", n_train=1210, n_test=200)
    prepare(other / "raw", other / "prepared", *SMALL_SPLIT)
    gluon, train = on_hosts(hosts, ["w1"], 2)
    directory = workspace(tmp_path / "job", prepared, train=train, gluon=gluon)
    with hosts[0].mount("--bind", other / "prepared", target=directory / "prepared"):
        result = run_stage(directory)
    assert result.returncode == 1
    assert HOSTS_FAULTS["other data"].matches(result.stderr.removesuffix("\n")), result.stderr
    assert "Epoch" not in result.stdout


def test_a_host_whose_arrays_differ_under_the_same_manifest_stops_the_job(
    hosts, prepared, tmp_path
):
    """w1 sees the launcher's manifest.json but another valid train_y.npy (labels shifted):
    its worker hashes the arrays before joining, and the job ends in one line."""
    shifted = tmp_path / "train_y.npy"
    np.save(
        shifted,
        np.roll(np.load(prepared / "train_y.npy", allow_pickle=False), 1),
        allow_pickle=False,
    )
    gluon, train = on_hosts(hosts, ["w1"], 2)
    directory = workspace(tmp_path / "job", prepared, train=train, gluon=gluon)
    with hosts[0].mount("--bind", shifted, target=prepared / "train_y.npy"):
        result = run_stage(directory)
    assert result.returncode == 1
    assert HOSTS_FAULTS["other arrays"].matches(result.stderr.removesuffix("\n")), result.stderr
    assert "Epoch" not in result.stdout


def test_a_temporary_experiment_trains_on_a_host_that_has_only_the_repository(
    hosts, reproduced_project
):
    """`dvc exp run --temp` runs the stage in .dvc/tmp/exps/..., which w1 cannot see here (an
    empty file system over it): its worker runs in the repository itself (DVC_ROOT), on its
    own data/prepared, with the experiment's params from the launcher, not w1's params.yaml
    (lr 0.1, not 0.2)."""
    project = reproduced_project
    project.set_params(
        gluon={
            "kvstore": "dist_sync",
            "workers": 2,
            "hosts": ["w1"],
            "ssh_config": str(hosts.ssh_config),
        },
        train={"lr": 0.1},
    )
    project.commit("train_gluon with a worker on w1")
    experiments = project.root / ".dvc" / "tmp" / "exps"
    experiments.mkdir(parents=True, exist_ok=True)
    with hosts[0].mount("-t", "tmpfs", "fmnist-test", target=experiments):
        output = project.dvc("exp", "run", "--temp", "-S", "train.lr=0.2", "train_gluon").stdout
    assert re.search(r"^started worker 1 \(pid \d+\) on w1 ", output, re.M), output
    assert "2 workers ended with identical weights" in output, output


def tree_digests(root, names) -> dict:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for name in names
        for p in sorted((root / name).rglob("*"))
        if p.is_file()
    }


def test_dvc_remote_over_ssh_round_trip(hosts, reproduced_project, tmp_path):
    """The remote is a directory on w1's own disk (a tmpfs only w1 sees), reached by DVC's
    ssh remote with its own settings in .dvc/config.local, and nothing from ~/.ssh."""
    project, root, host = reproduced_project, reproduced_project.root, hosts[0]
    (tmp_path / "home").mkdir()
    project.env.update(HOME=str(tmp_path / "home"))
    project.env.pop("SSH_AUTH_SOCK", None)
    outputs = ("data/raw", "data/prepared")
    before = tree_digests(root, outputs)
    disk = tmp_path / "w1-disk"
    disk.mkdir()
    settings = {
        "url": f"ssh://{host.address}{disk}/dvc-remote",
        "port": "2222",
        "user": "root",
        "keyfile": str(hosts.user_key),
    }
    for key, value in settings.items():
        project.dvc("remote", "modify", "--local", "storage", key, value)
    with host.mount("-t", "tmpfs", "-o", "size=64m", "fmnist-test", target=disk):
        project.dvc("push", "--with-deps", "preprocess")
        assert not any(disk.iterdir()), "the remote must be on w1's disk only"
        shutil.rmtree(root / ".dvc" / "cache")
        for name in outputs:
            shutil.rmtree(root / name)
        project.dvc("pull", "--with-deps", "preprocess")
        assert tree_digests(root, outputs) == before
        status = ("status", "--with-deps", "preprocess")
        assert "Data and pipelines are up to date" in project.dvc(*status).stdout
        assert "Cache and remote 'storage' are in sync" in project.dvc(*status, "--cloud").stdout
