"""What every model file must be before it is used, in one place: a bounded regular file, then
weights of this project's names and shapes, float32 and finite, then answers that are class
probabilities. A model file may come from elsewhere, so a file that is not that gives one
line naming it, the same for ONNX and MXNet files (fmnist.onnx_files, fmnist.mxnet_files,
fmnist.mxnet_sources)."""

import numpy as np

from . import FmnistError
from .guards.bounded_files import NotRegularFile, TooLarge, read_bounded
from .lesson.fashion_mnist import NUM_CLASSES

# This project's model files are 31-32 KB (the export's graph 1 KB); a larger one is not one
# of them, and is refused before a loader reads it into memory.
MAX_MODEL_FILE_BYTES = 1 << 20
# A row of probabilities sums to 1 up to float32 rounding: within 2.3e-7 on the whole test
# set, in onnxruntime and in MXNet. Logits instead of probabilities are far off.
SUM_TOLERANCE = 1e-4


def read_model_file(path, stage: str) -> bytes:
    """A model file's bytes, read once (what is checked is what is used), at most the bound
    (fmnist.guards.bounded_files: a FIFO or a device is refused, not read)."""
    try:
        return read_bounded(path, MAX_MODEL_FILE_BYTES)
    except FileNotFoundError:
        raise FmnistError(
            f"{path}: missing; run the {stage} stage (dvc repro {stage}) or fetch it (dvc pull)"
        ) from None
    except NotRegularFile:
        raise FmnistError(f"{path}: not a regular file; give the model's file") from None
    except TooLarge as exc:
        raise FmnistError(
            f"{path}: {exc.size} bytes, more than any file of this project's models (at most "
            f"{MAX_MODEL_FILE_BYTES}); use a model this project made (`dvc repro {stage}`)"
        ) from None


def describe(arrays: dict) -> str:
    return ", ".join(f"{k} {tuple(v.shape)} {np.dtype(v.dtype).name}" for k, v in arrays.items())


def weights_problem(arrays: dict, expected: dict) -> str | None:
    """Why arrays ({name: numpy array}) are not the weights expected ({name: shape}) as
    float32 with finite values, or None. NaN weights give NaN probabilities and a NaN
    log-loss; another dtype makes MXNet fail with a traceback."""
    shapes = {name: tuple(array.shape) for name, array in arrays.items()}
    if shapes != expected or any(array.dtype != np.float32 for array in arrays.values()):
        wanted = ", ".join(f"{name} {shape} float32" for name, shape in expected.items())
        return f"holds {describe(arrays) or 'no arrays'}, expected {wanted}"
    for name, array in arrays.items():
        if not np.isfinite(array).all():
            return f"{name} holds NaN or infinite values"
    return None


class ModelSource:
    """A model as a user runs it: where its files are, what makes them, and how to load them
    (load() -> self); probabilities(x) runs it and checks the answers."""

    stage = ""  # the stage that writes the files
    files: tuple = ()

    def __str__(self) -> str:
        return " + ".join(map(str, self.files))

    def fault(self, what: str) -> FmnistError:
        return FmnistError(
            f"{self}: {what}; use a model this project made (`dvc repro {self.stage}`)"
        )

    def read(self, path) -> bytes:
        return read_model_file(path, self.stage)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """float32 (N, 10) for x float32 (N, 784), checked."""
        return self.checked(self.run(x), len(x))

    def checked(self, output: np.ndarray, rows: int) -> np.ndarray:
        if output.ndim != 2 or output.shape[0] != rows:
            raise self.fault(f"gives an output of shape {output.shape} for {rows} pictures")
        if output.shape[1] != NUM_CLASSES:
            raise self.fault(f"gives {output.shape[1]} values per picture, expected 10 classes")
        if output.dtype != np.float32:
            raise self.fault(f"gives {output.dtype} values, expected float32")
        if not np.isfinite(output).all():
            raise self.fault("gives NaN or infinite values (weights too large for float32?)")
        sums = output.sum(axis=1, dtype=np.float64)
        if output.min() < 0 or np.abs(sums - 1).max() > SUM_TOLERANCE:
            raise self.fault("gives values that are not probabilities (rows must sum to 1)")
        return output

    def run(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError
