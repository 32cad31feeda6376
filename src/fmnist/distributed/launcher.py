"""Start a ps-lite job (scheduler, servers, workers) through the DMLC_* environment
variables, and watch it.

ps-lite has no failure handling: when one process dies the others wait for it for ever,
without a word. So the launcher polls every process; the first one that exits with an
error or a signal, or the job passing its time limit, stops all of them and becomes one
DistributedError saying which and how.
Each process runs in its own process group, so stopping it also stops anything it started,
and dies with its parent (fmnist.distributed.__main__), should the launcher itself be killed.

A worker that finishes early is no safer: when one worker is done (its weights reported, or
exited 0) while another is still training, the one behind waits in ps-lite for ever for
pushes that never come, so that too stops the job.

Placement: the scheduler, the servers and worker 0 run on this machine (worker 0 writes the
stage's outputs, where DVC expects them); workers 1.. go round-robin over gluon.hosts, over
ssh, or to this machine when gluon.hosts is empty (all on 127.0.0.1).

Config: the launcher owns it. Every worker gets the launcher's resolved params (as JSON in
its arguments) and the digest of the launcher's prepared data; workers never read a
params.yaml, so `dvc exp run -S` and temporary experiment directories reach every host.
Code and data are each host's own, at this repository's path (`repository_path`).
"""

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from ..params import Params, params_json
from ..prepared import prepared_digest
from . import DistributedError, check_workers_fit, per_worker_batch_size
from .ssh import Route, probe_host, remote_command, ssh_argv

LOOPBACK = "127.0.0.1"
DIGEST_LINE = re.compile(r"final weights sha256 ([0-9a-f]{64})")
ERROR_LINE = re.compile(
    r"^train_gluon \w+: error: "
)  # fmnist.guards.stage_runner's one line of a failure
STOP_GRACE_S = 3.0  # SIGTERM first; what still runs after this gets SIGKILL
# Workers leave their last step together (it waits for every worker's push), so all report
# their weights within moments; one done this long before another has not made its steps.
EARLY_EXIT_GRACE_S = 5.0
POLL_S = 0.1
FORWARDED = ("PYTHONPATH",)  # the same code on the other host, where it is set here


@dataclass(frozen=True)
class Node:
    name: str  # "scheduler", "server 0", "worker 1": how messages name it
    role: str  # DMLC_ROLE
    host: str | None  # a gluon.hosts entry, reached over ssh; None: this machine
    address: str  # DMLC_NODE_HOST: where the other processes reach it
    argv: tuple

    def label(self, pid: int) -> str:
        return (
            f"{self.name} on {self.host} (ssh pid {pid})"
            if self.host
            else f"{self.name} (pid {pid})"
        )


def free_port(address: str) -> int:
    """A port nothing listens on now, so that parallel jobs do not collide."""
    with socket.socket() as probe:
        probe.bind((address, 0))
        return probe.getsockname()[1]


def plan_nodes(
    workers: int, servers: int, routes: dict[str, Route], worker_args: list
) -> list[Node]:
    """routes: gluon.hosts in order, each with its addresses (probe_host); worker_args: the
    flags every worker gets. This machine's address is the one the first host sees: every
    host must reach the scheduler and the servers there."""
    hosts = list(routes)
    here = routes[hosts[0]].here if hosts else LOOPBACK
    module = (sys.executable, "-m", "fmnist.distributed")
    nodes = [Node("scheduler", "scheduler", None, here, (*module, "scheduler"))]
    nodes += [
        Node(f"server {i}", "server", None, here, (*module, "server")) for i in range(servers)
    ]
    for i in range(workers):
        host = hosts[(i - 1) % len(hosts)] if hosts and i > 0 else None
        argv = (*module, "worker", *worker_args, "--index", str(i))
        address = routes[host].there if host else here
        nodes.append(Node(f"worker {i}", "worker", host, address, argv))
    return nodes


