"""Classify your own pictures with a trained model; one line per picture with the three
likeliest classes. By default the Gluon model's ONNX file runs in onnxruntime, without MXNet
(`--runtime mxnet` runs MXNet's own files instead: the same answers to within 1e-5).

Each picture is brought to what the model saw in training: grayscale, 28x28, values in
[0, 1], a light garment on a dark background (a picture with a light background is
inverted). Best results: one garment, centred, filling most of the picture.
"""

import argparse
import os
from pathlib import Path

import numpy as np

from . import FmnistError
from .guards.stage_runner import run_stage, shown
from .lesson.fashion_mnist import CLASS_NAMES
from .mxnet_sources import MxnetExport, MxnetWeights
from .onnx_files import OnnxFile
from .pictures import load_picture

ONNX_FILE = "models/{model}.onnx"
DEFAULT_SYMBOL = "models/gluon-export/gluon-symbol.json"
DEFAULT_PARAMS = "models/gluon-export/gluon-0000.params"
SCRATCH_PARAMS = "models/scratch.params"
TOP = 3


def project_root(start: Path) -> Path | None:
    """The repository's root, as DVC finds it: the nearest directory, from start up, that
    holds a .dvc directory (and here dvc.yaml); None outside the project."""
    for directory in (start, *start.parents):
        if (directory / ".dvc").is_dir() and (directory / "dvc.yaml").is_file():
            return directory
    return None


def default_file(relative: str, flag: str) -> str:
    """A default model file, which lives under the project's root, as a path from the current
    directory (models/gluon.onnx at the root, ../models/gluon.onnx one level down)."""
    root = project_root(Path.cwd())
    if root is None:
        raise FmnistError(
            f"no default {relative} outside the project (no dvc.yaml and .dvc/ here or "
            f"above); run from inside the repository, or give the model file with {flag}"
        )
    return os.path.relpath(root / relative)


def model_source(model="gluon", runtime="onnx", onnx=None, symbol=None, params=None):
    """The files to run: the model's ONNX file, or on MXNet the Gluon export or the scratch
    weights. A file given overrides the default one, which is found from any directory
    inside the project."""
    if runtime == "onnx":
        return OnnxFile(
            onnx or default_file(ONNX_FILE.format(model=model), "--onnx FILE"), f"train_{model}"
        )
    if model == "scratch":
        return MxnetWeights(params or default_file(SCRATCH_PARAMS, "--params FILE"))
    files = "--symbol FILE --params FILE"
    return MxnetExport(
        symbol or default_file(DEFAULT_SYMBOL, files), params or default_file(DEFAULT_PARAMS, files)
    )


def classify(paths, source=None) -> np.ndarray:
    """Class probabilities, float32 (len(paths), 10). Every picture is read before the
    model loads, so a bad file fails fast."""
    batch = np.stack([load_picture(path) for path in paths])
    return (source or model_source()).load().probabilities(batch)


def top_classes_line(path, probabilities: np.ndarray) -> str:
    best = np.argsort(-probabilities, kind="stable")[:TOP]
    name = shown(path, limit=None)  # escaped: a file name cannot forge an output line
    return f"{name}: " + ", ".join(f"{CLASS_NAMES[c]} {probabilities[c]:.4f}" for c in best)


def flags_for_another_runtime(args) -> str | None:
    """A file flag the chosen runtime and model would ignore: refused, not ignored."""
    unused = {
        "--onnx": args.runtime != "onnx",
        "--symbol": args.runtime != "mxnet" or args.model != "gluon",
        "--params": args.runtime != "mxnet",
    }
    given = {"--onnx": args.onnx, "--symbol": args.symbol, "--params": args.params}
    return next((flag for flag, value in given.items() if value and unused[flag]), None)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m fmnist.predict",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,  # the paragraphs as written
        epilog="The default model files are the repository's own, found from any directory "
        "inside it; from outside, give the file flags.",
    )
    parser.add_argument(
        "images", nargs="+", metavar="IMAGE", help="PNG or JPEG files, any size and colour"
    )
    parser.add_argument(
        "--model",
        choices=("gluon", "scratch"),
        default="gluon",
        help="which trained model (default: %(default)s)",
    )
    parser.add_argument(
        "--runtime",
        choices=("onnx", "mxnet"),
        default="onnx",
        help="onnxruntime with the model's ONNX file, or MXNet with its own files "
        "(default: %(default)s)",
    )
    parser.add_argument("--onnx", metavar="FILE", help=f"another ONNX file (default: {ONNX_FILE})")
    parser.add_argument(
        "--symbol",
        metavar="FILE",
        help=f"mxnet, gluon: another export's graph (default: {DEFAULT_SYMBOL})",
    )
    parser.add_argument(
        "--params",
        metavar="FILE",
        help=f"mxnet: its weights (default: {DEFAULT_PARAMS}; scratch: {SCRATCH_PARAMS})",
    )
    args = parser.parse_args()
    mismatched = flags_for_another_runtime(args)
    if mismatched:
        parser.error(f"{mismatched} is not used by --runtime {args.runtime} --model {args.model}")
    source = model_source(args.model, args.runtime, args.onnx, args.symbol, args.params)
    for path, probabilities in zip(args.images, classify(args.images, source), strict=True):
        print(top_classes_line(path, probabilities))


if __name__ == "__main__":
    run_stage("predict", main)
