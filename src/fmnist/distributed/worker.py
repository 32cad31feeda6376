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

from ..data import Dataset, load_prepared
from ..models.gluon import GluonSoftmax
from ..params import load_params
from ..stage_train import write_outputs
from ..train import check_batch_size, train
from . import DistributedError, per_worker_batch_size


def shard(data: Dataset, index: int, workers: int) -> Dataset:
    """Every workers-th training example from `index` on. All shards have the same size (up to
    workers - 1 examples are left out), because dist_sync needs every worker to make the same
    number of steps: one missing push and all the others wait for ever."""
    per_worker = len(data.train_y) // workers
    if per_worker == 0:
        raise DistributedError(f"{len(data.train_y)} training examples cannot be shared "
                               f"by {workers} workers; lower gluon.workers")
    picked = slice(index, per_worker * workers, workers)
    return dataclasses.replace(data, train_x=data.train_x[picked], train_y=data.train_y[picked])


class WorkerModel:
    """GluonSoftmax on one worker. The batch train() passes is this worker's part only;
    the update uses the sum of all workers' gradients, exchanged through the kvstore."""

    def __init__(self, model: GluonSoftmax, kvstore):
        self.model, self.kvstore, self.workers = model, kvstore, kvstore.num_workers
        self.params = list(model.net.collect_params().values())
        for key, param in enumerate(self.params):
            kvstore.init(key, param.data())  # the server keeps rank 0's value...
            kvstore.pull(key, out=param.data())  # ...and every worker starts from it

    def step(self, lr: float, batch_size: int) -> None:
        # Separate push and pull, not pushpull (what gluon.Trainer uses with a kvstore):
        # with pushpull, MXNet 1.9.1's server sometimes answers with a sum it has not
        # finished, and the run diverges (seen in 3 of 8 runs on 60k examples).
        for key, param in enumerate(self.params):
            self.kvstore.push(key, param.grad(), priority=-key)
            self.kvstore.pull(key, out=param.grad(), priority=-key)
        # Shards and per-worker batches are equal, so every worker's i-th batch has this size.
        self.model.step(lr, batch_size * self.workers)

    def __getattr__(self, name):  # forward, loss, save, export, net: the model's own
        return getattr(self.model, name)


def weights_digest(net) -> str:
    """sha256 of the weights, in parameter order: equal digests mean identical weights."""
    digest = hashlib.sha256()
    for param in net.collect_params().values():
        digest.update(param.data().asnumpy().tobytes())
    return digest.hexdigest()


def run_worker(index: int, prepared_dir, model_path, export_prefix, live_dir):
    """index: this worker's place in the job (0..N-1), given by the launcher. It picks the
    shard (not ps-lite's rank, which the scheduler hands out in no fixed order), so the
    same params give the same files; worker 0 writes them."""
    params = load_params()
    kvstore = mx.kv.create("dist_sync")  # blocks until the whole job has registered
    workers = kvstore.num_workers
    if not 0 <= index < workers:
        raise DistributedError(f"worker index {index} is outside a job of {workers} workers")
    train_params = dataclasses.replace(
        params.train, batch_size=per_worker_batch_size(params.train.batch_size, workers))
    data = load_prepared(prepared_dir)
    # The global batch against the whole set: train() would only see this worker's parts.
    check_batch_size(params.train.batch_size, len(data.train_y))
    data = shard(data, index, workers)
    print(f"ps-lite rank {kvstore.rank} of {workers}: {len(data.train_y)} training examples, "
          f"batches of {train_params.batch_size}", flush=True)
    # Same seed everywhere: the same order of batches within each shard. The trainer has no
    # kvstore of its own: it updates locally from the summed gradients WorkerModel pulls.
    model = WorkerModel(GluonSoftmax.create(params.gluon, train_params, kvstore=None), kvstore)
    writer = index == 0
    history = train(model, data, train_params,
                    on_epoch=lambda s: print(s.line(), flush=True) if writer else None)
    print(f"final weights sha256 {weights_digest(model.net)}", flush=True)
    if writer:  # all workers hold the same weights; one writes, atomically
        # (loss and train accuracy in the history are over worker 0's shard)
        write_outputs(model, history, model_path, live_dir, export_prefix)
