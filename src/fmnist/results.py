"""The files of results: what evaluate writes (one file per metric on the validation and
the test set, the predicted classes, the test-set probabilities) and what evaluate and render
read back (those probabilities and the training histories, DVCLive directories written by
fmnist.training_stage). Nothing here loads a model, so render does not depend on MXNet.

Metrics are written one file per metric, each holding {"scratch": value, "gluon": value}.
`dvc metrics show` prints one row per file and one column per key, so this layout gives a
narrow table with the two models in adjacent columns; one nested file per run gave a
single row ~30 columns wide.

The ten per-class accuracies go into one file, per_class_accuracy.json, that dvc.yaml does
not declare as a metric: declared, it would add 20 columns to `dvc metrics show` and
`dvc exp show`. `dvc metrics diff --targets metrics/per_class_accuracy.json` compares it,
in label order (its keys sort that way, and DVC sorts the keys within a file).
"""

import json
from pathlib import Path

import numpy as np

from . import FmnistError
from .lesson.fashion_mnist import CLASS_NAMES, NUM_CLASSES
from .metrics import agreement, confusion_matrix, summarize

MODELS = ("scratch", "gluon")
# What fmnist.training_stage logs per epoch: training loss and accuracy, then the same on the
# validation set. The test set has no series: only evaluate reads it, once.
HISTORY_SERIES = ("loss", "train_accuracy", "val_loss", "val_accuracy")


# What the training stage checked of its ONNX file (fmnist.onnx_files.faithfulness), in the
# DVCLive summary: evaluate reports it, one metrics file each.
ONNX_CHECK = ("onnx_agreement", "onnx_max_difference_ppm")


def read_history(live_dir) -> dict:
    """The per-epoch series DVCLive wrote, as {"epoch": [...], "loss": [...], ...}, and
    the ONNX check's numbers from its summary."""
    path = f"{live_dir}/metrics.json"
    with open(path) as f:
        summary = json.load(f)
    series = {key: summary.get(key) if isinstance(summary, dict) else None for key in ONNX_CHECK}
    if not all(isinstance(v, int | float) and np.isfinite(v) for v in series.values()):
        raise ValueError(f"{path} holds no finite {' and '.join(ONNX_CHECK)}")
    for name in HISTORY_SERIES:
        path = f"{live_dir}/plots/metrics/{name}.tsv"
        with open(path) as f:
            rows = [line.split("\t") for line in f.read().splitlines()[1:]]
        series["epoch"] = [int(step) for step, _ in rows]
        series[name] = [float(value) for _, value in rows]
        if not np.isfinite(series[name]).all():  # no metrics file may hold NaN or Infinity
            raise ValueError(f"{path} holds NaN or infinite values")
    return series


def load_histories(live_dirs: dict) -> dict:
    """{"scratch": DVCLive dir, ...} -> each model's per-epoch training series."""
    histories = {}
    for name, live_dir in live_dirs.items():
        try:
            histories[name] = read_history(live_dir)
        except (OSError, ValueError) as exc:
            raise FmnistError(
                f"{live_dir}: no readable training history ({exc}); rerun "
                f"the train_{name} stage (dvc repro train_{name})"
            ) from None
    return histories


def save_probabilities(probas: dict, probabilities_dir) -> None:
    """<model>.npy: float32 (N, 10) class probabilities of the test images, for render."""
    Path(probabilities_dir).mkdir()
    for name, proba in probas.items():
        path = Path(probabilities_dir) / f"{name}.npy"
        np.save(path, proba.astype(np.float32), allow_pickle=False)


def load_probabilities(probabilities_dir, num_images: int) -> dict:
    probas = {}
    for name in MODELS:
        path = Path(probabilities_dir) / f"{name}.npy"
        try:
            proba = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise FmnistError(
                f"{path}: cannot read test-set probabilities ({exc}); "
                "rerun the evaluate stage (dvc repro evaluate)"
            ) from None
        if proba.shape != (num_images, NUM_CLASSES):
            raise FmnistError(
                f"{path}: shape {proba.shape}, expected ({num_images}, "
                f"{NUM_CLASSES}); rerun the evaluate stage (dvc repro evaluate)"
            )
        probas[name] = proba
    return probas


def confusion_matrices(actual: np.ndarray, probas: dict) -> dict:
    return {name: confusion_matrix(actual, proba.argmax(axis=1)) for name, proba in probas.items()}


# In the order `dvc metrics show` should list them (dvc.yaml names the files in this order):
# the validation set's, which choices are made on, then the test set's.
VALIDATION = ("val_accuracy", "val_log_loss")
TEST = ("test_accuracy", "macro_f1", "log_loss")
HEADLINE = (*VALIDATION, *TEST, "train_accuracy", "train_loss")


def class_key(label: int) -> str:
    """'0_T-shirt-top', '9_Ankle_boot': the label keeps Zalando's order when sorted, and
    without '/' and ' ' the key reads as one word in DVC's tables and column names."""
    return f"{label}_" + CLASS_NAMES[label].replace("/", "-").replace(" ", "_")


def metric_files(actual: np.ndarray, probas: dict, histories: dict, validation: tuple) -> dict:
    """{file name under the metrics directory: its content}: {model: value} per headline
    metric, {class: {model: value}} in per_class_accuracy.json, and agreement.json.

    actual and probas are the test set's; validation is (its labels, {model: probabilities}).
    train_accuracy and train_loss are the last epoch's, from the training history, and the
    ONNX check's numbers are the training stage's (on the validation set)."""
    per_model = {}
    val_actual, val_probas = validation
    for name, proba in probas.items():
        test, val = summarize(actual, proba), summarize(val_actual, val_probas[name])
        per_model[name] = {
            "val_accuracy": val["accuracy"],
            "val_log_loss": val["log_loss"],
            "test_accuracy": test["accuracy"],
            "macro_f1": test["macro_f1"],
            "log_loss": test["log_loss"],
            "per_class_accuracy": test["per_class_accuracy"],
        }
    for name, history in histories.items():
        per_model[name]["train_accuracy"] = history["train_accuracy"][-1]
        per_model[name]["train_loss"] = history["loss"][-1]
        per_model[name].update({key: history[key] for key in ONNX_CHECK})
    keys = (*HEADLINE, *ONNX_CHECK)
    files = {f"{key}.json": {name: m[key] for name, m in per_model.items()} for key in keys}
    files["per_class_accuracy.json"] = {
        class_key(label): {name: m["per_class_accuracy"][label] for name, m in per_model.items()}
        for label in range(NUM_CLASSES)
    }
    predicted = [probas[name].argmax(axis=1) for name in MODELS]
    files["agreement.json"] = {"agreement": agreement(*predicted)}
    return files


def write_metric_files(files: dict, metrics_dir) -> None:
    """A new directory (the stage stages it whole, so no file of an older run survives)."""
    for name, values in files.items():
        path = Path(metrics_dir) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values, indent=2) + "\n")


def write_predicted_classes(actual: np.ndarray, probas: dict, out_dir) -> None:
    """<model>.csv: one row (actual, predicted) per test image, class names as values; the
    confusion template (.dvc/plots/confusion_label_order.json, DVC's `confusion` with the
    classes in label order) counts the rows."""
    Path(out_dir).mkdir()
    for name, proba in probas.items():
        rows = (
            f"{CLASS_NAMES[a]},{CLASS_NAMES[p]}"
            for a, p in zip(actual, proba.argmax(axis=1), strict=True)
        )
        (Path(out_dir) / f"{name}.csv").write_text("actual,predicted\n" + "\n".join(rows) + "\n")
