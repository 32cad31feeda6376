"""`dvc repro` of the whole pipeline on a small generated dataset, in a temporary git repo."""

import json

import numpy as np
import pytest

from conftest import TEST_PARAMS
from fmnist.guards.atomic import TEMP_GLOB

STAGES = (
    "fetch",
    "preprocess",
    "train_scratch",
    "train_gluon",
    "evaluate",
    "render",
    "render_samples",
)


def ran_stages(repro_output: str) -> list:
    """The stages a `dvc repro` or `dvc exp run` output says it ran, in pipeline order."""
    return [stage for stage in STAGES if f"Running stage '{stage}'" in repro_output]


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PICTURES = (
    "samples.png",
    "predictions.png",
    "mistakes.png",
    "training_curves.png",
    "confusion_scratch.png",
    "confusion_gluon.png",
)


def test_repro_writes_every_output_then_runs_nothing(small_project):
    project = small_project
    first = project.dvc("repro").stdout
    for stage in STAGES:
        assert f"Running stage '{stage}'" in first
    root = project.root

    assert sorted(p.name for p in (root / "data/raw").iterdir()) == [
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
    ]
    train_x = np.load(root / "data/prepared/train_x.npy", allow_pickle=False)
    val_y = np.load(root / "data/prepared/val_y.npy", allow_pickle=False)
    test_y = np.load(root / "data/prepared/test_y.npy", allow_pickle=False)
    held_out = TEST_PARAMS["preprocess"]["validation_size"]
    assert train_x.shape == (300 - held_out, 784) and train_x.dtype == np.float32
    assert val_y.shape == (held_out,) and val_y.dtype == np.int32
    assert train_x.min() >= 0 and train_x.max() <= 1
    assert test_y.shape == (100,) and test_y.dtype == np.int32

    for name in (
        "scratch.params",
        "gluon.params",
        "gluon-export/gluon-symbol.json",
        "gluon-export/gluon-0000.params",
    ):
        assert (root / "models" / name).stat().st_size > 0
    for model in ("scratch", "gluon"):
        history = json.loads((root / f"dvclive/{model}/metrics.json").read_text())
        assert history["step"] == 2
    # The generated classes are learnable by a linear model: both must learn them.
    for metric in ("val_accuracy", "test_accuracy"):
        accuracy = json.loads((root / f"metrics/{metric}.json").read_text())
        assert accuracy["scratch"] >= 0.85 and accuracy["gluon"] >= 0.85, metric
    # evaluate's validation accuracy is the last epoch's, as training logged it.
    val_accuracy = json.loads((root / "metrics/val_accuracy.json").read_text())
    for model in ("scratch", "gluon"):
        history = json.loads((root / f"dvclive/{model}/metrics.json").read_text())
        assert history["val_accuracy"] == pytest.approx(val_accuracy[model], abs=1e-6)
    for model in ("scratch", "gluon"):
        assert (root / f"predicted_classes/{model}.csv").read_text().count("\n") == 101
        probabilities = np.load(root / f"probabilities/{model}.npy", allow_pickle=False)
        assert probabilities.shape == (100, 10)
    for picture in PICTURES:
        assert (root / "plots" / picture).read_bytes()[:8] == PNG_MAGIC
    assert not list(root.rglob(TEMP_GLOB)), "temporary files were left behind"

    second = project.dvc("repro").stdout
    assert "Running stage" not in second
    for stage in STAGES:
        assert f"Stage '{stage}' didn't change, skipping" in second
    assert "up to date" in project.dvc("status").stdout
