"""The trained models in MXNet, as predict's `--runtime mxnet` runs them: the Gluon model's
export (HybridBlock.export's two files, loaded without this project's model code) and the
scratch model's weight file (in the lesson's ScratchSoftmax). Each file is checked as
fmnist.mxnet_files says before MXNet reads it."""

import json
import warnings

import numpy as np

from .lesson.fashion_mnist import NUM_FEATURES
from .model_sources import ModelSource, weights_problem
from .mxnet_files import EXPECTED, export_problem, layout_problem, read_arrays


class MxnetExport(ModelSource):
    """HybridBlock.export's two files (the train_gluon stage's). The export gives logits;
    softmax makes them probabilities."""

    stage = "train_gluon"

    def __init__(self, symbol_path, params_path):
        self.files = (symbol_path, params_path)

    def load(self) -> "MxnetExport":
        import mxnet as mx
        from mxnet import gluon

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
        # dense0_weight -> weight: the layer's name may differ
        weights = {
            name.rsplit("_", 1)[-1]: param.data().asnumpy()
            for name, param in self.net.collect_params().items()
        }
        if why := weights_problem(weights, EXPECTED["gluon"]):
            raise self.fault(f"its weights: {why}")
        self.run(np.zeros((1, NUM_FEATURES), np.float32))  # the input width, before the batch
        return self

    def run(self, x: np.ndarray) -> np.ndarray:
        from mxnet import base, nd

        try:
            return nd.softmax(self.net(nd.array(x))).asnumpy()
        except base.MXNetError as exc:
            raise self.fault(
                f"does not take 784 values per picture (MXNet: {mxnet_reason(exc)})"
            ) from None


class MxnetWeights(ModelSource):
    """The scratch model's weight file (the train_scratch stage's), in the lesson's model."""

    stage = "train_scratch"

    def __init__(self, path):
        self.files = (path,)

    def load(self) -> "MxnetWeights":
        self.model = read_model(self.files[0], "scratch")
        return self

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(x)


def mxnet_reason(exc: Exception) -> str:
    """The line of an MXNetError that says what failed, not its C++ traceback."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    reasons = [line for line in lines if not line.startswith(("Traceback", "File ", "At "))]
    return reasons[0].removeprefix("MXNetError: ") if reasons else type(exc).__name__


def read_model(path, name: str):
    """The lesson's `name` model with the weights of its file, checked completely first."""
    arrays = read_arrays(path, name)
    if name == "scratch":
        from .lesson.scratch import ScratchSoftmax

        return ScratchSoftmax(arrays["W"], arrays["b"])
    from .lesson.gluon import GluonSoftmax, build_net

    net = build_net()
    net.load_parameters(str(path))  # checked above: it loads
    return GluonSoftmax(net)
