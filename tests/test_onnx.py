"""The models as ONNX: built by hand from the weights (fmnist.onnx_graph), reproducible to the
byte, loaded by onnxruntime without a warning, and checked by evaluate against MXNet."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import onnx
import pytest
import yaml

from conftest import AS_ROOT, PROJECT, small_project_at
from fmnist import FmnistError
from fmnist.onnx_graph import (
    INPUT,
    IR_VERSION,
    OPSET,
    OUTPUT,
    check_weights,
    model_bytes,
    require_faithful,
    softmax_regression,
)

rng = np.random.RandomState(0)
WEIGHT = rng.normal(0, 0.05, (10, 784)).astype(np.float32)
BIAS = rng.normal(0, 0.1, 10).astype(np.float32)


def session(path):
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
        (p,) = session(path).run([OUTPUT], {INPUT: x})
        logits = x.astype(np.float64) @ WEIGHT.T.astype(np.float64) + BIAS
        expected = np.exp(logits - logits.max(1, keepdims=True))
        expected /= expected.sum(1, keepdims=True)
        assert p.shape == (batch, 10) and p.dtype == np.float32
        np.testing.assert_allclose(p, expected, rtol=0, atol=1e-6)
    classes = session(path).get_modelmeta().custom_metadata_map["classes"]
    assert json.loads(classes)[9] == "Ankle boot"


def test_the_bytes_depend_on_the_weights_alone():
    code = (
        "import sys, numpy as np; from fmnist.onnx_graph import model_bytes; "
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
        (WEIGHT[:, :100], BIAS, r"weights of shapes \(\(10, 100\), \(10,\)\)"),
        (WEIGHT.astype(np.float64), BIAS, "weights are float64/float32, expected float32"),
        (np.where(WEIGHT > 0.1, np.nan, WEIGHT), BIAS, "weights hold NaN or infinity"),
        (WEIGHT, np.full(10, np.inf, np.float32), "weights hold NaN or infinity"),
    ],
)
def test_weights_that_are_not_the_models_are_refused(weight, bias, expected):
    with pytest.raises(FmnistError, match=f"^models/x.params: {expected}"):
        check_weights(weight, bias, "models/x.params")


@pytest.fixture(scope="module")
def evaluated_project(tmp_path_factory, small_dataset, plots_page):
    """The small project run up to evaluate, shared by this module's pipeline tests."""
    project = small_project_at(
        tmp_path_factory.mktemp("onnx") / "project", small_dataset, plots_page
    )
    project.dvc("repro", "evaluate")
    return project


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
    outs = {out["path"] for out in lock["export_onnx"]["outs"]}
    assert outs == {"models/scratch.onnx", "models/gluon.onnx"}


def test_a_forced_rerun_of_export_onnx_gives_the_same_bytes(evaluated_project):
    project = evaluated_project
    lock = (project.root / "dvc.lock").read_bytes()
    rerun = project.dvc("repro", "--force", "--single-item", "export_onnx")
    assert "Running stage 'export_onnx'" in rerun.stdout
    assert (project.root / "dvc.lock").read_bytes() == lock


@AS_ROOT
def test_a_full_disk_ends_export_onnx_with_one_line_and_no_file(
    evaluated_project, mounts, tmp_path
):
    """Room for one ONNX file of two (32 KB each): the second write fails, and neither is
    left under its final name or a temporary one."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounts.tmpfs(disk, "40k")
    models = evaluated_project.root / "models"
    result = subprocess.run(
        [sys.executable, str(PROJECT / "stages/export_onnx.py")]
        + ["--scratch-model", str(models / "scratch.params")]
        + ["--gluon-model", str(models / "gluon.params")]
        + ["--scratch-onnx", str(disk / "scratch.onnx"), "--gluon-onnx", str(disk / "gluon.onnx")],
        cwd=evaluated_project.root,
        env=evaluated_project.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1 and result.stdout == "", result
    assert re.fullmatch(
        rf"export_onnx: error: {re.escape(str(disk))}/\w+\.onnx: No space left on device "
        r"\(the disk is full: .*\); free some space there .*\n",
        result.stderr,
    ), result.stderr
    assert list(disk.iterdir()) == []


def evaluate_command() -> list[str]:
    return yaml.safe_load((PROJECT / "dvc.yaml").read_text())["stages"]["evaluate"]["cmd"].split()


@pytest.mark.parametrize(
    "change, agreement",
    [
        (lambda w, b: (w * np.float32(1.02), b), r"1\.0000"),  # sharper: same classes
        (lambda w, b: (w[::-1].copy(), b[::-1].copy()), r"0\.\d{4}"),  # classes swapped
    ],
)
def test_evaluate_fails_with_one_line_when_an_onnx_file_answers_otherwise(
    evaluated_project, change, agreement
):
    """The file an ONNX runtime would serve, replaced by one of other weights: evaluate
    stops with one line and writes nothing."""
    project, root = evaluated_project, evaluated_project.root
    gluon_onnx = root / "models/gluon.onnx"
    good = gluon_onnx.read_bytes()
    proto = onnx.load_from_string(good)
    w, b = (onnx.numpy_helper.to_array(t) for t in proto.graph.initializer)
    metrics_before = {p.name: p.read_bytes() for p in (root / "metrics").iterdir()}
    try:
        gluon_onnx.chmod(0o644)  # DVC links outputs read-only from its cache
        gluon_onnx.unlink()
        gluon_onnx.write_bytes(model_bytes(*change(w, b), "gluon"))
        result = project.run(sys.executable, *evaluate_command()[1:], check=False)
    finally:
        gluon_onnx.unlink()
        gluon_onnx.write_bytes(good)
    assert result.returncode == 1, result.stderr
    assert re.fullmatch(
        r"evaluate: error: models/gluon\.onnx: onnxruntime differs from MXNet's gluon model "
        rf"\(agreement {agreement}, largest probability difference \d\.\de-0\d, allowed "
        r"1e-05\); rerun `dvc repro export_onnx`\n",
        result.stderr,
    ), result.stderr
    assert {p.name: p.read_bytes() for p in (root / "metrics").iterdir()} == metrics_before


def test_a_nan_difference_fails_the_check_rather_than_reaching_a_metrics_file():
    check = {"onnx_max_difference_ppm.json": {"gluon": float("nan")}}
    check["onnx_agreement.json"] = {"gluon": 1.0}
    with pytest.raises(FmnistError, match="largest probability difference nan"):
        require_faithful(check, {"gluon": "models/gluon.onnx"})
