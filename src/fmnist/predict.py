"""Classify your own pictures with the exported Gluon model; one line per picture with the
three likeliest classes.

Each picture is brought to what the model saw in training: grayscale, 28x28, values in
[0, 1], a light garment on a dark background (a picture with a light background is
inverted). Best results: one garment, centred, filling most of the picture.
"""

import argparse
import warnings
from pathlib import Path

import numpy as np

from . import FmnistError
from .download import shown
from .guards.stage_runner import run_stage
from .lesson.fashion_mnist import CLASS_NAMES
from .pictures import load_picture

DEFAULT_SYMBOL = "models/gluon-export/gluon-symbol.json"
DEFAULT_PARAMS = "models/gluon-export/gluon-0000.params"
TOP = 3


def load_exported_model(symbol_path, params_path):
    """The export of the train_gluon stage, without this project's model code."""
    import mxnet as mx
    from mxnet import gluon

    for path in (symbol_path, params_path):
        if not Path(path).is_file():
            raise FmnistError(
                f"{path}: missing; make the exported model with `dvc repro "
                "train_gluon` or fetch it with `dvc pull`"
            )
    try:
        with warnings.catch_warnings():
            # "Cannot decide type for ... data": it learns the type from the first batch.
            warnings.filterwarnings("ignore", "Cannot decide type", UserWarning)
            return gluon.SymbolBlock.imports(str(symbol_path), ["data"], str(params_path))
    except (OSError, mx.base.MXNetError, AssertionError, ValueError) as exc:
        raise FmnistError(
            f"{symbol_path} + {params_path}: not an exported Gluon model "
            f"({mxnet_reason(exc)}); rerun `dvc repro train_gluon`"
        ) from None


def mxnet_reason(exc: Exception) -> str:
    """The line of an MXNetError that says what failed, not its C++ traceback."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    reasons = [line for line in lines if not line.startswith(("Traceback", "File ", "At "))]
    return reasons[0] if reasons else type(exc).__name__


def classify(paths, symbol_path=DEFAULT_SYMBOL, params_path=DEFAULT_PARAMS) -> np.ndarray:
    """Class probabilities, float32 (len(paths), 10). Every picture is read before MXNet
    loads, so a bad file fails fast."""
    batch = np.stack([load_picture(path) for path in paths])
    model = load_exported_model(symbol_path, params_path)
    from mxnet import nd

    return nd.softmax(model(nd.array(batch))).asnumpy()


def top_classes_line(path, probabilities: np.ndarray) -> str:
    best = np.argsort(-probabilities, kind="stable")[:TOP]
    name = shown(path, limit=None)  # escaped: a file name cannot forge an output line
    return f"{name}: " + ", ".join(f"{CLASS_NAMES[c]} {probabilities[c]:.4f}" for c in best)


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """The description's paragraphs as written, and each flag's default."""


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m fmnist.predict", description=__doc__, formatter_class=HelpFormatter
    )
    parser.add_argument(
        "images", nargs="+", metavar="IMAGE", help="PNG or JPEG files, any size and colour"
    )
    parser.add_argument(
        "--symbol",
        default=DEFAULT_SYMBOL,
        help="the exported graph (written by the train_gluon stage)",
    )
    parser.add_argument("--params", default=DEFAULT_PARAMS, help="the exported weights")
    args = parser.parse_args()
    for path, probabilities in zip(
        args.images, classify(args.images, args.symbol, args.params), strict=True
    ):
        print(top_classes_line(path, probabilities))


if __name__ == "__main__":
    run_stage("predict", main)
