"""The models as ONNX: built by hand from the weights (fmnist.onnx_files), reproducible to the
byte, loaded by onnxruntime without a warning, and checked by the training stages against
MXNet on the validation set."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import onnx
import pytest
import yaml

from conftest import AS_ROOT, PROJECT, copy_reproduced
from fmnist import FmnistError
from fmnist.mxnet_sources import read_model
from fmnist.onnx_files import (
    INPUT,
    IR_VERSION,
    OPSET,
    OUTPUT,
    faithfulness,
    model_bytes,
    probabilities,
    require_faithful,
    session,
    softmax_regression,
)
from model_faults import MODEL_FAULTS

rng = np.random.RandomState(0)
WEIGHT = rng.normal(0, 0.05, (10, 784)).astype(np.float32)
BIAS = rng.normal(0, 0.1, 10).astype(np.float32)


def plain_session(path):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_the_graph_is_a_linear_layer_and_a_softmax_with_a_dynamic_batch(tmp_path):
    proto = softmax_regression(WEIGHT, BIAS, "test")
    assert [node.op_type for node in proto.graph.node] == ["Gemm", "Softmax"]
    assert (proto.ir_version, proto.opset_import[0].version) == (IR_VERSION, OPSET)
    assert [i.name for i in proto.graph.input] == [INPUT]  # W and b are initializers only
    assert {t.name for t in proto.graph.initializer} == {"W", "b"}
    assert proto.producer_version == ""  # nothing of the installed onnx's version

    path = tmp_path / "test.onnx"
    path.write_bytes(model_bytes(WEIGHT, BIAS, "test"))
    for batch in (1, 7):
        x = np.random.RandomState(batch).rand(batch, 784).astype(np.float32)
        (p,) = plain_session(path).run([OUTPUT], {INPUT: x})
        logits = x.astype(np.float64) @ WEIGHT.T.astype(np.float64) + BIAS
        expected = np.exp(logits - logits.max(1, keepdims=True))
        expected /= expected.sum(1, keepdims=True)
        assert p.shape == (batch, 10) and p.dtype == np.float32
        np.testing.assert_allclose(p, expected, rtol=0, atol=1e-6)
    classes = plain_session(path).get_modelmeta().custom_metadata_map["classes"]
    assert json.loads(classes)[9] == "Ankle boot"


def test_the_bytes_depend_on_the_weights_alone():
    code = (
        "import sys, numpy as np; from fmnist.onnx_files import model_bytes; "
        "w = np.arange(7840, dtype=np.float32).reshape(10, 784) / 7840; "
        "sys.stdout.buffer.write(model_bytes(w, np.ones(10, np.float32), 'x'))"
    )
    runs = [
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, check=True, env=env
        ).stdout
        for env in ({"OMP_NUM_THREADS": "1"}, {"OMP_NUM_THREADS": "3", "TZ": "Asia/Tokyo"})
    ]
    assert runs[0] == runs[1] and onnx.load_from_string(runs[0]).graph.node


def test_onnxruntime_loads_an_exported_file_without_a_word(tmp_path):
    path = tmp_path / "gluon.onnx"
    path.write_bytes(model_bytes(WEIGHT, BIAS, "gluon"))
    result = subprocess.run(
        [sys.executable, "-c", f"import onnxruntime as ort; ort.InferenceSession({str(path)!r})"],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": os.environ["PATH"]},  # a user's shell, not fmnist's CPU caps (numpy warns)
    )
    assert result.stdout == result.stderr == ""


@pytest.mark.parametrize(
    "weight, bias, expected",
    [
        (WEIGHT[:, :100], BIAS, r"holds W \(10, 100\) float32, b \(10,\) float32, expected W"),
        (WEIGHT.astype(np.float64), BIAS, r"holds W \(10, 784\) float64, b \(10,\) float32"),
        (np.where(WEIGHT > 0.1, np.nan, WEIGHT), BIAS, "W holds NaN or infinite values"),
        (WEIGHT, np.full(10, np.inf, np.float32), "b holds NaN or infinite values"),
    ],
)
def test_weights_that_are_not_the_models_are_refused(weight, bias, expected):
    with pytest.raises(FmnistError, match=f"^the x model: {expected}"):
        softmax_regression(weight, bias, "x")


@pytest.fixture(scope="module")
def evaluated_project(tmp_path_factory, reproduced_template):
    """A copy of the run's reproduced small project, shared by this module's pipeline tests."""
    return copy_reproduced(reproduced_template, tmp_path_factory.mktemp("onnx") / "project")


def test_evaluate_records_the_check_as_metrics(evaluated_project):
    project = evaluated_project
    shown = project.dvc("metrics", "show", "--json").stdout
    metrics = next(iter(json.loads(shown).values()))["data"]
    agreement = metrics["metrics/onnx_agreement.json"]["data"]
    difference = metrics["metrics/onnx_max_difference_ppm.json"]["data"]
    assert agreement == {"scratch": 1.0, "gluon": 1.0}
    assert set(difference) == {"scratch", "gluon"}
    assert all(0 <= ppm <= 10 for ppm in difference.values()), difference
    lock = yaml.safe_load((project.root / "dvc.lock").read_text())["stages"]
    for name in ("scratch", "gluon"):
        outs = {out["path"] for out in lock[f"train_{name}"]["outs"]}
        assert f"models/{name}.onnx" in outs


def test_a_forced_rerun_of_a_training_gives_the_same_onnx_bytes(evaluated_project):
    project = evaluated_project
    lock = (project.root / "dvc.lock").read_bytes()
    rerun = project.dvc("repro", "--force", "--single-item", "train_scratch")
    assert "Running stage 'train_scratch'" in rerun.stdout
    assert (project.root / "dvc.lock").read_bytes() == lock


@AS_ROOT
def test_a_full_disk_ends_a_training_with_one_line_and_no_file(evaluated_project, mounts, tmp_path):
    """Room for the weights (31 KB) but not also their ONNX file (32 KB): the write fails,
    and no output is left under its final name or a temporary one."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounts.tmpfs(disk, "40k")
    result = subprocess.run(
        [sys.executable, str(PROJECT / "stages/train_scratch.py"), "--prepared-dir"]
        + ["data/prepared", "--model", str(disk / "scratch.params")]
        + ["--onnx", str(disk / "scratch.onnx"), "--live-dir", str(disk / "live")],
        cwd=evaluated_project.root,
        env=evaluated_project.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result
    assert re.fullmatch(
        rf"train_scratch: error: {re.escape(str(disk))}/[\w.]+: No space left on device "
        r"\(the disk is full: .*\); free some space there .*\n",
        result.stderr,
    ), result.stderr
    assert list(disk.iterdir()) == []


@pytest.mark.parametrize(
    "change, agreement",
    [
        (lambda w, b: (w * np.float32(1.02), b), r"1\.0000"),  # sharper: same classes
        (lambda w, b: (w[::-1].copy(), b[::-1].copy()), r"0\.\d{4}"),  # classes swapped
    ],
)
def test_an_onnx_file_that_answers_otherwise_fails_the_check_in_one_line(
    evaluated_project, change, agreement
):
    """The training stages' check, with an ONNX file of other weights than the model's."""
    root = evaluated_project.root
    model = read_model(root / "models/gluon.params", "gluon")
    proto = onnx.load_from_string((root / "models/gluon.onnx").read_bytes())
    w, b = (onnx.numpy_helper.to_array(t) for t in proto.graph.initializer)
    x = np.load(root / "data/prepared/val_x.npy", allow_pickle=False)
    changed = probabilities(session(model_bytes(*change(w, b), "gluon")), x)
    check = faithfulness(model.predict_proba(x), changed)
    with pytest.raises(FmnistError) as raised:
        require_faithful(check, "models/gluon.onnx", "gluon")
    said = MODEL_FAULTS["unfaithful"].match(str(raised.value))
    assert said and re.fullmatch(agreement, said["agreement"]), raised.value
    unchanged = probabilities(session(model_bytes(w, b, "gluon")), x)
    require_faithful(faithfulness(model.predict_proba(x), unchanged), "models/gluon.onnx", "gluon")


def test_a_tie_may_change_class_within_the_bound_but_nan_fails_the_check():
    mxnet = np.array([[0.5, 0.5 - 1e-7, 0], [0.9, 0.1, 0]], np.float32)
    onnx_ = np.array([[0.5 - 1e-7, 0.5, 0], [0.9, 0.1, 0]], np.float32)
    check = faithfulness(mxnet, onnx_)
    assert check["onnx_agreement"] == 0.5
    require_faithful(check, "models/gluon.onnx", "gluon")  # a tie: within the bound
    check = {"onnx_max_difference_ppm": float("nan"), "onnx_agreement": 1.0}
    with pytest.raises(FmnistError, match="largest probability difference nan"):
        require_faithful(check, "models/gluon.onnx", "gluon")
