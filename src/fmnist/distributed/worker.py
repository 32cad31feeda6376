"""One worker of a dist_sync job: its shard of the training set, the shared loop, and
(worker 0 only) the stage's outputs.

How the result stays comparable with one process: every worker trains on an equal, disjoint
shard with batches of train.batch_size / N; after each batch the server sums the N workers'
gradients and every worker pulls that sum and applies the same SGD update to the same
weights, scaled by 1 / train.batch_size. So a step is one process's step on a batch of
train.batch_size, at the same learning rate.
"""

import dataclasses
import hashlib

import mxnet as mx
from mxnet import nd

from ..lesson.gluon import GluonSoftmax
from ..params import Params
from ..prepared import (
    TRAINING_SPLITS,
    Dataset,
    arrays_unlike_manifest,
    load_prepared,
    prepared_digest,
)
from ..training_stage import TrainingOutputs, check_batch_fits, run_training
from . import DistributedError, per_worker_batch_size


def shard(data: Dataset, index: int, workers: int) -> Dataset:
    """Every workers-th training example from `index` on. All shards have the same size (up to
    workers - 1 examples are left out), because dist_sync needs every worker to make the same
    number of steps: one missing push and all the others wait for ever."""
    per_worker = len(data.train_y) // workers
    if per_worker == 0:
        raise DistributedError(
            f"{len(data.train_y)} training examples cannot be shared "
            f"by {workers} workers; lower gluon.workers"
        )
    picked = slice(index, per_worker * workers, workers)
    return dataclasses.replace(data, train_x=data.train_x[picked], train_y=data.train_y[picked])


class WorkerModel:
    """GluonSoftmax on one worker. The batch train() passes is this worker's part only;
    the update uses the sum of all workers' gradients, exchanged through the kvstore.

    The server adds the workers' pushes in the order they arrive. For two workers that is
    harmless (a + b == b + a, bit for bit), but float addition is not associative: with 3
    workers every run ended with other weights. So from 3 workers on, the sum is made on
    each worker, in worker order: each pushes an (N, ...) array holding its gradient in its
    own row and zeros in the others; the server's sum of those is exact (x + 0 = x), and
    every worker adds up the rows in row order. (Not used for 2 workers: the extra copies
    cost 40% of an epoch, 0.34 -> 0.48 s on the real data.)"""

    def __init__(self, model: GluonSoftmax, kvstore, index: int):
        self.model, self.kvstore, self.index = model, kvstore, index
        self.workers = kvstore.num_workers
        self.params = list(model.net.collect_params().values())
        self.rows = []  # per param, from 3 workers on: (N, ...) for the exchange
        for key, param in enumerate(self.params):
            kvstore.init(key, param.data())  # the server keeps rank 0's value...
            kvstore.pull(key, out=param.data())  # ...and every worker starts from it
            if self.workers > 2:
                self.rows.append(nd.zeros((self.workers, *param.shape), dtype=param.dtype))
                kvstore.init(self._rows_key(key), self.rows[key])

    def _rows_key(self, key: int) -> int:
        return len(self.params) + key

    def step(self, lr: float, batch_size: int) -> None:
        # Separate push and pull, not pushpull (what gluon.Trainer uses with a kvstore):
        # with pushpull, MXNet 1.9.1's server sometimes answers with a sum it has not
        # finished, and the run diverges (seen in 3 of 8 runs on 60k examples).
        if self.rows:
            self._sum_rows_here()
        else:
            for key, param in enumerate(self.params):
                self.kvstore.push(key, param.grad(), priority=-key)
                self.kvstore.pull(key, out=param.grad(), priority=-key)
        # Shards and per-worker batches are equal, so every worker's i-th batch has this size.
        self.model.step(lr, batch_size * self.workers)

    def _sum_rows_here(self) -> None:
        # The pull fills `rows` with every worker's row (with one device MXNet also uses the
        # pushed array as its receive buffer): the other rows are zeroed again before a push.
        for key, (param, rows) in enumerate(zip(self.params, self.rows, strict=True)):
            rows[:] = 0
            rows[self.index] = param.grad()
            self.kvstore.push(self._rows_key(key), rows, priority=-key)
            self.kvstore.pull(self._rows_key(key), out=rows, priority=-key)
        for param, rows in zip(self.params, self.rows, strict=True):
            nd.sum(rows, axis=0, out=param.grad())

    def __getattr__(self, name):  # net, forward, loss_and_correct: the model's own
        return getattr(self.model, name)


def weights_digest(net) -> str:
    """sha256 of the weights, in parameter order: equal digests mean identical weights."""
    digest = hashlib.sha256()
    for param in net.collect_params().values():
        digest.update(param.data().asnumpy().tobytes())
    return digest.hexdigest()


def check_same_data(prepared_dir, launchers_digest: str) -> None:
    """Workers on other hosts read their own copy of the prepared data: it must be the
    launcher's, or the shards (and step counts) silently differ."""
    same_data = (
        "give every host the same prepared data: `make pull` from the shared DVC remote, "
        "or a shared file system"
    )
    digest = prepared_digest(prepared_dir)
    if digest != launchers_digest:
        raise DistributedError(
            f"{prepared_dir} on this worker's host is not the launcher's (manifest sha256 "
            f"{digest[:12]}... here, {launchers_digest[:12]}... there); {same_data}"
        )
    if changed := arrays_unlike_manifest(prepared_dir):  # the arrays themselves, not the list
        raise DistributedError(
            f"{prepared_dir} on this worker's host holds {', '.join(changed)} unlike its "
            f"manifest.json (another sha256); {same_data}"
        )


def run_worker(
    index: int,
    params: Params,
    data_digest: str,
    prepared_dir,
    model_path,
    onnx_path,
    export_prefix,
    live_dir,
):
    """index: this worker's place in the job (0..N-1), given by the launcher. It picks the
    shard (not ps-lite's rank, which the scheduler hands out in no fixed order), so the
    same params give the same files; worker 0 writes them. params and data_digest are the
    launcher's; checked before joining, so a mismatch ends the job before any training."""
    check_same_data(prepared_dir, data_digest)
    kvstore = mx.kv.create("dist_sync")  # blocks until the whole job has registered
    workers = kvstore.num_workers
    if not 0 <= index < workers:
        raise DistributedError(f"worker index {index} is outside a job of {workers} workers")
    train_params = dataclasses.replace(
        params.train, batch_size=per_worker_batch_size(params.train.batch_size, workers)
    )
    data = load_prepared(prepared_dir, TRAINING_SPLITS)
    # The global batch against the whole set: training would only see this worker's parts.
    check_batch_fits(params.train, len(data.train_y))
    data = shard(data, index, workers)
    print(
        f"ps-lite rank {kvstore.rank} of {workers}: {len(data.train_y)} training examples, "
        f"batches of {train_params.batch_size}",
        flush=True,
    )
    # Same seed everywhere: the same order of batches within each shard. The trainer has no
    # kvstore of its own: it updates locally from the summed gradients WorkerModel pulls.
    model = WorkerModel(
        GluonSoftmax.create(params.gluon, train_params, kvstore=None), kvstore, index
    )
    # All workers end with the same weights; worker 0 prints the epochs and writes the
    # outputs, as the stage does (loss and train accuracy in its history are over its shard).
    writer = index == 0
    outputs = TrainingOutputs(model_path, onnx_path, live_dir, export_prefix) if writer else None
    run_training(model, train_params, data, outputs, echo=writer)
    print(f"final weights sha256 {weights_digest(model.net)}", flush=True)
