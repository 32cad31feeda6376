"""The one training loop both models share.

Speed: the training set is one NDArray; each epoch gathers it once, in a seeded random
order, into a reused buffer, and batches are views into it. A batch is one call of the
model's compiled graph, backward and one update; its per-example loss and correctness stay
on the MXNet side in a list, and are joined and copied to the host once per epoch, so
MXNet's asynchronous engine is never stalled. The per-batch losses still locate where
training diverged.
"""

import math
import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from mxnet import autograd, nd


class TrainingData(Protocol):
    """What train() reads of the data (the pipeline's fmnist.prepared.Dataset)."""

    train_x: np.ndarray  # float32 (N, 784) in [0, 1]
    train_y: np.ndarray  # integer labels (N,) in 0-9
    val_x: np.ndarray  # held out of the training images; the test set is not read here
    val_y: np.ndarray


class TrainingSettings(Protocol):
    """What train() reads of the settings (the pipeline's train section of params.yaml)."""

    batch_size: int
    epochs: int
    lr: float
    lr_schedule: str  # "constant" or "cosine" (decays per batch to 0 over the run)
    seed: int  # of the batch order


# With a stable loss, softmax regression does not overflow when the learning rate is far too
# high: the loss grows in proportion to it instead (lr 1000 gives batch losses ~1e4 on
# Fashion-MNIST, still finite). So a batch loss this many times the first batch's also
# counts as diverged. lr 1, already too high, peaks near 8x; lr 10 near 100x.
DIVERGENCE_FACTOR = 100.0


class DivergenceError(ArithmeticError):
    """A batch whose mean loss was not finite, or DIVERGENCE_FACTOR times the first's."""

    def __init__(self, epoch: int, batch: int, batches: int, loss: float, first_loss: float):
        super().__init__(
            f"training diverged at epoch {epoch}, batch {batch} of {batches}: its mean loss "
            f"was {loss:.4g} (the first batch's: {first_loss:.4g})"
        )


class BatchTooLargeError(ValueError):
    """A batch larger than the training set would silently be the whole set: one step per
    epoch (test accuracy 0.65 instead of 0.81 on Fashion-MNIST after 5 epochs)."""

    def __init__(self, batch_size: int, train_size: int):
        super().__init__(
            f"batch_size must be at most {train_size}, the size of the training set, got "
            f"{batch_size}; a larger batch would be the whole set, one step per epoch"
        )


@dataclass(frozen=True)
class EpochStats:
    epoch: int  # 1-based
    loss: float  # mean training cross-entropy over the epoch
    train_accuracy: float  # on the batches as they were trained
    val_loss: float  # mean cross-entropy on the validation set, after the epoch
    val_accuracy: float
    seconds: float  # training wall time of the epoch, without the validation pass
    samples_per_second: float

    def line(self) -> str:
        """The tutorial's per-epoch line (its test accuracy is the validation set's here),
        plus the validation loss and timing."""
        return (
            f"Epoch {self.epoch}. Loss: {self.loss:.6f}, Train acc {self.train_accuracy:.6f}, "
            f"Val loss {self.val_loss:.6f}, Val acc {self.val_accuracy:.6f} "
            f"({self.seconds:.3f} s, {self.samples_per_second:,.0f} samples/s)"
        )


# MXNet takes a learning rate as a float32 and refuses one between 0 and float32's smallest
# normal number. The cosine schedule's last steps can get there (train.lr 1e-30 times a
# factor of 5e-17), where a step changes nothing anyway: those become 0.
FLOAT32_TINY = float(np.finfo(np.float32).tiny)


def learning_rate(params: TrainingSettings, step: int, total_steps: int) -> float:
    if params.lr_schedule == "cosine":
        lr = params.lr * 0.5 * (1 + math.cos(math.pi * step / total_steps))
        return lr if lr >= FLOAT32_TINY else 0.0
    return params.lr


def check_batch_size(batch_size: int, train_size: int) -> None:
    if batch_size > train_size:
        raise BatchTooLargeError(batch_size, train_size)


