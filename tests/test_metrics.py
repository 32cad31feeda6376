"""Metrics against hand-computed values, and the files evaluate writes for DVC."""

import json

import numpy as np
import pytest

from fmnist import FmnistError
from fmnist.guards.atomic import atomic_path
from fmnist.lesson.fashion_mnist import CLASS_NAMES
from fmnist.metrics import (
    agreement,
    confidently_wrong,
    confusion_matrix,
    log_loss,
    macro_f1,
    per_class_accuracy,
    summarize,
)
from fmnist.results import (
    class_key,
    load_histories,
    load_probabilities,
    metric_files,
    save_probabilities,
    write_metric_files,
    write_predicted_classes,
)

# Three classes, six images: class 0 always right, class 1 half wrong (as 0), class 2 never
# predicted (both its images predicted 1).
ACTUAL = np.array([0, 0, 1, 1, 2, 2])
PREDICTED = np.array([0, 0, 1, 0, 1, 1])


def one_hot_proba(predicted, confidence, k=10):
    """Probabilities whose argmax is `predicted`, with `confidence` on it, the rest spread."""
    proba = np.full((len(predicted), k), 0.0)
    proba[:] = ((1 - np.asarray(confidence)) / (k - 1))[:, None]
    proba[np.arange(len(predicted)), predicted] = confidence
    return proba


def test_confusion_matrix_rows_are_actual_columns_predicted():
    cm = confusion_matrix(ACTUAL, PREDICTED, k=3)
    np.testing.assert_array_equal(cm, [[2, 0, 0], [1, 1, 0], [0, 2, 0]])


def test_per_class_accuracy_and_macro_f1_by_hand():
    cm = confusion_matrix(ACTUAL, PREDICTED, k=3)
    np.testing.assert_allclose(per_class_accuracy(cm), [1.0, 0.5, 0.0])
    # precision 2/3, 1/3, 0 (never predicted: 0, not NaN); recall 1, 1/2, 0
    f1 = [2 * (2 / 3) * 1 / (2 / 3 + 1), 2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2), 0.0]
    assert macro_f1(cm) == pytest.approx(np.mean(f1))


def test_log_loss_of_uniform_perfect_and_impossible_predictions():
    uniform = np.full((4, 10), 0.1)
    assert log_loss(np.array([0, 3, 5, 9]), uniform) == pytest.approx(np.log(10))
    perfect = np.eye(10)[[2, 7]]
    assert log_loss(np.array([2, 7]), perfect) == pytest.approx(0.0, abs=1e-12)
    # Probability 0 on the true class: clipped, so large but finite.
    assert log_loss(np.array([3]), np.eye(10)[[2]]) == pytest.approx(-np.log(1e-15))


def test_summarize_one_model():
    proba = one_hot_proba(PREDICTED, np.full(6, 0.9))
    summary = summarize(ACTUAL, proba)
    assert summary["accuracy"] == pytest.approx(3 / 6)
    assert summary["log_loss"] == pytest.approx(
        -np.mean(np.log([0.9, 0.9, 0.9, 0.1 / 9, 0.1 / 9, 0.1 / 9]))
    )
    assert summary["per_class_accuracy"][:3] == [1.0, 0.5, 0.0]
    assert len(summary["per_class_accuracy"]) == 10


def test_agreement():
    assert agreement(np.array([1, 2, 3, 4]), np.array([1, 2, 0, 4])) == 0.75


def test_confidently_wrong_orders_by_confidence_and_keeps_ties_in_order():
    actual = np.array([0, 1, 2, 3, 4, 5])
    predicted = np.array([0, 2, 3, 3, 5, 6])  # images 1, 2, 4, 5 are wrong
    proba = one_hot_proba(predicted, np.array([0.99, 0.6, 0.8, 0.95, 0.8, 0.7]))
    np.testing.assert_array_equal(confidently_wrong(actual, proba, 3), [2, 4, 5])
    np.testing.assert_array_equal(confidently_wrong(actual, proba, 10), [2, 4, 5, 1])
    right = one_hot_proba(actual, np.full(6, 0.5))
    assert confidently_wrong(actual, right, 3).size == 0


def test_class_keys_are_plain_unique_and_in_label_order():
    keys = [class_key(label) for label in range(10)]
    assert keys[0] == "0_T-shirt-top" and keys[9] == "9_Ankle_boot"
    assert len(set(keys)) == 10 and sorted(keys) == keys
    assert not any(c in key for key in keys for c in "/ ")


def histories():
    return {
        name: {
            "epoch": [1, 2],
            "loss": [0.9, loss],
            "train_accuracy": [0.5, acc],
            "val_loss": [0.95, 0.5],
            "val_accuracy": [0.5, 0.6],
            "onnx_agreement": 1.0,
            "onnx_max_difference_ppm": ppm,
        }
        for name, loss, acc, ppm in (("scratch", 0.4, 0.8, 2.0), ("gluon", 0.3, 0.85, 0.7))
    }


