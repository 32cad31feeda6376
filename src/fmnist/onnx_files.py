"""Both trained models as ONNX files: built by hand from their weights (by the training
stages), checked, and run in onnxruntime (evaluate, predict), so that any ONNX runtime
serves them without MXNet. Both are one linear layer and a softmax:

    pixels (N, 784) float32 -> Gemm(pixels, W, b, transB=1) -> Softmax(axis=1)
                            -> probabilities (N, 10)

W (10, 784) and b (10,) are initializers (constants, so a runtime folds and optimizes them;
MXNet's own exporter lists them among the inputs, and onnxruntime warns about it). N is
symbolic: any batch size. The class names, in label order, are in the model's metadata.

Opset 13 and IR version 7 (ONNX 1.8, 2020), the oldest that has both operators in today's
form, so that the oldest runtimes still read the files; set here, not left to the installed
onnx's defaults, so that the bytes depend on the weights alone (no producer version either).
"""

import json

import numpy as np

from . import FmnistError
from .guards.stage_runner import shown
from .lesson.fashion_mnist import CLASS_NAMES, NUM_CLASSES, NUM_FEATURES
from .metrics import agreement
from .model_sources import ModelSource, weights_problem

OPSET = 13
IR_VERSION = 7
INPUT = "pixels"
OUTPUT = "probabilities"
BATCH = "N"
PRODUCER = "fmnist"
# The ONNX file must give MXNet's probabilities to within this, on every validation image.
# Measured: 2.0e-6 (scratch) and 7.2e-7 (gluon) on the validation set with the default params;
# on the test set 1.8e-6 and 8.9e-7, 2.2e-6 and 1.1e-6 with the README's tuned set, at most
# 5.6e-6 over the documented sweep (lr 1.0 with momentum 0.9: larger weights, larger logits);
# the same with 1 and 2 threads, and with onnxruntime's AVX2 and AVX-512 kernels.
MAX_PROBABILITY_DIFFERENCE = 1e-5
MODELS = ("scratch", "gluon")
WEIGHTS = {"W": (NUM_CLASSES, NUM_FEATURES), "b": (NUM_CLASSES,)}  # Gemm's layout
MODEL_DOC = (
    "Softmax regression on Fashion-MNIST ({model} model). Input 'pixels': float32 (N, 784), "
    "a 28x28 grayscale picture row by row, values in [0, 1], a light garment on a dark "
    "background. Output 'probabilities': float32 (N, 10), in label order (the metadata "
    "'classes' names them, a JSON list)."
)


def softmax_regression(weight: np.ndarray, bias: np.ndarray, model: str):
    """The onnx.ModelProto of x W^T + b, then softmax over the classes."""
    if why := weights_problem({"W": weight, "b": bias}, WEIGHTS):
        raise FmnistError(f"the {model} model: {why}")
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    batch_of = lambda width: [BATCH, width]  # noqa: E731
    graph = helper.make_graph(
        [
            helper.make_node("Gemm", [INPUT, "W", "b"], ["logits"], transB=1),
            helper.make_node("Softmax", ["logits"], [OUTPUT], axis=1),
        ],
        f"{model}_softmax_regression",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, batch_of(NUM_FEATURES))],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, batch_of(NUM_CLASSES))],
        initializer=[numpy_helper.from_array(weight, "W"), numpy_helper.from_array(bias, "b")],
    )
    proto = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name=PRODUCER,
        doc_string=MODEL_DOC.format(model=model),
    )
    helper.set_model_props(proto, {"classes": json.dumps(CLASS_NAMES)})
    onnx.checker.check_model(proto, full_check=True)
    return proto


def model_bytes(weight: np.ndarray, bias: np.ndarray, model: str) -> bytes:
    """The file's bytes: deterministic serialization, nothing of the time or the machine."""
    return softmax_regression(weight, bias, model).SerializeToString(deterministic=True)


