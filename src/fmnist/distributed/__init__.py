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
