"""Both models on the test set: metrics side by side, and rows for DVC's confusion plots."""
import json

import numpy as np

from .atomic import write_text_atomic
from .labels import CLASS_NAMES
from .metrics import agreement, summarize
from .models.gluon import GluonSoftmax
from .models.scratch import ScratchSoftmax

LOADERS = {"scratch": ScratchSoftmax.load, "gluon": GluonSoftmax.load}


def load_models(paths: dict) -> dict:
    """{"scratch": path, "gluon": path} -> loaded models, in that order."""
    return {name: LOADERS[name](path) for name, path in paths.items()}


def predict_all(models: dict, x: np.ndarray) -> dict:
    return {name: model.predict_proba(x) for name, model in models.items()}


def evaluation_metrics(actual: np.ndarray, probas: dict) -> dict:
    metrics = {name: summarize(actual, proba) for name, proba in probas.items()}
    scratch, gluon = (probas[name].argmax(axis=1) for name in ("scratch", "gluon"))
    metrics["agreement"] = agreement(scratch, gluon)
    return metrics


def write_metrics(metrics: dict, path) -> None:
    write_text_atomic(path, json.dumps(metrics, indent=2) + "\n")


def write_confusion_rows(actual: np.ndarray, predicted: np.ndarray, path) -> None:
    """One row per test image, class names as values: DVC's `confusion` template counts them."""
    rows = (f"{CLASS_NAMES[a]},{CLASS_NAMES[p]}" for a, p in zip(actual, predicted))
    write_text_atomic(path, "actual,predicted\n" + "\n".join(rows) + "\n")
