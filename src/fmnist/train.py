"""The one training loop both models share.

Speed: the training set is one NDArray; each epoch gathers it once, in a seeded random
order, into a reused buffer, and batches are views into it. Loss and accuracy stay on the
MXNet side and reach the host once per epoch, so MXNet's async engine is never stalled.
"""
import math
import time
from dataclasses import dataclass

import numpy as np
from mxnet import autograd, nd

from . import FmnistError
from .data import Dataset
from .params import TrainParams


class DivergenceError(FmnistError):
    pass


@dataclass(frozen=True)
class EpochStats:
    epoch: int             # 1-based
    loss: float            # mean training cross-entropy over the epoch
    train_accuracy: float  # on the batches as they were trained
    test_accuracy: float
    seconds: float         # training wall time of the epoch, without the test pass
    samples_per_second: float

    def line(self) -> str:
        """The tutorial's per-epoch line, plus timing."""
        return (f"Epoch {self.epoch}. Loss: {self.loss:.6f}, Train acc {self.train_accuracy:.6f}, "
                f"Test acc {self.test_accuracy:.6f} ({self.seconds:.3f} s, "
                f"{self.samples_per_second:,.0f} samples/s)")


def learning_rate(params: TrainParams, step: int, total_steps: int) -> float:
    if params.lr_schedule == "cosine":
        return params.lr * 0.5 * (1 + math.cos(math.pi * step / total_steps))
    return params.lr


def batch_bounds(n: int, batch_size: int) -> list[tuple[int, int]]:
    return [(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]


def check_finite(batch_losses: np.ndarray, epoch: int, lr: float) -> None:
    bad = ~np.isfinite(batch_losses)
    if bad.any():
        batch = int(np.argmax(bad)) + 1
        raise DivergenceError(
            f"training diverged: the loss became {batch_losses[batch - 1]} at epoch {epoch}, "
            f"batch {batch} of {len(batch_losses)}; lower train.lr (now {lr:g}) in params.yaml, "
            "e.g. to 0.1. No model was written.")


def accuracy_of(model, x, y) -> nd.NDArray:
    return (model.forward(x).argmax(axis=1) == y).mean()


def train(model, data: Dataset, params: TrainParams, on_epoch=print) -> list[EpochStats]:
    rng = np.random.RandomState(params.seed)
    train_x, train_y = nd.array(data.train_x), nd.array(data.train_y, dtype="float32")
    test_x, test_y = nd.array(data.test_x), nd.array(data.test_y, dtype="float32")
    n = len(data.train_y)
    bounds = batch_bounds(n, params.batch_size)
    x_epoch, y_epoch = nd.empty(train_x.shape), nd.empty(train_y.shape)
    batch_losses = nd.empty((len(bounds),))
    history, total_steps = [], params.epochs * len(bounds)
    for epoch in range(1, params.epochs + 1):
        started = time.perf_counter()
        order = nd.array(rng.permutation(n), dtype="int32")
        nd.take(train_x, order, axis=0, out=x_epoch)
        nd.take(train_y, order, axis=0, out=y_epoch)
        correct = nd.zeros((1,))
        for i, (start, stop) in enumerate(bounds):
            x, y = x_epoch[start:stop], y_epoch[start:stop]
            with autograd.record():
                logits = model.forward(x)
                loss = model.loss(logits, y)
            loss.backward()
            lr = learning_rate(params, (epoch - 1) * len(bounds) + i, total_steps)
            model.step(lr, stop - start)
            batch_losses[i] = loss.sum()
            correct += (logits.argmax(axis=1) == y).sum()
        losses = batch_losses.asnumpy()  # the one host sync of the epoch
        seconds = time.perf_counter() - started
        check_finite(losses, epoch, params.lr)
        stats = EpochStats(epoch, float(losses.sum() / n), float(correct.asscalar() / n),
                           float(accuracy_of(model, test_x, test_y).asscalar()),
                           seconds, n / seconds)
        on_epoch(stats)
        history.append(stats)
    return history
