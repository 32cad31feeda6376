"""The tutorial, run as it runs: both models, one after the other, with the tutorial's
settings, printing its line per epoch. `python -m fmnist.lesson` (docs/lesson.md).

It reads the arrays the pipeline's preprocess stage writes (data/prepared: the training
images, the validation set held out of them, the test set it leaves alone) and no params.yaml:
the settings are the tutorial's cells below. Where they differ from the tutorial (weights
from N(0, 0.01²), a validation set), docs/lesson.md says why.
"""

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .gluon import GluonSoftmax
from .scratch import ScratchSoftmax
from .training import BatchTooLargeError, DivergenceError, train


@dataclass(frozen=True)
class TutorialSettings:
    """The tutorial's `batch_size`, `epochs` and `learning_rate`; plain SGD; a fixed seed."""

    batch_size: int = 256
    epochs: int = 5
    lr: float = 0.1
    lr_schedule: str = "constant"
    momentum: float = 0.0
    weight_decay: float = 0.0
    seed: int = 42


@dataclass(frozen=True)
class Initialisation:
    """W ~ N(0, init_scale²), for both models."""

    init: str = "normal"
    init_scale: float = 0.01


@dataclass(frozen=True)
class PreparedArrays:
    train_x: np.ndarray  # float32 (N, 784) in [0, 1]
    train_y: np.ndarray  # int32 (N,) in 0-9
    val_x: np.ndarray
    val_y: np.ndarray


def load_arrays(prepared_dir) -> PreparedArrays:
    """The training and validation arrays of data/prepared (never pickles)."""
    names = ("train_x", "train_y", "val_x", "val_y")
    return PreparedArrays(
        **{name: np.load(Path(prepared_dir) / f"{name}.npy", allow_pickle=False) for name in names}
    )


MODELS = {"From scratch": ScratchSoftmax.create, "With Gluon": GluonSoftmax.create}


def run(data: PreparedArrays, settings: TutorialSettings | None = None) -> dict:
    """Train both models, printing the tutorial's line per epoch; their histories by name."""
    settings = settings or TutorialSettings()
    histories = {}
    for name, create in MODELS.items():
        print(f"{name}:", flush=True)
        model = create(Initialisation(), settings)
        histories[name] = train(model, data, settings, on_epoch=lambda s: print(s.line()))
    return histories


def train_or_say_why(data: PreparedArrays) -> int:
    try:
        run(data)
    except (BatchTooLargeError, DivergenceError) as exc:
        print(f"python -m fmnist.lesson: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str]) -> int:
    prepared_dir = Path(argv[0] if argv else "data/prepared")
    try:
        data = load_arrays(prepared_dir)
    except FileNotFoundError as exc:
        why = f"{exc.filename} is missing"
    except (OSError, ValueError) as exc:  # a directory, pickled, truncated
        why = str(exc)
    else:
        return train_or_say_why(data)
    print(
        f"python -m fmnist.lesson: {prepared_dir}: no prepared arrays ({why}); run "
        "`dvc repro preprocess` in the repository first, or give their directory: "
        "python -m fmnist.lesson DIR",
        file=sys.stderr,
    )
    return 1
