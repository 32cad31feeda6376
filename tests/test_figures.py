"""The pictures render draws: each must say what it shows (titles, axis labels, class names),
mark wrong predictions in red, and have no text running into other text or other images."""

from dataclasses import replace
from itertools import combinations

import matplotlib.colors
import numpy as np
import pytest
from matplotlib.image import imread
from matplotlib.text import Text

from conftest import LOCAL_GLUON, synthetic_split
from fmnist import figures
from fmnist.lesson.fashion_mnist import CLASS_NAMES
from fmnist.metrics import confusion_matrix
from fmnist.params import TrainParams

IMAGES, LABELS = synthetic_split(20, seed=5)
IMAGES = IMAGES.reshape(len(IMAGES), -1).astype(np.float32) / 255
RED = matplotlib.colors.to_rgba(figures.WRONG_COLOR)


def drawn_texts(fig) -> list:
    fig.canvas.draw()
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


def text_of(fig) -> str:
    return "\n".join(t.get_text() for t in drawn_texts(fig))


def assert_nothing_overlaps(fig) -> None:
    """No two texts overlap, and no text lies on an image or chart that is not its own."""
    renderer = fig.canvas.get_renderer()
    texts = drawn_texts(fig)
    boxes = [t.get_window_extent(renderer).shrunk(0.98, 0.98) for t in texts]
    for (a, box_a), (b, box_b) in combinations(zip(texts, boxes, strict=True), 2):
        assert not box_a.overlaps(box_b), f"{a.get_text()!r} overlaps {b.get_text()!r}"
    axes = [ax for ax in fig.axes if ax.get_visible()]
    for text, box in zip(texts, boxes, strict=True):
        for ax in axes:
            if ax is not text.axes:
                assert not box.overlaps(ax.get_window_extent(renderer)), (
                    f"{text.get_text()!r} lies on another chart or image"
                )


def red_texts(fig) -> list:
    return [
        t.get_text() for t in drawn_texts(fig) if matplotlib.colors.to_rgba(t.get_color()) == RED
    ]


def test_sample_grid_names_every_image_and_saves_a_png(tmp_path):
    fig = figures.sample_grid(IMAGES[:10], LABELS[:10], "The first ten training images")
    text = text_of(fig)
    assert "The first ten training images" in text
    for label in LABELS[:10]:
        assert CLASS_NAMES[label] in text
    assert_nothing_overlaps(fig)
    figures.save_png(fig, tmp_path / "samples.png")
    height, width, _ = imread(tmp_path / "samples.png").shape
    assert width > height > 200  # two rows of five
    assert [p.name for p in tmp_path.iterdir()] == ["samples.png"]


def test_prediction_grid_marks_exactly_the_wrong_predictions_in_red():
    labels = LABELS[:9]
    scratch = labels.copy()
    gluon = labels.copy()
    scratch[2] = (labels[2] + 1) % 10
    gluon[5] = (labels[5] + 3) % 10
    fig = figures.prediction_grid(
        IMAGES[:9], labels, {"scratch": scratch, "gluon": gluon}, "Test images 0-8"
    )
    assert sorted(red_texts(fig)) == sorted(
        [f"scratch: {CLASS_NAMES[scratch[2]]}", f"gluon: {CLASS_NAMES[gluon[5]]}"]
    )
    text = text_of(fig)
    for i in range(9):
        assert f"true: {CLASS_NAMES[labels[i]]}" in text
        assert f"gluon: {CLASS_NAMES[gluon[i]]}" in text
    framed = [
        i
        for i, ax in enumerate(fig.axes)
        if matplotlib.colors.to_rgba(ax.spines["top"].get_edgecolor()) == RED
    ]
    assert framed == [2, 5]
    assert_nothing_overlaps(fig)


def test_confident_mistakes_show_true_predicted_and_probability():
    labels = LABELS[:6]
    proba = np.full((6, 10), 0.01)
    proba[np.arange(6), labels] = 0.91
    proba[1] = 0.01
    proba[1, (labels[1] + 1) % 10] = 0.91  # image 1 wrong, with p = 0.91
    fig = figures.confident_mistakes(
        IMAGES[:6],
        labels,
        {"scratch": proba, "gluon": proba},
        {"scratch": np.array([1]), "gluon": np.array([], int)},
        "Most confidently wrong",
    )
    text = text_of(fig)
    assert f"true: {CLASS_NAMES[labels[1]]}" in text
    assert red_texts(fig) == [f"predicted: {CLASS_NAMES[(labels[1] + 1) % 10]}", "p = 0.910"]
    assert "scratch" in text and "gluon" in text and "no mistakes" in text
    assert_nothing_overlaps(fig)


