"""The files the evaluate and render stages share: the test-set probabilities evaluate saves,
and the training histories (DVCLive directories, written by fmnist.tracking) both read.

A module of its own so that render depends only on these readers, not on model loading."""

from pathlib import Path

import numpy as np

from . import FmnistError
from .labels import NUM_CLASSES
from .metrics import confusion_matrix

MODELS = ("scratch", "gluon")


def read_history(live_dir) -> dict:
    """The per-epoch series DVCLive wrote, as {"epoch": [...], "loss": [...], ...}."""
    series = {}
    for name in ("loss", "train_accuracy", "test_accuracy"):
        path = f"{live_dir}/plots/metrics/{name}.tsv"
        with open(path) as f:
            rows = [line.split("\t") for line in f.read().splitlines()[1:]]
        series["epoch"] = [int(step) for step, _ in rows]
        series[name] = [float(value) for _, value in rows]
    return series


def load_histories(live_dirs: dict) -> dict:
    """{"scratch": DVCLive dir, ...} -> each model's per-epoch training series."""
    histories = {}
    for name, live_dir in live_dirs.items():
        try:
            histories[name] = read_history(live_dir)
        except (OSError, ValueError) as exc:
            raise FmnistError(
                f"{live_dir}: no readable training history ({exc}); rerun "
                f"the train_{name} stage (dvc repro train_{name})"
            ) from None
    return histories


def save_probabilities(probas: dict, probabilities_dir) -> None:
    """<model>.npy: float32 (N, 10) class probabilities of the test images, for render."""
    Path(probabilities_dir).mkdir()
    for name, proba in probas.items():
        path = Path(probabilities_dir) / f"{name}.npy"
        np.save(path, proba.astype(np.float32), allow_pickle=False)


def load_probabilities(probabilities_dir, num_images: int) -> dict:
    probas = {}
    for name in MODELS:
        path = Path(probabilities_dir) / f"{name}.npy"
        try:
            proba = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise FmnistError(
                f"{path}: cannot read test-set probabilities ({exc}); "
                "rerun the evaluate stage (dvc repro evaluate)"
            ) from None
        if proba.shape != (num_images, NUM_CLASSES):
            raise FmnistError(
                f"{path}: shape {proba.shape}, expected ({num_images}, "
                f"{NUM_CLASSES}); rerun the evaluate stage (dvc repro evaluate)"
            )
        probas[name] = proba
    return probas


def confusion_matrices(actual: np.ndarray, probas: dict) -> dict:
    return {name: confusion_matrix(actual, proba.argmax(axis=1)) for name, proba in probas.items()}
