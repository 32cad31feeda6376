"""The trained models' files, loaded for the stages that use them. MXNet is imported inside
the functions, not at the top: loading it takes over a second, and only these stages need it."""

import numpy as np


def load_models(paths: dict) -> dict:
    """{"scratch": path, "gluon": path} -> loaded models."""
    from .lesson.gluon import GluonSoftmax
    from .lesson.scratch import ScratchSoftmax

    loaders = {"scratch": ScratchSoftmax.load, "gluon": GluonSoftmax.load}
    return {name: loaders[name](path) for name, path in paths.items()}


def predict_all(models: dict, x: np.ndarray) -> dict:
    return {name: model.predict_proba(x) for name, model in models.items()}