def batch_bounds(n: int, batch_size: int) -> list[tuple[int, int]]:
    return [(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]


def batch_means(example_losses: np.ndarray, bounds) -> np.ndarray:
    starts = [start for start, _ in bounds]
    sizes = np.array([stop - start for start, stop in bounds])
    return np.add.reduceat(example_losses.astype(np.float64), starts) / sizes


def check_divergence(batch_losses: np.ndarray, first_loss: float, epoch: int) -> None:
    """Raise at the first batch whose mean loss is non-finite or DIVERGENCE_FACTOR times
    first_loss (the mean loss of the run's first batch)."""
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(batch_losses) | (batch_losses > DIVERGENCE_FACTOR * first_loss)
    if bad.any():
        batch = int(np.argmax(bad)) + 1
        raise DivergenceError(epoch, batch, len(batch_losses), batch_losses[batch - 1], first_loss)


def loss_and_accuracy(model, x, y) -> tuple[float, float]:
    """Mean loss and accuracy over (x, y) in one pass and one host sync; no update."""
    loss, correct = model.loss_and_correct(x, y)
    means = nd.concat(loss.mean(), correct.mean(), dim=0).asnumpy()
    return float(means[0]), float(means[1])


def run_epoch(model, batches, lr_of_batch) -> tuple[list, list]:
    """Train on every (x, y) batch; return the per-batch loss and correctness arrays, unsynced."""
    losses, corrects = [], []
    for i, (x, y) in enumerate(batches):
        with autograd.record():
            loss, correct = model.loss_and_correct(x, y)
        loss.backward()
        model.step(lr_of_batch(i), len(x))
        losses.append(loss)
        corrects.append(correct)
    return losses, corrects


def shared_ndarray(array: np.ndarray) -> nd.NDArray:
    """An NDArray over the same memory (no 188 MB copy); the numpy array becomes read-only.
    Float32 as MXNet computes in it; labels too, as pick and argmax compare floats."""
    return nd.from_numpy(np.ascontiguousarray(array, dtype=np.float32), zero_copy=True)


def train(model, data: TrainingData, params: TrainingSettings, on_epoch=print) -> list[EpochStats]:
    check_batch_size(params.batch_size, len(data.train_y))
    rng = np.random.RandomState(params.seed)
    train_x, train_y, val_x, val_y = (
        shared_ndarray(a) for a in (data.train_x, data.train_y, data.val_x, data.val_y)
    )
    n = len(data.train_y)
    bounds = batch_bounds(n, params.batch_size)
    # Reused every epoch: a fresh 188 MB buffer per epoch costs 0.4-0.6 s in page faults.
    # Zeros, waited for: the first epoch's time then does not include faulting its pages in.
    x_epoch, y_epoch = nd.zeros(train_x.shape), nd.zeros(train_y.shape)
    # Views into the buffers, made once: per batch they would cost a slice and a free each.
    batches = [(x_epoch[start:stop], y_epoch[start:stop]) for start, stop in bounds]
    nd.waitall()
    history, first_loss = [], None
    for epoch in range(1, params.epochs + 1):
        started = time.perf_counter()
        order = nd.array(rng.permutation(n), dtype="int32")
        nd.take(train_x, order, axis=0, out=x_epoch)
        nd.take(train_y, order, axis=0, out=y_epoch)
        steps_before = (epoch - 1) * len(bounds)
        losses, corrects = run_epoch(
            model,
            batches,
            lambda i, done=steps_before: learning_rate(
                params, done + i, params.epochs * len(bounds)
            ),
        )
        # The one host sync of the epoch: per-example losses, then correctness, in one array.
        outcome = nd.concat(*losses, *corrects, dim=0).asnumpy()
        seconds = time.perf_counter() - started
        batch_losses = batch_means(outcome[:n], bounds)
        first_loss = batch_losses[0] if first_loss is None else first_loss
        check_divergence(batch_losses, first_loss, epoch)
        stats = EpochStats(
            epoch,
            float(outcome[:n].astype(np.float64).mean()),
            float(outcome[n:].mean()),
            *loss_and_accuracy(model, val_x, val_y),
            seconds,
            n / seconds,
        )
        on_epoch(stats)
        history.append(stats)
    return history
