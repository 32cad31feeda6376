"""Data-parallel training of the Gluon model on MXNet's parameter server (ps-lite).

`launcher` starts and watches the job's processes (scheduler, servers, workers) and never
imports MXNet; `worker` is what each worker process runs (`python -m fmnist.distributed
worker ...`). The split of the global batch lives here because both sides need it.
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
            "each worker trains on an equal part of every batch; change one of them")
    return batch_size // workers