def session(data: bytes):
    """An onnxruntime session of an ONNX file's bytes, on one thread: this machine's thread
    count does not change its answers, and one picture needs no more."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3  # its warnings about foreign files: callers say what is wrong
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def probabilities(onnx_session, x: np.ndarray) -> np.ndarray:
    return onnx_session.run([OUTPUT], {INPUT: x})[0]


def faithfulness(mxnet_proba: np.ndarray, onnx_proba: np.ndarray) -> dict:
    """An ONNX file in onnxruntime against its MXNet model, on the same images: the share
    given the same class, and the largest absolute difference of a probability in millionths
    (ppm: `dvc metrics show` rounds to 5 decimals, which would show 1e-6 as 0.0)."""
    difference = float(np.abs(onnx_proba - mxnet_proba).max())
    same = agreement(onnx_proba.argmax(axis=1), mxnet_proba.argmax(axis=1))
    return {"onnx_agreement": same, "onnx_max_difference_ppm": round(difference * 1e6, 4)}


def require_faithful(check: dict, path, name: str) -> None:
    """One line if an ONNX file does not answer as its MXNet model does. Within the bound,
    the two can only name different classes for a picture whose two likeliest classes are
    within twice the bound in MXNet: a tie, not an error, so agreement is reported, and the
    difference decides."""
    difference = check["onnx_max_difference_ppm"] / 1e6
    if not difference <= MAX_PROBABILITY_DIFFERENCE:  # NaN fails
        raise FmnistError(
            f"{path}: onnxruntime differs from MXNet's {name} model on the validation set "
            f"(largest probability difference {difference:.1e}, allowed "
            f"{MAX_PROBABILITY_DIFFERENCE:.0e}, agreement {check['onnx_agreement']:.4f}); "
            "no output was kept"
        )


def file_problem(data: bytes) -> str | None:
    """Why data is not an ONNX file a training stage makes, or None. An allow-list: the file
    must be byte for byte what model_bytes builds from its own W and b, so that what
    onnxruntime runs costs what this project's models cost (a Loop of 10**15 steps, or a
    tensor of 4 GB, never starts). The checks before that name the usual differences."""
    from google.protobuf.message import DecodeError
    from onnx import ModelProto

    try:
        graph = ModelProto.FromString(data).graph
    except (DecodeError, RuntimeWarning):
        return "not an ONNX model (Protobuf parsing failed)"
    if why := signature_problem(graph):
        return why
    ops = [node.op_type for node in graph.node]
    if ops != ["Gemm", "Softmax"]:
        ran = shown(", ".join(ops) or "no operator")
        return f"runs {ran}, expected this project's Gemm, Softmax"
    weights = initializer_arrays(graph)
    if isinstance(weights, str):
        return weights
    if why := weights_problem(weights, WEIGHTS):
        return why
    weight, bias = weights["W"], weights["b"]
    if data not in (model_bytes(weight, bias, model) for model in MODELS):
        return (
            "not the file the training stages make from its weights (another graph name, "
            "attribute, opset, document string or metadata)"
        )
    return None


def tensor_type(elem_type: int) -> str:
    """onnxruntime's name of a tensor type: tensor(float), tensor(double), ..."""
    from onnx import TensorProto

    known = elem_type in TensorProto.DataType.values()
    return f"tensor({TensorProto.DataType.Name(elem_type).lower() if known else elem_type})"


def declared_shape(value) -> list:
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


def signature_problem(graph) -> str | None:
    """One input 'pixels' float32 (N, 784), the output 'probabilities' float32 (N, 10)."""
    inputs, outputs = [i.name for i in graph.input], [o.name for o in graph.output]
    if inputs != [INPUT] or outputs != [OUTPUT]:
        expected = f"expected input '{INPUT}' and output '{OUTPUT}'"
        return f"inputs {shown(inputs)} and outputs {shown(outputs)}, {expected}"
    pixels, probabilities = graph.input[0], graph.output[0]
    for value in (pixels, probabilities):
        if (kind := tensor_type(value.type.tensor_type.elem_type)) != "tensor(float)":
            return f"takes {kind} values, expected float32"
    if (shape := declared_shape(pixels))[1:] != [NUM_FEATURES] or len(shape) != 2:
        return f"does not take 784 values per picture (it takes shape {shape})"
    if (shape := declared_shape(probabilities))[1:] != [NUM_CLASSES] or len(shape) != 2:
        width = shape[1] if len(shape) == 2 else shape
        return f"gives {width} values per picture, expected 10 classes"
    return None


def initializer_arrays(graph) -> dict | str:
    """{"W": ..., "b": ...} as numpy arrays, held in the file itself (no external data) and
    of the shapes expected before they are decoded; else why not."""
    from onnx import TensorProto, numpy_helper

    tensors = {t.name: t for t in graph.initializer}
    found = [(t.name, tuple(t.dims)) for t in graph.initializer]
    if {name: tuple(t.dims) for name, t in tensors.items()} != WEIGHTS or len(found) != 2:
        return f"holds weights {found}, expected W (10, 784) and b (10,)"
    if any(t.data_location == TensorProto.EXTERNAL or t.external_data for t in tensors.values()):
        return "weights are in another file, expected them in the ONNX file"
    try:
        return {name: numpy_helper.to_array(tensor) for name, tensor in tensors.items()}
    except (ValueError, TypeError) as exc:
        return f"weights do not decode ({exc})"


class OnnxFile(ModelSource):
    """A model as ONNX (a training stage's: stage names it), run by onnxruntime."""

    def __init__(self, path, stage: str):
        self.files, self.stage = (path,), stage

    def load(self) -> "OnnxFile":
        data = self.read(self.files[0])
        if why := file_problem(data):
            raise self.fault(why)
        try:  # the bytes checked, not the path again: the file may have changed since
            self.session = session(data)
        except Exception as exc:  # onnxruntime's errors share no base class but Exception
            raise self.fault(f"not an ONNX model ({onnxruntime_reason(exc)})") from None
        return self

    def run(self, x: np.ndarray) -> np.ndarray:
        try:
            return probabilities(self.session, x)
        except Exception as exc:
            raise self.fault(f"fails to run ({onnxruntime_reason(exc)})") from None


def onnxruntime_reason(exc: Exception) -> str:
    """'Protobuf parsing failed.' from '[ONNXRuntimeError] : 7 : INVALID_PROTOBUF : Load
    model from x failed:Protobuf parsing failed.'"""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.rsplit(" failed:", 1)[-1].split(" : ")[-1].strip().rstrip(".")