def test_training_curves_show_train_and_validation_of_both_models_and_no_test():
    history = {
        "epoch": [1, 2, 3],
        "loss": [0.8, 0.6, 0.5],
        "train_accuracy": [0.7, 0.8, 0.82],
        "val_loss": [0.75, 0.62, 0.55],
        "val_accuracy": [0.72, 0.79, 0.8],
    }
    fig = figures.training_curves({"scratch": history, "gluon": history})
    charts = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in charts] == ["Loss", "Accuracy"]
    for ax in charts:
        assert ax.get_xlabel() == "epoch" and ax.get_ylabel()
        assert [line.get_label() for line in ax.get_lines()] == [
            "scratch, train",
            "scratch, validation",
            "gluon, train",
            "gluon, validation",
        ]
        # Identical histories: both models are still drawn, in different styles.
        styles = {(line.get_linestyle(), line.get_linewidth()) for line in ax.get_lines()}
        assert len(styles) == 2
    assert "test" not in text_of(fig).lower()
    loss_lines, accuracy_lines = (ax.get_lines() for ax in charts)
    np.testing.assert_array_equal(loss_lines[2].get_ydata(), history["loss"])
    np.testing.assert_array_equal(loss_lines[3].get_ydata(), history["val_loss"])
    np.testing.assert_array_equal(accuracy_lines[1].get_ydata(), history["val_accuracy"])
    assert_nothing_overlaps(fig)


def test_confusion_heatmap_labels_both_axes_with_class_names_and_counts():
    actual = np.repeat(np.arange(10), 30)
    predicted = actual.copy()
    predicted[:7] = 6  # seven T-shirts taken for shirts
    cm = confusion_matrix(actual, predicted)
    fig = figures.confusion_heatmap(cm, "Confusion matrix, scratch model")
    ax = fig.axes[0]
    columns = [t.get_text().replace("/\n", "/").replace("\n", " ") for t in ax.get_xticklabels()]
    assert columns == list(CLASS_NAMES)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(CLASS_NAMES)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted class", "true class")
    cells = {
        (round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts
    }
    assert cells[(0, 6)] == "7" and cells[(0, 0)] == "23" and cells[(3, 3)] == "30"
    assert len(cells) == 100
    assert_nothing_overlaps(fig)


@pytest.mark.parametrize("count", [1, 7])
def test_image_grids_of_any_size_fit(count):
    fig = figures.sample_grid(IMAGES[:count], LABELS[:count], "Some images")
    assert sum(ax.get_visible() for ax in fig.axes) == count
    assert_nothing_overlaps(fig)


TRAIN = TrainParams(
    batch_size=256,
    epochs=5,
    lr=0.1,
    lr_schedule="constant",
    momentum=0.0,
    weight_decay=0.0,
    seed=42,
)
LOCAL = LOCAL_GLUON


def test_the_run_caption_names_the_params_that_drew_the_picture():
    assert figures.run_caption(TRAIN, LOCAL) == "Run: 5 epochs, lr 0.1 constant, batch 256"
    tuned = replace(
        TRAIN, epochs=30, lr=0.05, lr_schedule="cosine", momentum=0.9, weight_decay=1e-4
    )
    assert figures.run_caption(tuned, replace(LOCAL, kvstore="dist_sync", workers=2)) == (
        "Run: 30 epochs, lr 0.05 cosine, batch 256, momentum 0.9, weight decay 0.0001, "
        "gluon on 2 dist_sync workers"
    )


HISTORY = {
    "epoch": [1, 2],
    "loss": [0.8, 0.6],
    "train_accuracy": [0.7, 0.8],
    "val_loss": [0.75, 0.62],
    "val_accuracy": [0.72, 0.79],
}
EVERY_KIND = {
    "samples": lambda: figures.sample_grid(IMAGES[:10], LABELS[:10], "Samples"),
    "predictions": lambda: figures.prediction_grid(
        IMAGES[:9], LABELS[:9], {"scratch": LABELS[:9]}, "Predictions"
    ),
    "mistakes": lambda: figures.confident_mistakes(
        IMAGES[:6],
        LABELS[:6],
        {"scratch": np.eye(10)[(LABELS[:6] + 1) % 10]},
        {"scratch": np.arange(6)},
        "Mistakes",
    ),
    "training_curves": lambda: figures.training_curves({"scratch": HISTORY, "gluon": HISTORY}),
    "confusion": lambda: figures.confusion_heatmap(confusion_matrix(LABELS, LABELS), "CM"),
}


@pytest.mark.parametrize("kind", EVERY_KIND)
def test_the_caption_sits_below_everything_and_is_saved_with_it(kind, tmp_path):
    bare = tmp_path / "bare.png"
    figures.save_png(EVERY_KIND[kind](), bare)
    fig = EVERY_KIND[kind]()
    figures.add_caption(fig, figures.run_caption(TRAIN, LOCAL))
    assert_nothing_overlaps(fig)
    renderer = fig.canvas.get_renderer()
    caption = [t for t in drawn_texts(fig) if t.get_text().startswith("Run: ")]
    assert len(caption) == 1
    top = caption[0].get_window_extent(renderer).y1
    others = [t.get_window_extent(renderer) for t in drawn_texts(fig) if t is not caption[0]]
    others += [ax.get_window_extent(renderer) for ax in fig.axes if ax.get_visible()]
    assert top < min(box.y0 for box in others)
    figures.save_png(fig, tmp_path / "captioned.png")
    bare_height, captioned_height = (
        imread(tmp_path / name).shape[0] for name in ("bare.png", "captioned.png")
    )
    assert captioned_height > bare_height  # the saved picture grew to hold the caption
