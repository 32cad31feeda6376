"""`make bench`: seconds per training epoch on the real data, in one process, for
- the tutorial's loop as the tutorial writes it: Gluon's FashionMNIST dataset applying
  `transform` to each item, DataLoader(batch 256, shuffle=True), W ~ N(0, 1), naive
  softmax, and a host sync (`.asscalar()`) on every batch;
- this pipeline's loop (fmnist.lesson.training) for both models;
- numpy computing the forward pass and gradient over the same batches, already gathered:
  the near-hardware bound on this machine;
- the Gluon loop with MXNet's OpenMP team at 1 thread (what every stage pins) and at more.
Prints a table of per-epoch medians; the last line is the summary: each model's speed-up on
the tutorial's loop, and the scratch epoch against the Gluon one. Writes every epoch's time,
with the command, the commit, the time and the machine, to a record (--record) that
docs/speed.md shows (fmnist.bench_record).
"""

import argparse
import dataclasses
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon, nd

from .bench_record import (
    BENCH_RECORD,
    GLUON,
    NUMPY,
    PROFILED,
    SCRATCH,
    TUTORIAL,
    BenchRecord,
    ProfileRow,
    Stopwatch,
    bench_summary,
    git_commit,
    record_destination,
    write_record,
)
from .guards.stage_runner import positive_int
from .lesson.fashion_mnist import IMAGE_SIDE, NUM_CLASSES, NUM_FEATURES
from .lesson.gluon import GluonSoftmax
from .lesson.scratch import ScratchSoftmax
from .lesson.training import batch_bounds, train
from .params import load_params
from .prepared import Dataset, load_split, split_arrays, to_features

DATASET_DIR = "/usr/share/datasets/fashion-mnist"


class LocalFashionMNIST(gluon.data.vision.FashionMNIST):
    """Gluon's FashionMNIST as the tutorial uses it (uint8 NDArray storage, `transform`
    applied to each item in __getitem__), filled by our IDX reader instead of its
    downloader, which checks MXNet's own sha1s and fails offline."""

    def __init__(self, raw_dir, transform):
        self._raw_dir = raw_dir
        super().__init__(root=str(raw_dir), train=True, transform=transform)

    def _get_data(self):
        images, labels = load_split(self._raw_dir, "train")
        self._data = nd.array(images.reshape(-1, IMAGE_SIDE, IMAGE_SIDE, 1), dtype=np.uint8)
        self._label = labels.astype(np.int32)


def naive_cross_entropy(logits, labels):
    """The tutorial's loss: -log of softmax's output, exp / sum. exp overflows to inf once a
    logit passes ~88, and the loss is then NaN (the lesson's is log-sum-exp)."""
    exp = nd.exp(logits)
    softmax = exp / exp.sum(axis=1, keepdims=True)
    return -nd.log(nd.pick(softmax, labels, axis=1))


def tutorial_transform(data, label):
    return data.astype(np.float32) / 255, label.astype(np.float32)


def time_tutorial(raw_dir, epochs: int, lr: float, batch_size: int = 256) -> list[float]:
    train_data = gluon.data.DataLoader(
        LocalFashionMNIST(raw_dir, tutorial_transform), batch_size, shuffle=True
    )
    weight, bias = (
        nd.random.normal(shape=(NUM_FEATURES, NUM_CLASSES)),
        nd.random.normal(shape=NUM_CLASSES),
    )
    for param in (weight, bias):
        param.attach_grad()
    seconds = []
    for _ in range(epochs):
        started, cumulative_loss = time.perf_counter(), 0.0
        for data, label in train_data:
            data = data.reshape((-1, NUM_FEATURES))
            with autograd.record():
                loss = naive_cross_entropy(nd.dot(data, weight) + bias, label)
            loss.backward()
            for param in (weight, bias):
                param[:] = param - lr / batch_size * param.grad
            cumulative_loss += nd.sum(loss).asscalar()
        seconds.append(time.perf_counter() - started)
    return seconds


def numpy_epoch(x: np.ndarray, y: np.ndarray, weight, bias, bounds, lr: float) -> np.ndarray:
    """Forward, stable cross-entropy, gradient and SGD step per batch; returns batch losses."""
    losses = np.empty(len(bounds))
    for i, (start, stop) in enumerate(bounds):
        xb, yb, rows = x[start:stop], y[start:stop], np.arange(stop - start)
        shifted = xb @ weight + bias
        shifted -= shifted.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        total = exp.sum(axis=1, keepdims=True)
        losses[i] = (np.log(total[:, 0]) - shifted[rows, yb]).sum()
        grad = exp / total
        grad[rows, yb] -= 1
        weight -= lr / len(yb) * (xb.T @ grad)
        bias -= lr / len(yb) * grad.sum(axis=0)
    return losses


