"""Classification metrics in plain numpy, over integer labels and class probabilities."""

import numpy as np

from .lesson.fashion_mnist import NUM_CLASSES


def confusion_matrix(actual: np.ndarray, predicted: np.ndarray, k: int = NUM_CLASSES) -> np.ndarray:
    """Rows are the actual class, columns the predicted one."""
    return np.bincount(actual * k + predicted, minlength=k * k).reshape(k, k)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """0 where the denominator is 0 (a class never predicted has precision 0, not NaN)."""
    out = np.zeros(len(numerator), dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def per_class_accuracy(cm: np.ndarray) -> np.ndarray:
    """The share of each actual class predicted correctly (its recall)."""
    return _ratio(np.diag(cm), cm.sum(axis=1))


def macro_f1(cm: np.ndarray) -> float:
    """F1 per class, then the plain mean: every class counts the same."""
    tp = np.diag(cm).astype(np.float64)
    precision, recall = _ratio(tp, cm.sum(axis=0)), _ratio(tp, cm.sum(axis=1))
    return float(np.mean(_ratio(2 * precision * recall, precision + recall)))


def log_loss(actual: np.ndarray, proba: np.ndarray, eps: float = 1e-15) -> float:
    """Mean negative log-likelihood of the true class, probabilities clipped to [eps, 1]."""
    true_proba = proba[np.arange(len(actual)), actual]
    return float(-np.mean(np.log(np.clip(true_proba, eps, 1.0))))


def summarize(actual: np.ndarray, proba: np.ndarray) -> dict:
    """One model's metrics on one set of images; per_class_accuracy is indexed by label."""
    predicted = proba.argmax(axis=1)
    cm = confusion_matrix(actual, predicted)
    return {
        "accuracy": float(np.mean(predicted == actual)),
        "macro_f1": macro_f1(cm),
        "log_loss": log_loss(actual, proba),
        "per_class_accuracy": [float(a) for a in per_class_accuracy(cm)],
    }


def agreement(predicted_a: np.ndarray, predicted_b: np.ndarray) -> float:
    """The share of images on which two models predict the same class."""
    return float(np.mean(predicted_a == predicted_b))


def confidently_wrong(actual: np.ndarray, proba: np.ndarray, count: int) -> np.ndarray:
    """Indices of up to `count` wrongly predicted images, the most confident mistake first
    (ties keep the test-set order, so the choice is reproducible)."""
    predicted = proba.argmax(axis=1)
    wrong = np.flatnonzero(predicted != actual)
    confidence = proba[wrong, predicted[wrong]]
    return wrong[np.argsort(-confidence, kind="stable")[:count]]
