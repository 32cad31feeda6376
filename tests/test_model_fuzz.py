"""Model files from elsewhere, hostile and mutated, as the picture fuzz test treats pictures:
each ends in a prediction or one line, within a time bound. A file is run only if it is one
this project makes (fmnist.onnx_files.file_problem, fmnist.mxnet_files.export_problem), so
a model that would never return, or allocate gigabytes, is refused before it starts."""

import json
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from fmnist import FmnistError
from fmnist.lesson.fashion_mnist import NUM_CLASSES, NUM_FEATURES
from fmnist.model_sources import MAX_MODEL_FILE_BYTES
from fmnist.mxnet_sources import MxnetExport
from fmnist.onnx_files import OnnxFile, model_bytes
from model_faults import MODEL_FAULTS
from test_predict_models import mxnet_export

ONE_PICTURE_S = 20  # predict classifies one picture in ~0.3 s (ONNX), ~1.5 s (MXNet)
MUTANTS = 150  # per kind of file: ~0.05 s each in onnxruntime, ~0.03 s in MXNet


def project_onnx() -> bytes:
    rng = np.random.default_rng(0)
    weight = rng.normal(0, 0.01, (NUM_CLASSES, NUM_FEATURES)).astype(np.float32)
    return model_bytes(weight, np.zeros(NUM_CLASSES, np.float32), "gluon")


def with_extra_node(node, initializers) -> bytes:
    """The project's graph, its logits first passed through node (inputs 'logits', extra...,
    output 'shifted'): runs in onnxruntime, costs what node costs."""
    from onnx import ModelProto

    model = ModelProto.FromString(project_onnx())
    graph = model.graph
    graph.node[1].input[0] = "shifted"
    graph.node.insert(1, node)
    graph.initializer.extend(initializers)
    return model.SerializeToString()


def endless_loop() -> bytes:
    """logits + the number of Loop steps, 10**15 of them."""
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("Add", ["acc_in", "one"], ["acc_out"]),
        ],
        "count",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_in", TensorProto.FLOAT, ["N", NUM_CLASSES]),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, ["N", NUM_CLASSES]),
        ],
        initializer=[numpy_helper.from_array(np.zeros(1, np.float32), "one")],
    )
    loop = helper.make_node("Loop", ["trips", "go_on", "logits"], ["shifted"], body=body)
    constants = [
        numpy_helper.from_array(np.array(10**15, np.int64), "trips"),
        numpy_helper.from_array(np.array(True), "go_on"),
    ]
    return with_extra_node(loop, constants)


def four_gigabytes() -> bytes:
    """logits + the sum of a 2**30 float32 tensor of zeros (4 GB), made from 8 bytes."""
    from onnx import ModelProto

    model = ModelProto.FromString(
        with_extra_node(helper.make_node("Add", ["logits", "zero"], ["shifted"]), [])
    )
    model.graph.node.insert(1, helper.make_node("ConstantOfShape", ["size"], ["big"]))
    model.graph.node.insert(2, helper.make_node("ReduceSum", ["big"], ["zero"], keepdims=0))
    model.graph.initializer.append(numpy_helper.from_array(np.array([2**30], np.int64), "size"))
    return model.SerializeToString()


def external_weights() -> bytes:
    from onnx import ModelProto

    model = ModelProto.FromString(project_onnx())
    weight = model.graph.initializer[0]
    weight.ClearField("raw_data")
    weight.data_location = TensorProto.EXTERNAL
    weight.external_data.add(key="location", value="/dev/zero")
    return model.SerializeToString()


def other_doc_string() -> bytes:
    from onnx import ModelProto

    model = ModelProto.FromString(project_onnx())
    model.doc_string = "a model from elsewhere"
    return model.SerializeToString()


HOSTILE_ONNX = {
    "endless Loop": (
        endless_loop,
        "runs Gemm, Loop, Softmax, expected this project's Gemm, Softmax",
    ),
    "4 GB tensor": (
        four_gigabytes,
        "runs Gemm, ConstantOfShape, ReduceSum, Add, Softmax, expected this project's Gemm, "
        "Softmax",
    ),
    "weights in /dev/zero": (
        external_weights,
        "weights are in another file, expected them in the ONNX file",
    ),
    "another document string": (
        other_doc_string,
        "not the file the training stages make from its weights (another graph name, "
        "attribute, opset, document string or metadata)",
    ),
    "oversized": (
        lambda: project_onnx() + b"\0" * MAX_MODEL_FILE_BYTES,
        f"{len(project_onnx()) + MAX_MODEL_FILE_BYTES} bytes, more than any file of this "
        f"project's models (at most {MAX_MODEL_FILE_BYTES})",
    ),
}
DO = "; use a model this project made (`dvc repro {stage}`)"


@pytest.fixture(scope="module")
def here(tmp_path_factory):
    directory = tmp_path_factory.mktemp("hostile-models")
    picture = np.random.RandomState(0).randint(0, 256, (28, 28)).astype(np.uint8)
    Image.fromarray(picture).save(directory / "pic.png")
    return directory


def predict(here, *args) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "fmnist.predict", "pic.png", *args],
        cwd=here,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result, time.monotonic() - started


