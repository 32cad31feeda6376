"""Data-parallel training of the Gluon model on MXNet's parameter server (ps-lite).

`launcher` starts and watches the job's processes (scheduler, servers, workers) and never
imports MXNet; `worker` is what each worker process runs (`python -m fmnist.distributed
worker ...`). The checks of how params combine live here: the stage makes them before any
process starts, and the worker splits the global batch.
"""

from .. import FmnistError


class DistributedError(FmnistError):
    pass


def per_worker_batch_size(batch_size: int, workers: int) -> int:
    """train.batch_size stays the global batch: each of the N workers takes 1/N of it, and
    the server sums their gradients, so one step sees as many examples as one process does."""
    if batch_size % workers:
        raise DistributedError(
            f"train.batch_size ({batch_size}) must be a multiple of gluon.workers ({workers}): "
            "each worker trains on an equal part of every batch; change one of them"
        )
    return batch_size // workers


def check_hosts(workers: int, hosts: tuple) -> None:
    """Worker 0 always runs here (it writes the stage's outputs) and workers 1..N-1 go
    round-robin over gluon.hosts, so a host beyond the (N-1)-th would get no worker: the
    user meant it to train, and nothing would say that it does not."""
    if len(hosts) > workers - 1:
        raise DistributedError(
            f"gluon.hosts lists {len(hosts)} host(s) but only {workers - 1} worker(s) run on "
            f"other hosts (gluon.workers is {workers}; worker 0 runs on this machine and "
            "writes the outputs); list at most gluon.workers - 1 hosts or raise gluon.workers"
        )


# Peak resident memory of one dist_sync worker training on Fashion-MNIST on loopback (it loads
# the whole prepared set, then trains on its shard): 558, 556, 470 and 425 MB per worker with
# 1, 2, 4 and 8 workers; the scheduler and the server together: 230 MB.
WORKER_MB = 560
SCHEDULER_AND_SERVER_MB = 230


def memory_available_mb(meminfo="/proc/meminfo") -> float | None:
    try:
        with open(meminfo) as table:
            for line in table:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_workers_fit(workers: int, hosts: tuple, meminfo="/proc/meminfo") -> None:
    """The workers this machine runs (all of them on loopback; worker 0 when gluon.hosts
    lists hosts) must fit in its available memory: `workers: 256` would start 258 processes
    needing 140 GB, and the kernel would kill some halfway through the job."""
    here = workers if not hosts else 1
    available = memory_available_mb(meminfo)
    if available is None:
        return
    fit = max(0, int((available - SCHEDULER_AND_SERVER_MB) // WORKER_MB))
    if here > fit:
        raise DistributedError(
            f"gluon.workers is {workers}: {here} dist_sync workers on this machine need about "
            f"{(here * WORKER_MB + SCHEDULER_AND_SERVER_MB) / 1024:.1f} GB ({WORKER_MB} MB "
            f"each, measured on Fashion-MNIST, and {SCHEDULER_AND_SERVER_MB} MB for the "
            f"scheduler and server) but {available / 1024:.1f} GB is available; at most {fit} "
            "fit here: lower gluon.workers, or list gluon.hosts to run workers 1.. there"
        )
