"""Start a ps-lite job (scheduler, servers, workers) through the DMLC_* environment
variables, and watch it.

ps-lite has no failure handling: when one process dies the others wait for it for ever,
without a word. So the launcher polls every process; the first one that exits with an
error or a signal, or the job passing its time limit, stops all of them and becomes one
DistributedError saying which and how.
Each process runs in its own process group, so stopping it also stops anything it started,
and dies with its parent (fmnist.distributed.__main__), should the launcher itself be killed.

Placement: the scheduler, the servers and worker 0 run on this machine (worker 0 writes the
stage's outputs, where DVC expects them); workers 1.. go round-robin over gluon.hosts, over
ssh, or to this machine when gluon.hosts is empty (all on 127.0.0.1).
"""
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from . import DistributedError, per_worker_batch_size

LOOPBACK = "127.0.0.1"
DIGEST_LINE = re.compile(r"final weights sha256 ([0-9a-f]{64})")
STOP_GRACE_S = 3.0  # SIGTERM first; what still runs after this gets SIGKILL
POLL_S = 0.1


@dataclass(frozen=True)
class Node:
    name: str         # "scheduler", "server 0", "worker 1": how messages name it
    role: str         # DMLC_ROLE
    host: str | None  # reached over ssh; None: this machine
    address: str      # DMLC_NODE_HOST: where the other processes reach it
    argv: tuple


def free_port(address: str) -> int:
    """A port nothing listens on now, so that parallel jobs do not collide."""
    with socket.socket() as probe:
        probe.bind((address, 0))
        return probe.getsockname()[1]


def address_towards(host: str) -> str:
    """This machine's address on the route to `host` (a UDP connect sends nothing)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect((host, 9))
            return probe.getsockname()[0]
    except OSError as exc:
        raise DistributedError(f"gluon.hosts: cannot reach {host!r} ({exc}); list host names "
                               "or addresses this machine can reach") from None


def plan_nodes(workers: int, servers: int, hosts: tuple, stage_args: list) -> list[Node]:
    """stage_args: train_gluon's flags, passed on to every worker."""
    here = address_towards(hosts[0]) if hosts else LOOPBACK
    module = (sys.executable, "-m", "fmnist.distributed")
    nodes = [Node("scheduler", "scheduler", None, here, (*module, "scheduler"))]
    nodes += [Node(f"server {i}", "server", None, here, (*module, "server"))
              for i in range(servers)]
    for i in range(workers):
        host = hosts[(i - 1) % len(hosts)] if hosts and i > 0 else None
        argv = (*module, "worker", *stage_args, "--index", str(i))
        nodes.append(Node(f"worker {i}", "worker", host, host or here, argv))
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


def ssh_argv(host: str, env: dict, cwd: str, argv) -> list[str]:
    """Run argv on host in the same directory. -tt gives the remote process a terminal, so
    it gets SIGHUP when this ssh ends: stopping the ssh stops the remote worker."""
    assignments = " ".join(shlex.quote(f"{k}={v}") for k, v in env.items())
    command = f"cd {shlex.quote(cwd)} && exec env {assignments} {shlex.join(argv)}"
    return ["ssh", "-o", "BatchMode=yes", "-tt", host, command]


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        return f"was killed by signal {signal.Signals(-returncode).name}"
    return f"exited with code {returncode}"


class Job:
    def __init__(self, nodes: list[Node], port: int):
        self.nodes, self.env = nodes, job_environment(nodes, port)
        self.procs: dict[str, subprocess.Popen] = {}
        self.digests: dict[str, str] = {}
        self.readers: list[threading.Thread] = []
        self.started = time.monotonic()

    def start(self) -> None:
        for node in self.nodes:
            env = {**self.env, "DMLC_ROLE": node.role, "DMLC_NODE_HOST": node.address}
            argv = ssh_argv(node.host, env, os.getcwd(), node.argv) if node.host else node.argv
            try:
                proc = subprocess.Popen(argv, env={**os.environ, **env}, text=True,
                                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, start_new_session=True)
            except OSError as exc:  # e.g. no ssh client
                raise self._fail(f"{node.name} could not start ({exc})") from None
            self.procs[node.name] = proc
            print(f"started {node.name} (pid {proc.pid}) on {node.host or node.address}",
                  flush=True)
            reader = threading.Thread(target=self._relay, args=(node.name, proc.stdout),
                                      daemon=True)
            reader.start()
            self.readers.append(reader)

    def _relay(self, name: str, stream) -> None:
        """Each process's output, prefixed with its name; worker digests are kept."""
        for line in stream:
            line = line.rstrip("\r\n")
            if found := DIGEST_LINE.search(line):
                self.digests[name] = found.group(1)
            print(f"[{name}] {line}", flush=True)

    def _fail(self, what: str) -> DistributedError:
        running = [name for name, proc in self.procs.items() if proc.poll() is None]
        stopped = f"stopped {', '.join(running)}" if running else "nothing else was running"
        return DistributedError(
            f"distributed training failed: {what} after {time.monotonic() - self.started:.1f} s; "
            f"{stopped}. The output above has each process's lines prefixed with its name. "
            "ps-lite cannot carry on without a process: fix the cause and rerun.")

    def watch(self, timeout_s: float) -> None:
        """Return when every process has exited with 0; raise on the first failure."""
        while True:
            codes = {name: proc.poll() for name, proc in self.procs.items()}
            for name, code in codes.items():
                if code:
                    pid = self.procs[name].pid
                    raise self._fail(f"{name} (pid {pid}) {describe_exit(code)}")
            if all(code == 0 for code in codes.values()):
                return
            if time.monotonic() - self.started > timeout_s:
                raise self._fail(f"the job passed its time limit of {timeout_s:g} s "
                                 "(gluon.timeout_s)")
            time.sleep(POLL_S)

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
        for reader in self.readers:
            reader.join(timeout=STOP_GRACE_S)

    def check_digests(self) -> None:
        workers = [n.name for n in self.nodes if n.role == "worker"]
        missing = [w for w in workers if w not in self.digests]
        if missing:
            raise DistributedError(f"{', '.join(missing)} ended without reporting its weights")
        if len({self.digests[w] for w in workers}) != 1:
            raise DistributedError("the workers ended with different weights: " + ", ".join(
                f"{w} {self.digests[w][:12]}" for w in workers))


def _signal_group(proc: subprocess.Popen, signum) -> None:
    try:
        os.killpg(proc.pid, signum)
    except ProcessLookupError:
        pass


def run_job(stage_args: list, workers: int, hosts=(), servers: int = 1,
            timeout_s: float = 600.0) -> dict[str, str]:
    """Run the job to its end; return each worker's weights digest (all equal)."""
    nodes = plan_nodes(workers, servers, tuple(hosts), stage_args)
    job = Job(nodes, free_port(nodes[0].address))
    try:
        job.start()
        job.watch(timeout_s)
    finally:
        job.stop()  # also on Ctrl-C or SIGTERM of the stage: leave no process behind
    job.check_digests()
    print(f"{workers} workers ended with identical weights (sha256 "
          f"{job.digests['worker 0'][:12]}...) in {time.monotonic() - job.started:.1f} s",
          flush=True)
    return dict(job.digests)


def train_on_parameter_server(gluon_params, train_params, stage_args: list) -> None:
    """The train_gluon stage with gluon.kvstore: dist_sync; the workers get its flags."""
    per_worker_batch_size(train_params.batch_size, gluon_params.workers)  # before any start
    run_job(stage_args, gluon_params.workers, gluon_params.hosts,
            timeout_s=gluon_params.timeout_s)