def test_metric_files_put_both_models_side_by_side():
    probas = {
        "scratch": one_hot_proba(PREDICTED, np.full(6, 0.9)),
        "gluon": one_hot_proba(ACTUAL, np.full(6, 0.9)),
    }
    # A validation set of four images, both models predicting as scratch does (3 of 4 right).
    validation = (ACTUAL[:4], {"scratch": probas["scratch"][:4], "gluon": probas["scratch"][:4]})
    files = metric_files(ACTUAL, probas, histories(), validation)
    assert files["test_accuracy.json"] == {"scratch": 0.5, "gluon": 1.0}
    assert files["val_accuracy.json"] == {"scratch": 0.75, "gluon": 0.75}
    assert files["val_log_loss.json"]["scratch"] == pytest.approx(
        files["val_log_loss.json"]["gluon"]
    )
    assert files["val_log_loss.json"]["scratch"] > files["log_loss.json"]["gluon"]
    assert files["train_loss.json"] == {"scratch": 0.4, "gluon": 0.3}
    assert files["train_accuracy.json"] == {"scratch": 0.8, "gluon": 0.85}
    assert files["agreement.json"] == {"agreement": 0.5}
    assert files["onnx_max_difference_ppm.json"] == {"scratch": 2.0, "gluon": 0.7}
    assert files["macro_f1.json"]["gluon"] == pytest.approx(0.3)  # classes 3-9: no images, F1 0
    per_class = files.pop("per_class_accuracy.json")
    assert list(per_class) == [class_key(label) for label in range(len(CLASS_NAMES))]
    assert per_class["1_Trouser"] == {"scratch": 0.5, "gluon": 1.0}
    assert per_class["2_Pullover"] == {"scratch": 0.0, "gluon": 1.0}
    assert all(set(values) == {"scratch", "gluon"} for values in per_class.values())
    assert all(
        set(values) == {"scratch", "gluon"}
        for name, values in files.items()
        if name != "agreement.json"
    )


def test_metric_files_staged_replace_the_whole_directory(tmp_path):
    # As the evaluate stage writes them: into a staged directory that replaces the old one.
    metrics_dir = tmp_path / "metrics"
    files = {
        "test_accuracy.json": {"scratch": 0.5, "gluon": 0.75},
        "per_class_accuracy.json": {"0_T-shirt-top": {"scratch": 0.25, "gluon": 0.5}},
    }
    for written in ({"old.json": {"scratch": 1.0}}, files):
        with atomic_path(metrics_dir) as staged:
            write_metric_files(written, staged)
    written = {
        str(p.relative_to(metrics_dir)): json.loads(p.read_text())
        for p in metrics_dir.rglob("*.json")
    }
    assert written == files  # old.json is gone
    assert list(tmp_path.iterdir()) == [metrics_dir]


def test_predicted_classes_csv_has_a_row_per_image_with_class_names(tmp_path):
    probas = {"scratch": one_hot_proba(PREDICTED, np.full(6, 0.9))}
    write_predicted_classes(ACTUAL, probas, tmp_path / "rows")
    lines = (tmp_path / "rows/scratch.csv").read_text().splitlines()
    assert lines[0] == "actual,predicted"
    assert lines[1:] == [
        "T-shirt/top,T-shirt/top",
        "T-shirt/top,T-shirt/top",
        "Trouser,Trouser",
        "Trouser,T-shirt/top",
        "Pullover,Trouser",
        "Pullover,Trouser",
    ]


def test_probabilities_round_trip_and_bad_files_say_what_to_do(tmp_path):
    probas = {
        name: one_hot_proba(ACTUAL, np.full(6, p)) for name, p in (("scratch", 0.7), ("gluon", 0.9))
    }
    save_probabilities(probas, tmp_path / "probabilities")
    loaded = load_probabilities(tmp_path / "probabilities", 6)
    for name in probas:
        assert loaded[name].dtype == np.float32
        np.testing.assert_allclose(loaded[name], probas[name], rtol=1e-6)
    with pytest.raises(FmnistError, match=r"shape \(6, 10\), expected \(5, 10\).*evaluate"):
        load_probabilities(tmp_path / "probabilities", 5)
    with pytest.raises(FmnistError, match="scratch.npy.*rerun the evaluate stage"):
        load_probabilities(tmp_path / "missing", 6)


def test_missing_training_history_names_the_stage_to_rerun(tmp_path):
    with pytest.raises(FmnistError, match="rerun the train_gluon stage"):
        load_histories({"gluon": tmp_path / "dvclive/gluon"})