def time_numpy(data: Dataset, epochs: int, lr: float, batch_size: int, seed: int) -> list[float]:
    rng = np.random.RandomState(seed)
    weight = (rng.randn(NUM_FEATURES, NUM_CLASSES) * 0.01).astype(np.float32)
    bias = np.zeros(NUM_CLASSES, np.float32)
    bounds = batch_bounds(len(data.train_y), batch_size)
    seconds = []
    for _ in range(epochs):
        order = rng.permutation(len(data.train_y))
        x, y = data.train_x[order], data.train_y[order]  # gathered outside the timing
        started = time.perf_counter()
        numpy_epoch(x, y, weight, bias, bounds, lr)
        seconds.append(time.perf_counter() - started)
    return seconds


def time_pipeline(model, data: Dataset, train_params) -> list[float]:
    return [stats.seconds for stats in train(model, data, train_params, on_epoch=lambda s: None)]


def profile_pipeline(model, data: Dataset, train_params, top: int = 8) -> list[ProfileRow]:
    """mx.profiler's busiest operators (the engine's worker thread) and C API calls (the
    Python thread) over the second epoch of a run (and its validation pass)."""

    def start_after_first_epoch(stats):
        if stats.epoch == 1:
            mx.profiler.set_state("run")

    with tempfile.TemporaryDirectory() as tmp:
        mx.profiler.set_config(
            profile_all=True, aggregate_stats=True, filename=str(Path(tmp) / "profile.json")
        )
        train(model, data, dataclasses.replace(train_params, epochs=2), start_after_first_epoch)
        mx.profiler.set_state("stop")
        stats = json.loads(mx.profiler.dumps(reset=True, format="json"))["Time"]
    rows = []
    for section in PROFILED:
        busiest = sorted(stats[section].items(), key=lambda item: -item[1]["Total"])[:top]
        rows += [
            ProfileRow(section=section, name=name, calls=row["Count"], total_ms=row["Total"])
            for name, row in busiest
        ]
    return rows


def profile_lines(rows: list[ProfileRow]) -> str:
    return "\n".join(
        f"  {row.section:<12}{row.name[:60]:<62}{row.calls:>7}{row.total_ms:>10.1f} ms"
        for row in rows
    )


def default_raw_dir() -> Path:
    fetched = Path("data/raw")
    return fetched if (fetched / "train-images-idx3-ubyte.gz").is_file() else Path(DATASET_DIR)


def load_real_data(raw_dir) -> Dataset:
    """The prepared arrays, made here from the same files with the same code, but training on
    all 60,000 training images, as the tutorial's loop does: the epochs compare like with
    like. (The validation pass after each epoch is not timed; its accuracy means nothing here.)"""
    split = load_params().preprocess
    arrays = split_arrays(raw_dir, split.validation_size, split.seed)[0]
    images, labels = load_split(raw_dir, "train")
    arrays["train_x"], arrays["train_y"] = to_features(images), labels.astype(np.int32)
    return Dataset(**arrays)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB


def report(record: BenchRecord) -> None:
    """One row per loop; "first" is its first epoch measured (warm-up included)."""
    print(f"{'loop':<44}{'median s/epoch':>15}{'first':>8}{'epochs':>8}{'samples/s':>11}")
    for name, seconds in record.epochs.items():
        median = statistics.median(seconds)
        rate = record.samples / median
        print(f"{name:<44}{median:>15.3f}{seconds[0]:>8.3f}{len(seconds):>8}{rate:>11,.0f}")
    print(bench_summary(record))


PIPELINES = {
    SCRATCH: lambda params, train_params: ScratchSoftmax.create(params.scratch, train_params),
    GLUON: lambda params, train_params: GluonSoftmax.create(params.gluon, train_params),
}


