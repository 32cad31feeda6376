"""Both trained models as ONNX graphs, built by hand from their weights, so that any ONNX
runtime serves them without MXNet. Both are one linear layer and a softmax:

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

OPSET = 13
IR_VERSION = 7
INPUT = "pixels"
OUTPUT = "probabilities"
BATCH = "N"
PRODUCER = "fmnist"
# The ONNX file must give MXNet's probabilities to within this, on every test image. Measured
# on the real test set: 1.8e-6 (scratch) and 8.9e-7 (gluon) with the default params, 2.2e-6
# and 1.1e-6 with the README's tuned set, at most 5.6e-6 over the documented sweep (lr 1.0
# with momentum 0.9: larger weights, larger logits); the same with 1 and 2 threads, and with
# onnxruntime's AVX2 and AVX-512 kernels. The bound is 20x below the smallest gap between the
# two likeliest classes of any test image (2.1e-4, default params): no prediction changes.
MAX_PROBABILITY_DIFFERENCE = 1e-5
MODELS = ("scratch", "gluon")
MODEL_DOC = (
    "Softmax regression on Fashion-MNIST ({model} model). Input 'pixels': float32 (N, 784), "
    "a 28x28 grayscale picture row by row, values in [0, 1], a light garment on a dark "
    "background. Output 'probabilities': float32 (N, 10), in label order (the metadata "
    "'classes' names them, a JSON list)."
)


def check_weights(weight: np.ndarray, bias: np.ndarray, source: str) -> None:
    """What the graph needs, checked before it is built: a model file that loaded but holds
    something else must not become a valid-looking ONNX file."""
    shapes = (weight.shape, bias.shape)
    if shapes != ((NUM_CLASSES, NUM_FEATURES), (NUM_CLASSES,)):
        raise FmnistError(f"{source}: weights of shapes {shapes}, expected W (10, 784), b (10,)")
    if (weight.dtype, bias.dtype) != (np.float32, np.float32):
        raise FmnistError(f"{source}: weights are {weight.dtype}/{bias.dtype}, expected float32")
    if not (np.isfinite(weight).all() and np.isfinite(bias).all()):
        raise FmnistError(f"{source}: weights hold NaN or infinity; retrain the model")


def softmax_regression(weight: np.ndarray, bias: np.ndarray, model: str):
    """The onnx.ModelProto of x W^T + b, then softmax over the classes."""
    check_weights(weight, bias, f"the {model} model")
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


def require_faithful(check: dict, onnx_paths: dict) -> None:
    """check: results.onnx_check_files' {file: {model: value}} (the difference in ppm). One
    line if an ONNX file does not answer as its MXNet model does."""
    for name, path in onnx_paths.items():
        difference = check["onnx_max_difference_ppm.json"][name] / 1e6
        agreement = check["onnx_agreement.json"][name]
        if not (agreement == 1.0 and difference <= MAX_PROBABILITY_DIFFERENCE):  # NaN fails
            raise FmnistError(
                f"{path}: onnxruntime differs from MXNet's {name} model (agreement "
                f"{agreement:.4f}, largest probability difference {difference:.1e}, allowed "
                f"{MAX_PROBABILITY_DIFFERENCE:.0e}); rerun `dvc repro export_onnx`"
            )


def trained_weights(model_paths: dict) -> dict:
    """{"scratch": params file, "gluon": params file} -> {name: (W (10, 784), b (10,))} as
    numpy float32, from the files checked completely (fmnist.saved_models). The scratch
    model keeps the tutorial's W (784, 10): transposed here to Gemm's layout."""
    from .saved_models import read_arrays

    layers = {}
    for name, path in model_paths.items():
        arrays = {key: array.asnumpy() for key, array in read_arrays(path, name).items()}
        if name == "scratch":
            layers[name] = (np.ascontiguousarray(arrays["W"].T), arrays["b"])
        else:
            layers[name] = (arrays["weight"], arrays["bias"])
    return layers


def file_problem(data: bytes) -> str | None:
    """Why data is not an ONNX file export_onnx makes, or None. An allow-list: the file
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
    try:
        weight, bias = initializer_arrays(graph)
        check_weights(weight, bias, "its")
    except FmnistError as exc:
        return str(exc).removeprefix("its: ").split(";")[0]
    if data not in (model_bytes(weight, bias, model) for model in MODELS):
        return (
            "not the file export_onnx makes from its weights (another graph name, attribute, "
            "opset, document string or metadata)"
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


def initializer_arrays(graph) -> tuple[np.ndarray, np.ndarray]:
    """W and b, held in the file itself (no external data), as numpy arrays."""
    from onnx import TensorProto, numpy_helper

    tensors = {t.name: t for t in graph.initializer}
    found = [(t.name, tuple(t.dims)) for t in graph.initializer]
    expected = {"W": (NUM_CLASSES, NUM_FEATURES), "b": (NUM_CLASSES,)}
    if {name: tuple(t.dims) for name, t in tensors.items()} != expected or len(found) != 2:
        raise FmnistError(f"its: holds weights {found}, expected W (10, 784) and b (10,)")
    if any(t.data_location == TensorProto.EXTERNAL or t.external_data for t in tensors.values()):
        raise FmnistError("its: weights are in another file, expected them in the ONNX file")
    try:
        return numpy_helper.to_array(tensors["W"]), numpy_helper.to_array(tensors["b"])
    except (ValueError, TypeError) as exc:
        raise FmnistError(f"its: weights do not decode ({exc})") from None
