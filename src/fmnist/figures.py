"""Matplotlib figures, drawn with the Agg backend (no display needed), saved as PNG."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .atomic import atomic_path  # noqa: E402
from .labels import CLASS_NAMES, IMAGE_SIDE  # noqa: E402

WRONG_COLOR = "tab:red"


def save_png(fig, path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)


def _image_row(images: np.ndarray, title: str, width_per_image: float = 1.5):
    fig, axes = plt.subplots(1, len(images), figsize=(width_per_image * len(images), 2.6))
    fig.suptitle(title)
    for ax, image in zip(np.atleast_1d(axes), images):
        ax.imshow(image.reshape(IMAGE_SIDE, IMAGE_SIDE), cmap="gray_r", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
    return fig, np.atleast_1d(axes)


def sample_grid(images: np.ndarray, labels: np.ndarray, title: str):
    """Images with their class names underneath, as the tutorial's show_fashion_mnist."""
    fig, axes = _image_row(images, title)
    for ax, label in zip(axes, labels):
        ax.set_xlabel(CLASS_NAMES[label], fontsize=9)
    return fig


def prediction_grid(images: np.ndarray, labels: np.ndarray, predictions: dict, title: str):
    """Each image with its true class and every model's prediction; wrong ones in red."""
    fig, axes = _image_row(images, title, width_per_image=1.7)
    for i, ax in enumerate(axes):
        ax.set_title(f"true: {CLASS_NAMES[labels[i]]}", fontsize=8)
        for row, (model, predicted) in enumerate(predictions.items()):
            wrong = predicted[i] != labels[i]
            ax.text(0.5, -0.1 - 0.16 * row, f"{model}: {CLASS_NAMES[predicted[i]]}",
                    transform=ax.transAxes, ha="center", va="top", fontsize=8,
                    color=WRONG_COLOR if wrong else "black")
    return fig


def training_curves(histories: dict):
    """Loss and accuracies per epoch, one line per model on shared axes."""
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(11, 4))
    for model, series in histories.items():
        epochs = series["epoch"]
        loss_ax.plot(epochs, series["loss"], marker="o", label=model)
        acc_ax.plot(epochs, series["train_accuracy"], marker="o", label=f"{model} train")
        acc_ax.plot(epochs, series["test_accuracy"], marker="s", linestyle="--",
                    label=f"{model} test")
    loss_ax.set(title="Training loss", xlabel="epoch", ylabel="mean cross-entropy")
    acc_ax.set(title="Accuracy", xlabel="epoch", ylabel="accuracy")
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
        ax.legend()
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    return fig