def job_environment(nodes: list[Node], port: int) -> dict:
    return {
        "DMLC_PS_ROOT_URI": nodes[0].address,
        "DMLC_PS_ROOT_PORT": str(port),
        "DMLC_NUM_SERVER": str(sum(n.role == "server" for n in nodes)),
        "DMLC_NUM_WORKER": str(sum(n.role == "worker" for n in nodes)),
        "PYTHONUNBUFFERED": "1",  # output reaches the log as it happens
        "PYTHONWARNINGS": "ignore::DeprecationWarning",  # mxnet's numpy-alias noise, per process
    }


def describe_exit(node: Node, returncode: int) -> str:
    if returncode < 0:
        return f"was killed by signal {signal.Signals(-returncode).name}"
    if node.host and returncode == 255:
        return (
            "ended with code 255 (its ssh lost the connection, or the process on "
            f"{node.host} was killed)"
        )
    return f"exited with code {returncode}"


def repository_path() -> str:
    """Where workers on other hosts run. A `dvc exp run --temp` or queued experiment runs the
    stage in a temporary copy that exists only here; DVC_ROOT, which DVC sets for every
    stage, names the repository it came from (train_gluon runs at the root: no wdir)."""
    return os.environ.get("DVC_ROOT") or os.getcwd()


class Job:
    def __init__(self, nodes: list[Node], port: int, ssh_config: str = ""):
        self.nodes, self.env = nodes, job_environment(nodes, port)
        self.ssh_config = ssh_config
        self.procs: dict[str, subprocess.Popen] = {}
        self.digests: dict[str, str] = {}
        self.errors: dict[str, str] = {}  # each process's last error line
        self.readers: dict[str, threading.Thread] = {}
        self.output = threading.Lock()  # one relay thread per process: whole lines only
        self.started = time.monotonic()
        self.early_since: float | None = None

    def _argv(self, node: Node, env: dict) -> list[str]:
        if not node.host:
            return list(node.argv)
        forwarded = {k: os.environ[k] for k in FORWARDED if k in os.environ}
        command = remote_command(repository_path(), {**env, **forwarded}, node.argv)
        return ssh_argv(node.host, self.ssh_config, command)

    def start(self) -> None:
        for node in self.nodes:
            env = {**self.env, "DMLC_ROLE": node.role, "DMLC_NODE_HOST": node.address}
            try:
                proc = subprocess.Popen(
                    self._argv(node, env),
                    env={**os.environ, **env},
                    text=True,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as exc:  # e.g. no ssh client
                raise self._fail(f"{node.name} could not start ({exc})") from None
            self.procs[node.name] = proc
            where = f"{node.host} ({node.address})" if node.host else node.address
            self._say(f"started {node.name} (pid {proc.pid}) on {where}")
            reader = threading.Thread(
                target=self._relay, args=(node.name, proc.stdout), daemon=True
            )
            reader.start()
            self.readers[node.name] = reader

    def _relay(self, name: str, stream) -> None:
        """Each process's output, prefixed with its name; worker digests and the last
        error line (for the job's own one-line message) are kept."""
        for line in stream:
            line = line.rstrip("\r\n")
            if found := DIGEST_LINE.search(line):
                self.digests[name] = found.group(1)
            if ERROR_LINE.match(line):
                self.errors[name] = line
            self._say(f"[{name}] {line}")

    def _say(self, line: str) -> None:
        """print() writes the text and the newline separately: lines of two processes
        relayed at the same moment could run into each other."""
        with self.output:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def _fail(self, what: str) -> DistributedError:
        running = [name for name, proc in self.procs.items() if proc.poll() is None]
        stopped = f"stopped {', '.join(running)}" if running else "nothing else was running"
        return DistributedError(
            f"distributed training failed after {time.monotonic() - self.started:.1f} s: {what}; "
            f"{stopped}. The output above has each process's lines prefixed with its name. "
            "ps-lite cannot carry on without a process: fix the cause and rerun."
        )

    def watch(self, timeout_s: float) -> None:
        """Return when every process has exited with 0; raise on the first failure."""
        while True:
            codes = {node: self.procs[node.name].poll() for node in self.nodes}
            for node, code in codes.items():
                if code:
                    raise self._fail(self._failed(node, code))
            if all(code == 0 for code in codes.values()):
                return
            self._check_early_exit([node for node, code in codes.items() if code == 0])
            if time.monotonic() - self.started > timeout_s:
                raise self._fail(
                    f"the job passed its time limit of {timeout_s:g} s (gluon.timeout_s)"
                )
            time.sleep(POLL_S)

    def _failed(self, node: Node, code: int) -> str:
        self.readers[node.name].join(timeout=STOP_GRACE_S)  # its last lines, error included
        said = f", saying: {self.errors[node.name]}" if node.name in self.errors else ""
        return f"{node.label(self.procs[node.name].pid)} {describe_exit(node, code)}{said}"

    def _check_early_exit(self, exited: list[Node]) -> None:
        """A worker done (weights reported, or exited 0) while another has not reported its
        weights for EARLY_EXIT_GRACE_S: they did not make the same number of steps, and the
        one behind waits in ps-lite for ever (and the one ahead at its exit barrier)."""
        workers = [n for n in self.nodes if n.role == "worker"]
        done = [n for n in workers if n.name in self.digests] + [
            n for n in exited if n.name not in self.digests
        ]
        behind = [n.name for n in workers if n.name not in self.digests]
        if not (done and behind):
            self.early_since = None
        elif self.early_since is None:
            self.early_since = time.monotonic()
        elif time.monotonic() - self.early_since > EARLY_EXIT_GRACE_S:
            ahead = done[0]
            raise self._fail(
                f"{ahead.label(self.procs[ahead.name].pid)} finished training but "
                f"{', '.join(behind)} had not {EARLY_EXIT_GRACE_S:g} s later (every worker "
                "must make the same number of steps, or ps-lite waits for ever)"
            )

    def stop(self) -> None:
        """SIGTERM to every group still running, SIGKILL after a grace period; reap all."""
        running = [proc for proc in self.procs.values() if proc.poll() is None]
        for proc in running:
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for proc in running:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
        for reader in self.readers.values():
            reader.join(timeout=STOP_GRACE_S)

    def check_digests(self) -> None:
        workers = [n.name for n in self.nodes if n.role == "worker"]
        missing = [w for w in workers if w not in self.digests]
        if missing:
            raise DistributedError(f"{', '.join(missing)} ended without reporting its weights")
        if len({self.digests[w] for w in workers}) != 1:
            raise DistributedError(
                "the workers ended with different weights: "
                + ", ".join(f"{w} {self.digests[w][:12]}" for w in workers)
            )


def _signal_group(proc: subprocess.Popen, signum) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signum)


