"""Matplotlib figures, saved as PNG by the Agg renderer (no display needed).

Figures are matplotlib.figure.Figure objects, not pyplot's: pyplot (its figure manager and
backend machinery) took 0.4-0.7 s to import, a fifth of the render stage, for nothing a file
needs. Sizes are chosen so each picture fits a README column (~900 px) without being scaled
down until its text is unreadable: grids wrap into rows rather than one long strip.
"""

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import ScaledTranslation

from .guards.forked import run_split
from .lesson.fashion_mnist import CLASS_NAMES, IMAGE_SIDE

WRONG_COLOR = "tab:red"
# Solid under dashed: when both models give the same numbers, both lines stay visible.
MODEL_STYLES = (
    {"linestyle": "-", "linewidth": 4, "alpha": 0.45, "marker": "o"},
    {"linestyle": "--", "linewidth": 1.5, "marker": "x"},
)
LINE_PT = 14  # caption line spacing at 10 pt text
INCH_PT = 72


def run_caption(train, gluon) -> str:
    """The params that drew a picture, e.g. 'Run: 5 epochs, lr 0.1 constant, batch 256';
    momentum, weight decay and dist_sync only when used. Pictures outlive the workspace
    they were drawn in (a copy in a report, an experiment applied since): each says its run."""
    parts = [
        f"{train.epochs} epochs",
        f"lr {train.lr:g} {train.lr_schedule}",
        f"batch {train.batch_size}",
    ]
    if train.momentum:
        parts.append(f"momentum {train.momentum:g}")
    if train.weight_decay:
        parts.append(f"weight decay {train.weight_decay:g}")
    if gluon.kvstore == "dist_sync":
        parts.append(f"gluon on {gluon.workers} dist_sync workers")
    return "Run: " + ", ".join(parts)


def new_figure(**kwargs) -> Figure:
    """A figure on Agg's canvas, as pyplot would give it (text sizes need a renderer)."""
    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def add_caption(fig, caption: str) -> None:
    """Small grey text 6 pt under the figure's lower right corner, so below everything else
    in it (save_png's tight bounding box grows to hold it)."""
    below = fig.transFigure + ScaledTranslation(0, -6 / INCH_PT, fig.dpi_scale_trans)
    fig.text(0.995, 0, caption, transform=below, ha="right", va="top", fontsize=9, color="dimgray")


def save_png(fig, path) -> None:
    fig.savefig(path, format="png", dpi=100, bbox_inches="tight")


def save_pngs(pictures: dict) -> None:
    """{path: figure}, saved by two processes (fmnist.guards.forked): Agg draws a figure on
    one core, 0.1-0.3 s each."""
    run_split(lambda item: save_png(item[1], item[0]), list(pictures.items()))


def _show_image(ax, image: np.ndarray) -> None:
    ax.imshow(image.reshape(IMAGE_SIDE, IMAGE_SIDE), cmap="gray_r", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])