# Each thread count runs in a process of its own: MXNet sizes its OpenMP team when it loads,
# from the environment. MXSetNumOMPThreads (mxnet.base._LIB) does not resize it: it sets the
# calling thread's OpenMP count, and the operators run on the engine's thread (trained with
# it at 2 and 4, the models kept the bytes of 1 thread, so it changed nothing).
THREADED_CHILD = """
import json, os, sys
import fmnist  # pins one thread; this measurement alone undoes that before MXNet loads
os.environ["OMP_NUM_THREADS"] = os.environ["MXNET_OMP_MAX_THREADS"] = sys.argv[1]
from fmnist.bench import gluon_epochs
print(json.dumps(gluon_epochs(sys.argv[2], int(sys.argv[3]))))
"""


def gluon_epochs(raw_dir, epochs: int) -> list[float]:
    params = load_params()
    train_params = dataclasses.replace(params.train, epochs=epochs)
    model = PIPELINES[GLUON](params, train_params)
    return time_pipeline(model, load_real_data(raw_dir), train_params)


def time_with_threads(threads: int, raw_dir, epochs: int) -> list[float]:
    argv = [sys.executable, "-c", THREADED_CHILD, str(threads), str(raw_dir), str(epochs)]
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def thread_counts() -> list[int]:
    """1 (pinned), MXNet's own default on x86 (half the logical CPUs, at least 2), all."""
    cpus = os.cpu_count() or 1
    return sorted({1, max(2, cpus // 2), cpus})


def threads_row(threads: int) -> str:
    return f"gluon, {threads} OpenMP thread{'s' * (threads > 1)}" + " (pinned)" * (threads == 1)


SETTINGS = """Settings from params.yaml: the pipeline loops and the numpy bound train with the
train section (train.epochs replaced by --epochs) and the scratch and gluon init;
the tutorial's loop uses train.lr with the tutorial's batch of 256 and W ~ N(0, 1)."""


class OneLineErrorParser(argparse.ArgumentParser):
    """A bad flag is one line, not the usage text with the error under it."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (--help lists the flags)\n")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Every flag's default in --help, and the description's line breaks kept."""


def parse_args():
    parser = OneLineErrorParser(
        prog="python -m fmnist.bench",
        description=__doc__,
        epilog=SETTINGS,
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--raw-dir",
        type=Path,
        default=default_raw_dir(),
        metavar="DIR",
        help=f"the four IDX .gz files: data/raw if fetched, else {DATASET_DIR}",
    )
    parser.add_argument(
        "--tutorial-epochs",
        type=positive_int,
        default=3,
        metavar="N",
        help="epochs of the tutorial's loop, the slow one (it transforms every image on its own)",
    )
    parser.add_argument(
        "--rounds",
        type=positive_int,
        default=3,
        metavar="N",
        help="the fast loops take turns, so a burst of load on a shared machine hits them alike",
    )
    parser.add_argument(
        "--epochs", type=positive_int, default=4, metavar="N", help="per fast loop and round"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also print (and record) mx.profiler's view of one epoch of each model",
    )
    parser.add_argument(
        "--record",
        type=record_destination,
        default=BENCH_RECORD,
        metavar="FILE",
        help="where to write what was measured, with the machine and the time (JSON)",
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    watch, commit = Stopwatch(), git_commit()
    params = load_params()
    train_params = dataclasses.replace(params.train, epochs=args.epochs)
    data = load_real_data(args.raw_dir)
    timings = {name: [] for name in PIPELINES} | {NUMPY: []}
    timings |= {threads_row(n): [] for n in thread_counts()}
    for _ in range(args.rounds):
        for name, create in PIPELINES.items():
            timings[name] += time_pipeline(create(params, train_params), data, train_params)
        timings[NUMPY] += time_numpy(
            data, args.epochs, params.train.lr, params.train.batch_size, params.train.seed
        )
        for threads in thread_counts():
            timings[threads_row(threads)] += time_with_threads(threads, args.raw_dir, args.epochs)
    # Last: its millions of short-lived NDArrays slowed the fast loops run after it.
    timings[TUTORIAL] = time_tutorial(args.raw_dir, args.tutorial_epochs, params.train.lr)
    profile = {}
    if args.profile:
        for name, create in PIPELINES.items():
            profile[name] = profile_pipeline(create(params, train_params), data, train_params)
            print(f"{name}, mx.profiler over one epoch:")
            print(profile_lines(profile[name]))
    record = BenchRecord(
        **watch.fields(["python", "-m", "fmnist.bench", *sys.argv[1:]], commit),
        samples=len(data.train_y),
        epochs=timings,
        peak_rss_mb=peak_rss_mb(),
        profile=profile,
    )
    report(record)
    write_record(args.record, record)
    print(f"Recorded in {args.record}")


if __name__ == "__main__":
    main()
