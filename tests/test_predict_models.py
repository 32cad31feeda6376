"""`python -m fmnist.predict` with model files from elsewhere: each is checked before use
(784 float32 values in, 10 class probabilities out, finite), and one that is not this
project's kind of model gives one line naming it, the same on both runtimes. And the default
runtime, onnxruntime, never imports MXNet."""

import re
import subprocess
import sys
import warnings

import mxnet as mx
import numpy as np
import pytest
from mxnet import nd
from mxnet.gluon import nn
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from fmnist.onnx_files import INPUT, OUTPUT, model_bytes
from model_faults import MODEL_FAULTS
from test_predict import predict

DO = "use a model this project made (`dvc repro {stage}`)"


def mxnet_export(prefix, units=10, in_units=784, dtype="float32", weight=None):
    net = nn.Dense(units, in_units=in_units)
    net.initialize(mx.init.Normal(0.01))
    if weight is not None:
        net.weight.set_data(nd.array(weight))
    net.cast(dtype)
    net.hybridize()
    net(nd.zeros((1, in_units), dtype=dtype))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net.export(str(prefix))
    return f"{prefix}-symbol.json", f"{prefix}-0000.params", net


def onnx_file(path, in_width=784, out_width=10, dtype=TensorProto.FLOAT, softmax=True, nan=False):
    """A one-layer ONNX model like ours, but for the one thing a test changes."""
    weight = np.full((out_width, in_width), np.nan if nan else 0.01)
    weight = weight.astype(helper.tensor_dtype_to_np_dtype(dtype))
    bias = np.zeros(out_width, weight.dtype)
    gemm = helper.make_node("Gemm", [INPUT, "W", "b"], ["logits" if softmax else OUTPUT], transB=1)
    nodes = [gemm]
    if softmax:
        nodes.append(helper.make_node("Softmax", ["logits"], [OUTPUT], axis=1))
    graph = helper.make_graph(
        nodes,
        "foreign",
        [helper.make_tensor_value_info(INPUT, dtype, ["N", in_width])],
        [helper.make_tensor_value_info(OUTPUT, dtype, ["N", out_width])],
        initializer=[numpy_helper.from_array(weight, "W"), numpy_helper.from_array(bias, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=7)
    path.write_bytes(model.SerializeToString())
    return path


@pytest.fixture(scope="module")
def here(tmp_path_factory):
    """A directory with a picture and the foreign files, named as the tests use them."""
    directory = tmp_path_factory.mktemp("foreign-models")
    Image.fromarray(np.random.RandomState(0).randint(0, 256, (28, 28)).astype(np.uint8)).save(
        directory / "pic.png"
    )
    for name, kwargs in {
        "dense20": {"units": 20},
        "inputs100": {"in_units": 100},
        "float64": {"dtype": "float64"},
        "nan": {"weight": np.full((10, 784), np.nan, np.float32)},
    }.items():
        mxnet_export(directory / name, **kwargs)
    for name, kwargs in {
        "inputs100": {"in_width": 100},
        "outputs20": {"out_width": 20},
        "float64": {"dtype": TensorProto.DOUBLE},
        "logits": {"softmax": False},
        "nan": {"nan": True},
    }.items():
        onnx_file(directory / f"{name}.onnx", **kwargs)
    (directory / "text.onnx").write_text("not a model\n")
    return directory


def one_error_line(result) -> str:
    assert result.returncode == 1 and result.stdout == "", result
    assert result.stderr.startswith("predict: error: ") and result.stderr.count("\n") == 1, result
    return result.stderr.removeprefix("predict: error: ").rstrip("\n")


@pytest.mark.parametrize(
    "export, problem",
    [
        ("dense20", "gives 20 values per picture, expected 10 classes"),
        (
            "inputs100",
            r"its weights: holds weight \(10, 100\) float32, bias \(10,\) float32, expected "
            r"weight \(10, 784\) float32, bias \(10,\) float32",
        ),
        (
            "float64",
            r"its weights: holds weight \(10, 784\) float64, bias \(10,\) float64, expected "
            r"weight \(10, 784\) float32, bias \(10,\) float32",
        ),
        ("nan", r"its weights: weight holds NaN or infinite values"),
    ],
)
def test_a_foreign_mxnet_export_gets_one_line(here, export, problem):
    files = (f"{export}-symbol.json", f"{export}-0000.params")
    line = one_error_line(
        predict(
            "pic.png", "--runtime", "mxnet", "--symbol", files[0], "--params", files[1], cwd=here
        )
    )
    expected = rf"{files[0]} \+ {files[1]}: {problem}; " + re.escape(DO.format(stage="train_gluon"))
    assert re.fullmatch(expected, line), line
    if export == "dense20":  # the doc's line (tests/model_faults.py)
        assert line == MODEL_FAULTS["20 wide"].message(0, file=" + ".join(files))


@pytest.mark.parametrize(
    "name, problem",
    [
        ("inputs100", r"does not take 784 values per picture \(it takes shape \['N', 100\]\)"),
        ("outputs20", "gives 20 values per picture, expected 10 classes"),
        ("float64", r"takes tensor\(double\) values, expected float32"),
        ("logits", r"runs Gemm, expected this project's Gemm, Softmax"),
        ("nan", r"W holds NaN or infinite values"),
        ("text", r"not an ONNX model \(Protobuf parsing failed\)"),
    ],
)
def test_a_foreign_onnx_file_gets_one_line(here, name, problem):
    line = one_error_line(predict("pic.png", "--onnx", f"{name}.onnx", cwd=here))
    expected = rf"{name}\.onnx: {problem}; " + re.escape(DO.format(stage="train_gluon"))
    assert re.fullmatch(expected, line), line
    documented = {"outputs20": ("20 wide", 1), "inputs100": ("784 inputs", 0)}
    documented["text"] = ("not ONNX", 0)
    if name in documented:  # the doc's lines (tests/model_faults.py)
        row, example = documented[name]
        assert line == MODEL_FAULTS[row].message(example, file=f"{name}.onnx")


def test_the_same_fault_reads_the_same_on_both_runtimes(here):
    on_mxnet = one_error_line(
        predict(
            "pic.png",
            *("--runtime", "mxnet", "--symbol", "dense20-symbol.json"),
            *("--params", "dense20-0000.params"),
            cwd=here,
        )
    )
    on_onnx = one_error_line(predict("pic.png", "--onnx", "outputs20.onnx", cwd=here))
    what = "gives 20 values per picture, expected 10 classes; use a model this project made"
    assert what in on_mxnet and what in on_onnx


def test_a_file_flag_the_runtime_would_ignore_is_refused(here):
    result = predict("pic.png", "--params", "dense20-0000.params", cwd=here)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1].endswith(
        "error: --params is not used by --runtime onnx --model gluon"
    )


RUN_AND_LIST_MXNET = """
import runpy, sys
sys.argv = ["predict", *sys.argv[1:]]
try:
    runpy.run_module("fmnist.predict", run_name="__main__")
finally:
    print("mxnet imported:", any(name.split(".")[0] == "mxnet" for name in sys.modules))
"""


def test_onnxruntime_classifies_without_mxnet_as_mxnet_does(here, tmp_path):
    rng = np.random.RandomState(1)
    weight = rng.normal(0, 0.05, (10, 784)).astype(np.float32)
    symbol, params, net = mxnet_export(tmp_path / "same", weight=weight)
    (tmp_path / "same.onnx").write_bytes(model_bytes(weight, net.bias.data().asnumpy(), "gluon"))
    pictures = [here / "pic.png"]
    for i in range(3):
        pixels = rng.randint(0, 256, (40 + i, 30)).astype(np.uint8)
        Image.fromarray(pixels).save(tmp_path / f"p{i}.png")
        pictures.append(tmp_path / f"p{i}.png")

    without = subprocess.run(
        [sys.executable, "-c", RUN_AND_LIST_MXNET, "--onnx", "same.onnx", *pictures],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert without.returncode == 0 and without.stderr == "", without
    *lines, imported = without.stdout.splitlines()
    assert imported == "mxnet imported: False"
    on_mxnet = predict(
        *pictures, "--runtime", "mxnet", "--symbol", symbol, "--params", params, cwd=tmp_path
    )
    assert on_mxnet.returncode == 0, on_mxnet.stderr
    assert lines == on_mxnet.stdout.splitlines() and len(lines) == len(pictures)