@pytest.mark.parametrize("name", sorted(HOSTILE_ONNX))
def test_a_hostile_onnx_file_is_refused_before_it_runs(here, name):
    make, problem = HOSTILE_ONNX[name]
    (here / "gluon.onnx").write_bytes(make())
    result, took = predict(here, "--onnx", "gluon.onnx")
    assert took < ONE_PICTURE_S
    assert (result.returncode, result.stdout) == (1, ""), result
    assert result.stderr == (
        f"predict: error: gluon.onnx: {problem}{DO.format(stage='train_gluon')}\n"
    )
    documented = {"endless Loop": ("graph", 0), "4 GB tensor": ("graph", 1)}
    documented["oversized"] = ("too large", 0)
    if name in documented:  # the doc's lines (tests/model_faults.py)
        row, example = documented[name]
        size = len(project_onnx()) + MAX_MODEL_FILE_BYTES
        line = result.stderr.removeprefix("predict: error: ").rstrip("\n")
        assert MODEL_FAULTS[row].matches(line, example, size=size), line


def symbol_with(edit, symbol) -> str:
    graph = json.loads(Path(symbol).read_text())
    edit(graph)
    return json.dumps(graph)


def two_outputs(graph):
    graph["heads"].append([3, 0, 0])


def an_extra_operator(graph):
    graph["nodes"].append({"op": "relu", "name": "relu0", "inputs": [[3, 0, 0]]})
    graph["heads"] = [[4, 0, 0]]


HOSTILE_EXPORTS = {
    "two outputs": (two_outputs, "has 2 outputs, expected 1 (the 10 class scores)"),
    "an extra operator": (
        an_extra_operator,
        "runs null, null, null, FullyConnected, relu, expected one FullyConnected layer",
    ),
}


@pytest.fixture(scope="module")
def export(here):
    symbol, params, _ = mxnet_export(here / "project")
    return symbol, params


@pytest.mark.parametrize("name", sorted(HOSTILE_EXPORTS))
def test_a_hostile_mxnet_export_is_refused_before_it_runs(here, export, name):
    edit, problem = HOSTILE_EXPORTS[name]
    (here / "hostile-symbol.json").write_text(symbol_with(edit, export[0]))
    result, took = predict(
        here, "--runtime", "mxnet", "--symbol", "hostile-symbol.json", "--params", export[1]
    )
    assert took < ONE_PICTURE_S
    assert (result.returncode, result.stdout) == (1, ""), result
    files = f"hostile-symbol.json + {export[1]}"
    assert result.stderr == (
        f"predict: error: {files}: {problem}{DO.format(stage='train_gluon')}\n"
    )
    if name == "two outputs":  # the doc's line (tests/model_faults.py)
        line = result.stderr.removeprefix("predict: error: ").rstrip("\n")
        assert line == MODEL_FAULTS["export graph"].message(file=files)


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One to four byte edits: set, insert or delete a few bytes anywhere."""
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        at, n = rng.randrange(len(data)), rng.randint(1, 4)
        kind = rng.choice(["set", "insert", "delete"])
        if kind == "set":
            data[at : at + n] = bytes(rng.randrange(256) for _ in range(len(data[at : at + n])))
        elif kind == "insert":
            data[at:at] = bytes(rng.randrange(256) for _ in range(n))
        else:
            del data[at : at + n]
    return bytes(data)


def prediction_or_one_line(source, path) -> str:
    """'ok' or 'refused'; anything else (a traceback, a hang) fails the test."""
    x = np.random.default_rng(1).random((2, NUM_FEATURES), dtype=np.float32)
    started = time.monotonic()
    try:
        probabilities = source.load().probabilities(x)
    except FmnistError as exc:
        message = str(exc)
        assert message.startswith(f"{path}") and message.isprintable(), message
        assert "\n" not in message
        outcome = "refused"
    else:
        assert probabilities.shape == (2, NUM_CLASSES)
        outcome = "ok"
    assert time.monotonic() - started < ONE_PICTURE_S
    return outcome


def test_mutated_onnx_files_predict_or_give_one_line(tmp_path):
    rng, seed = random.Random(24), project_onnx()
    outcomes = []
    for i in range(MUTANTS):
        path = tmp_path / f"mutant-{i}.onnx"
        path.write_bytes(mutate(seed, rng))
        outcomes.append(prediction_or_one_line(OnnxFile(path, "train_gluon"), path))
    # Edits inside the weights keep the file the project's: both outcomes are exercised.
    assert {"ok", "refused"} <= set(outcomes), outcomes


def test_mutated_mxnet_exports_predict_or_give_one_line(tmp_path, export):
    rng = random.Random(24)
    symbol, params = Path(export[0]).read_bytes(), Path(export[1]).read_bytes()
    outcomes = []
    for i in range(MUTANTS):
        which = rng.choice(["symbol", "params"])
        paths = tmp_path / f"m{i}-symbol.json", tmp_path / f"m{i}-0000.params"
        paths[0].write_bytes(mutate(symbol, rng) if which == "symbol" else symbol)
        paths[1].write_bytes(mutate(params, rng) if which == "params" else params)
        outcomes.append(prediction_or_one_line(MxnetExport(*paths), paths[0]))
    assert {"ok", "refused"} <= set(outcomes), outcomes