def _image_cells(
    count: int,
    ncols: int,
    lines_above: int,
    lines_below: int,
    title: str,
    image_in: float = 1.6,
    gap_in: float = 0.4,
):
    """Axes for `count` images in rows of `ncols`, placed by hand with room for the given
    number of caption lines above and below each image. (Constrained layout does not
    reserve room for free text under square image axes, so captions ran into the next row.)"""
    nrows = -(-count // ncols)
    caption_in = (lines_above + lines_below) * LINE_PT / INCH_PT
    cell_w, cell_h, title_in = image_in + gap_in, image_in + caption_in + gap_in, 0.5
    fig_w, fig_h = ncols * cell_w, nrows * cell_h + title_in
    fig = new_figure(figsize=(fig_w, fig_h))
    fig.suptitle(title, fontsize=13, y=1 - 0.1 / fig_h, va="top")
    axes = []
    for i in range(count):
        row, col = divmod(i, ncols)
        top = fig_h - title_in - row * cell_h - lines_above * LINE_PT / INCH_PT
        rect = (col * cell_w + gap_in / 2, top - image_in, image_in, image_in)
        axes.append(
            fig.add_axes((rect[0] / fig_w, rect[1] / fig_h, rect[2] / fig_w, rect[3] / fig_h))
        )
    return fig, axes


def _caption(ax, lines, above: bool = False, fontsize: int = 10) -> None:
    """Text lines (text, color) centred above or below an image, one LINE_PT apart."""
    for k, (text, color) in enumerate(lines):
        offset = 3 + LINE_PT * (len(lines) - 1 - k) if above else -3 - LINE_PT * k
        ax.annotate(
            text,
            xy=(0.5, 1 if above else 0),
            xycoords="axes fraction",
            xytext=(0, offset),
            textcoords="offset points",
            ha="center",
            va="bottom" if above else "top",
            fontsize=fontsize,
            color=color,
        )


def _mark_wrong(ax) -> None:
    for spine in ax.spines.values():
        spine.set_color(WRONG_COLOR)
        spine.set_linewidth(2.5)


def sample_grid(images: np.ndarray, labels: np.ndarray, title: str):
    """Images with their class names underneath, as the tutorial's show_fashion_mnist."""
    fig, axes = _image_cells(len(images), ncols=5, lines_above=0, lines_below=1, title=title)
    for ax, image, label in zip(axes, images, labels, strict=True):
        _show_image(ax, image)
        _caption(ax, [(CLASS_NAMES[label], "black")])
    return fig


def prediction_grid(images: np.ndarray, labels: np.ndarray, predictions: dict, title: str):
    """Each image with its true class above and every model's prediction below; a wrong
    prediction is written in red and frames its image in red."""
    fig, axes = _image_cells(
        len(images), ncols=3, lines_above=1, lines_below=len(predictions), title=title
    )
    for i, ax in enumerate(axes):
        _show_image(ax, images[i])
        _caption(ax, [(f"true: {CLASS_NAMES[labels[i]]}", "black")], above=True)
        wrong = {model: predicted[i] != labels[i] for model, predicted in predictions.items()}
        _caption(
            ax,
            [
                (f"{model}: {CLASS_NAMES[predicted[i]]}", WRONG_COLOR if wrong[model] else "black")
                for model, predicted in predictions.items()
            ],
        )
        if any(wrong.values()):
            _mark_wrong(ax)
    return fig


def confident_mistakes(
    images: np.ndarray, labels: np.ndarray, probas: dict, indices: dict, title: str
):
    """One row per model: its most confidently wrong test images, with the true class,
    the predicted one and the probability the model gave it."""
    ncols = max(1, max(len(chosen) for chosen in indices.values()))
    fig, axes = _image_cells(ncols * len(indices), ncols, lines_above=2, lines_below=2, title=title)
    for row, (model, chosen) in enumerate(indices.items()):
        row_axes = axes[row * ncols : (row + 1) * ncols]
        row_axes[0].set_ylabel(model, fontsize=12, fontweight="bold")
        for ax, index in zip(row_axes, chosen, strict=False):  # fewer mistakes: cells stay empty
            _show_image(ax, images[index])
            predicted = int(probas[model][index].argmax())
            _caption(
                ax,
                [
                    (f"test image {index}", "black"),
                    (f"true: {CLASS_NAMES[labels[index]]}", "black"),
                ],
                above=True,
            )
            _caption(
                ax,
                [
                    (f"predicted: {CLASS_NAMES[predicted]}", WRONG_COLOR),
                    (f"p = {probas[model][index, predicted]:.3f}", WRONG_COLOR),
                ],
            )
        for ax in row_axes[len(chosen) :]:
            ax.set_xticks([])
            ax.set_yticks([])
            if ax is row_axes[0]:
                ax.text(0.5, 0.5, "no mistakes", ha="center", va="center")
            else:
                ax.set_visible(False)
    return fig


# Train and validation series in their own colours; the models in MODEL_STYLES.
SET_COLORS = {"train": "tab:blue", "validation": "tab:orange"}


def training_curves(histories: dict):
    """Loss and accuracy per epoch, on the training batches and on the validation set, both
    models on each chart. The test set has no curve: only evaluate reads it."""
    panels = (
        ("Loss", "mean cross-entropy", {"train": "loss", "validation": "val_loss"}),
        ("Accuracy", "accuracy", {"train": "train_accuracy", "validation": "val_accuracy"}),
    )
    fig = new_figure(figsize=(12, 4.2))
    axes = fig.subplots(1, 2)
    for ax, (title, ylabel, keys) in zip(axes, panels, strict=True):
        for (model, series), style in zip(histories.items(), MODEL_STYLES, strict=True):
            for split, key in keys.items():
                ax.plot(
                    series["epoch"],
                    series[key],
                    label=f"{model}, {split}",
                    color=SET_COLORS[split],
                    markersize=5,
                    **style,
                )
        ax.set(title=title, xlabel="epoch", ylabel=ylabel)
        ax.grid(alpha=0.3)
        ax.legend()
        ax.xaxis.get_major_locator().set_params(integer=True)
    return fig


def _two_line(name: str) -> str:
    """'T-shirt/top' -> 'T-shirt/' over 'top': class names fit under a column unrotated."""
    return name.replace("/", "/\n").replace(" ", "\n")


def confusion_heatmap(cm: np.ndarray, title: str):
    """Counts of (true, predicted) pairs; the diagonal holds the correct predictions."""
    fig = new_figure(figsize=(9, 7.4))
    ax = fig.subplots()
    image = ax.imshow(cm, cmap="Blues")
    fig.colorbar(image, ax=ax, label="test images", shrink=0.8)
    ticks = np.arange(len(CLASS_NAMES))
    ax.set_xticks(ticks, [_two_line(name) for name in CLASS_NAMES], fontsize=9)
    ax.set_yticks(ticks, CLASS_NAMES, fontsize=9)
    ax.set(xlabel="predicted class", ylabel="true class", title=title)
    dark = cm.max() / 2
    for (true, predicted), count in np.ndenumerate(cm):
        ax.text(
            predicted,
            true,
            str(count),
            ha="center",
            va="center",
            fontsize=9,
            color="white" if count > dark else "black",
        )
    return fig
