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
