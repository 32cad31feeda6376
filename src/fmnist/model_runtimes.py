"""A trained model as a user runs it: its ONNX file in onnxruntime (no MXNet), or MXNet's own
files. A model file may come from elsewhere, so each is checked against what this project's
models are before its answers are used: 784 float32 values per picture in, the 10 class
probabilities out, all finite. A file that is not that gives one line naming it, the same
on both runtimes. Each runtime is imported only when its model is loaded."""

import json
import warnings
from pathlib import Path

import numpy as np

from . import FmnistError
from .lesson.fashion_mnist import NUM_CLASSES, NUM_FEATURES
from .onnx_graph import INPUT, OUTPUT, file_problem
from .saved_models import EXPECTED, MAX_MODEL_FILE_BYTES, export_problem, layout_problem

# A row of probabilities sums to 1 up to float32 rounding: within 2.3e-7 on the whole test
# set, in onnxruntime and in MXNet. Logits instead of probabilities are far off.
SUM_TOLERANCE = 1e-4


class ModelSource:
    """Where a model's files are, what makes them, and how to load them (load() -> self)."""

    stage = ""  # the stage that writes the files
    files: tuple = ()

    def __str__(self) -> str:
        return " + ".join(map(str, self.files))

    def fault(self, what: str) -> FmnistError:
        return FmnistError(
            f"{self}: {what}; use a model this project made (`dvc repro {self.stage}`)"
        )

    def require_files(self) -> None:
        for path in map(Path, self.files):
            if not path.exists():
                raise FmnistError(
                    f"{path}: missing; make the exported model with `dvc repro "
                    f"{self.stage}` or fetch it with `dvc pull`"
                )
            if not path.is_file():
                raise FmnistError(f"{path}: not a regular file; give the model's file")
            if (size := path.stat().st_size) > MAX_MODEL_FILE_BYTES:
                raise self.fault(
                    f"{path.name} holds {size} bytes, more than any file of this project's "
                    f"models (at most {MAX_MODEL_FILE_BYTES})"
                )

    def read(self, path) -> bytes:
        """A file's bytes, at most the bound (it may have grown since require_files)."""
        with open(path, "rb") as file:
            data = file.read(MAX_MODEL_FILE_BYTES + 1)
        if len(data) > MAX_MODEL_FILE_BYTES:
            raise self.fault(f"{Path(path).name} grew beyond {MAX_MODEL_FILE_BYTES} bytes")
        return data

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
            raise self.fault("gives NaN or infinite values (its weights are not finite?)")
        sums = output.sum(axis=1, dtype=np.float64)
        if output.min() < 0 or np.abs(sums - 1).max() > SUM_TOLERANCE:
            raise self.fault("gives values that are not probabilities (rows must sum to 1)")
        return output

    def run(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class OnnxFile(ModelSource):
    """A model as ONNX (the export_onnx stage's), run by onnxruntime on one thread: this
    machine's thread count does not change its answers, and one picture needs no more."""

    stage = "export_onnx"

    def __init__(self, path):
        self.files = (path,)

    def load(self) -> "OnnxFile":
        import onnxruntime as ort

        self.require_files()
        data = self.read(self.files[0])
        if why := file_problem(data):
            raise self.fault(why)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.log_severity_level = 3  # its warnings about foreign files: we say what is wrong
        try:  # the bytes checked, not the path again: the file may have changed since
            self.session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime's errors share no base class but Exception
            raise self.fault(f"not an ONNX model ({onnxruntime_reason(exc)})") from None
        return self

    def run(self, x: np.ndarray) -> np.ndarray:
        try:
            return self.session.run([OUTPUT], {INPUT: x})[0]
        except Exception as exc:
            raise self.fault(f"fails to run ({onnxruntime_reason(exc)})") from None


def onnxruntime_reason(exc: Exception) -> str:
    """'Protobuf parsing failed.' from '[ONNXRuntimeError] : 7 : INVALID_PROTOBUF : Load
    model from x failed:Protobuf parsing failed.'"""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.rsplit(" failed:", 1)[-1].split(" : ")[-1].strip().rstrip(".")


class MxnetExport(ModelSource):
    """HybridBlock.export's two files (the train_gluon stage's), loaded by MXNet without this
    project's model code. The export gives logits; softmax makes them probabilities."""

    stage = "train_gluon"

    def __init__(self, symbol_path, params_path):
        self.files = (symbol_path, params_path)

    def load(self) -> "MxnetExport":
        import mxnet as mx
        from mxnet import gluon

        self.require_files()
        text = self.read(self.files[0])
        try:
            graph = json.loads(text)
        except (ValueError, RecursionError):
            raise self.fault("not an exported Gluon model (its graph is not JSON)") from None
        if why := export_problem(graph):
            raise self.fault(why)
        if why := layout_problem(self.read(self.files[1])):
            raise self.fault(f"not an exported Gluon model (its weights: {why})")
        try:
            with warnings.catch_warnings():
                # "Cannot decide type for ... data": it learns the type from the first batch.
                warnings.filterwarnings("ignore", "Cannot decide type", UserWarning)
                self.net = gluon.SymbolBlock(mx.sym.load_json(text.decode()), mx.sym.var("data"))
                self.net.collect_params().load(
                    str(self.files[1]), mx.cpu(), cast_dtype=True, dtype_source="saved"
                )
        except (OSError, mx.base.MXNetError, AssertionError, ValueError) as exc:
            raise self.fault(f"not an exported Gluon model ({mxnet_reason(exc)})") from None
        self.check_weights()
        self.run(np.zeros((1, NUM_FEATURES), np.float32))  # the input width, before the batch
        return self

    def check_weights(self) -> None:
        for name, param in self.net.collect_params().items():
            array = param.data()
            expected = EXPECTED["gluon"].get(name.rsplit("_", 1)[-1])
            if array.shape != expected:
                raise self.fault(
                    "does not take 784 values per picture for 10 classes (weights "
                    f"{name} have shape {array.shape}, expected {expected})"
                )
            if array.dtype != np.float32:
                raise self.fault(f"weights {name} are {np.dtype(array.dtype)}, expected float32")
            if not np.isfinite(array.asnumpy()).all():
                raise self.fault(f"weights {name} hold NaN or infinity")

    def run(self, x: np.ndarray) -> np.ndarray:
        from mxnet import base, nd

        try:
            return nd.softmax(self.net(nd.array(x))).asnumpy()
        except base.MXNetError as exc:
            raise self.fault(
                f"does not take 784 values per picture (MXNet: {mxnet_reason(exc)})"
            ) from None


class MxnetWeights(ModelSource):
    """The scratch model's weight file (the train_scratch stage's), by its own loader."""

    stage = "train_scratch"

    def __init__(self, path):
        self.files = (path,)

    def load(self) -> "MxnetWeights":
        from .model_files import load_models

        self.require_files()
        self.model = load_models({"scratch": self.files[0]})["scratch"]
        return self

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(x)


def mxnet_reason(exc: Exception) -> str:
    """The line of an MXNetError that says what failed, not its C++ traceback."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    reasons = [line for line in lines if not line.startswith(("Traceback", "File ", "At "))]
    return reasons[0].removeprefix("MXNetError: ") if reasons else type(exc).__name__
