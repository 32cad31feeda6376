"""The trained models, loaded from their files for evaluate: each file checked completely
first (fmnist.saved_models), then its arrays put into the lesson's model. MXNet and the
models are imported inside the functions: loading MXNet takes over a second, and a stage's
--help does not need it."""

import numpy as np

from . import FmnistError
from .saved_models import read_arrays, rerun


def read_scratch(path):
    from .lesson.scratch import ScratchSoftmax

    arrays = read_arrays(path, "scratch")
    return ScratchSoftmax(arrays["W"], arrays["b"])


def read_gluon(path):
    from .lesson.gluon import GluonSoftmax, build_net

    read_arrays(path, "gluon")
    net = build_net()
    net.load_parameters(str(path))  # checked above: it loads
    return GluonSoftmax(net)


READERS = {"scratch": read_scratch, "gluon": read_gluon}


def load_models(paths: dict) -> dict:
    """{"scratch": path, "gluon": path} -> loaded models."""
    return {name: READERS[name](path) for name, path in paths.items()}


def predict_all(models: dict, x: np.ndarray) -> dict:
    """Each model's class probabilities. Finite weights can still give non-finite ones
    (logits beyond float32's range): refused, so that no metric is ever NaN or infinite."""
    probas = {}
    for name, model in models.items():
        proba = model.predict_proba(x)
        bad = int((~np.isfinite(proba)).any(axis=1).sum())
        if bad:
            raise FmnistError(
                f"the {name} model gives NaN or infinite probabilities for {bad} of "
                f"{len(proba)} test images (weights too large for float32); {rerun(name)}"
            )
        probas[name] = proba
    return probas