def run_job(nodes: list[Node], ssh_config: str = "", timeout_s: float = 600.0) -> dict[str, str]:
    """Run the job to its end; return each worker's weights digest (all equal)."""
    job = Job(nodes, free_port(nodes[0].address), ssh_config)
    try:
        job.start()
        job.watch(timeout_s)
    finally:
        job.stop()  # also on Ctrl-C or SIGTERM of the stage: leave no process behind
    job.check_digests()
    workers = len(job.digests)
    print(
        f"{workers} workers ended with identical weights (sha256 "
        f"{job.digests['worker 0'][:12]}...) in {time.monotonic() - job.started:.1f} s",
        flush=True,
    )
    return dict(job.digests)


def reach_hosts(hosts: tuple, ssh_config: str) -> dict[str, Route]:
    routes = {}
    for host in hosts:
        routes[host] = route = probe_host(host, ssh_config, repository_path(), sys.executable)
        print(f"host {host}: at {route.there}, reaches this machine at {route.here}", flush=True)
    return routes


def train_on_parameter_server(params: Params, prepared_dir, stage_args: list) -> None:
    """The train_gluon stage with gluon.kvstore: dist_sync. Every worker gets the stage's
    flags, the launcher's params and the digest of its prepared data."""
    gluon = params.gluon
    per_worker_batch_size(params.train.batch_size, gluon.workers)  # all before any start
    check_workers_fit(gluon.workers, gluon.hosts)
    worker_args = [
        *stage_args,
        "--params",
        params_json(params),
        "--data-digest",
        prepared_digest(prepared_dir),
    ]
    routes = reach_hosts(gluon.hosts, gluon.ssh_config)
    nodes = plan_nodes(gluon.workers, 1, routes, worker_args)
    run_job(nodes, gluon.ssh_config, timeout_s=gluon.timeout_s)
