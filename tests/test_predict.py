"""`python -m fmnist.predict`: a trained model on picture files, as evaluate sees the test
set, whatever the picture's size, colour and background; by default the Gluon model's ONNX
file in onnxruntime, without MXNet."""

import re
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from fmnist.lesson.fashion_mnist import CLASS_NAMES
from fmnist.model_runtimes import MxnetExport, OnnxFile
from fmnist.pictures import has_light_background, load_picture, to_model_input
from fmnist.predict import classify

LINE = re.compile(
    r"^(?P<path>.+): "
    + ", ".join([rf"(?P<c{i}>[A-Za-z/ -]+) (?P<p{i}>[01]\.\d{{4}})" for i in range(3)])
    + "$"
)


def predict(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fmnist.predict", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def as_photo(image28: np.ndarray, path) -> None:
    """The negative (a dark garment on white), ten times larger, as an RGB JPEG."""
    negative = Image.fromarray(255 - image28).resize((280, 280), Image.Resampling.NEAREST)
    negative.convert("RGB").save(path, quality=95)


def test_test_image_gets_evaluates_probabilities_also_as_a_photo(small_project, tmp_path):
    project, root = small_project, small_project.root
    project.dvc("repro", "evaluate")
    x0 = np.load(root / "data/prepared/test_x.npy", allow_pickle=False)[0]
    evaluated = np.load(root / "probabilities/gluon.npy", allow_pickle=False)[0]
    image28 = (x0 * 255).round().astype(np.uint8).reshape(28, 28)
    png, photo = tmp_path / "test0.png", tmp_path / "test0-photo.jpg"
    Image.fromarray(image28).save(png)
    as_photo(image28, photo)

    export = root / "models" / "gluon-export"
    for source in (
        OnnxFile(root / "models/gluon.onnx"),
        MxnetExport(export / "gluon-symbol.json", export / "gluon-0000.params"),
    ):
        probabilities = classify([png], source)
        np.testing.assert_allclose(probabilities[0], evaluated, rtol=0, atol=1e-5)
    # Inverted back, shrunk back: the photo is the test image again, up to JPEG's loss.
    assert np.abs(load_picture(photo) - x0).max() < 0.1

    result = project.run(sys.executable, "-m", "fmnist.predict", str(png), str(photo))
    lines = [LINE.match(line) for line in result.stdout.splitlines()]
    assert all(lines) and [m["path"] for m in lines] == [str(png), str(photo)], result.stdout
    top3 = np.argsort(-evaluated)[:3]
    assert [lines[0][f"c{i}"] for i in range(3)] == [CLASS_NAMES[c] for c in top3]
    for i, c in enumerate(top3):
        assert abs(float(lines[0][f"p{i}"]) - evaluated[c]) <= 5e-5
    assert lines[1]["c0"] == CLASS_NAMES[evaluated.argmax()]


@pytest.mark.parametrize("content", [b"hello, not a picture\n", b"\x89PNG\r\n\x1a\ntruncated"])
def test_a_file_that_is_not_a_picture_gets_one_line(tmp_path, content):
    bad = tmp_path / "notes.png"
    bad.write_bytes(content)
    result = predict(bad)  # fails before any model is needed
    assert result.returncode == 1 and result.stdout == ""
    assert re.fullmatch(
        rf"predict: error: {re.escape(str(bad))}: not a readable PNG or JPEG "
        r"image \(.+\)\n",
        result.stderr,
    ), result.stderr


@pytest.mark.parametrize(
    "runtime, model, stage",
    [
        ("onnx", "models/gluon.onnx", "export_onnx"),
        ("mxnet", "models/gluon-export/gluon-symbol.json", "train_gluon"),
    ],
)
def test_a_missing_model_gets_the_same_line_on_both_runtimes(tmp_path, runtime, model, stage):
    Image.new("L", (28, 28)).save(tmp_path / "black.png")
    result = predict("black.png", "--runtime", runtime, cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == (
        f"predict: error: {model}: missing; make the exported model with `dvc repro {stage}` "
        "or fetch it with `dvc pull`\n"
    )


def test_help_names_the_default_model_files():
    result = predict("--help")
    assert result.returncode == 0
    for default in (
        "models/{model}.onnx",
        "models/gluon-export/gluon-symbol.json",
        "models/gluon-export/gluon-0000.params",
        "models/scratch.params",
    ):
        assert default in result.stdout.replace("\n", "").replace(" ", "")


MODES = ("1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16")
sizes = st.integers(min_value=1, max_value=90)


@st.composite
def pictures(draw, modes=MODES):
    width, height, mode = draw(sizes), draw(sizes), draw(st.sampled_from(modes))
    seed = draw(st.integers(0, 2**32 - 1))
    bands = {"1": 1, "L": 1, "LA": 2, "P": 1, "RGB": 3, "RGBA": 4, "CMYK": 4}.get(mode, 1)
    rng = np.random.RandomState(seed)
    if mode == "I;16":
        return Image.fromarray(rng.randint(0, 65536, (height, width)).astype(np.uint16))
    pixels = rng.randint(0, 256, (height, width, bands)).astype(np.uint8)
    return Image.fromarray(
        pixels.squeeze(-1) if bands == 1 else pixels, "L" if mode in ("1", "P") else mode
    ).convert(mode)


@settings(max_examples=60, deadline=None)
@given(pictures())
def test_any_picture_becomes_28x28_values_in_0_1(picture):
    x = to_model_input(picture)
    assert x.shape == (784,) and x.dtype == np.float32
    assert x.min() >= 0 and x.max() <= 1


@settings(max_examples=60, deadline=None)
@given(pictures(modes=("L",)))
def test_a_picture_and_its_negative_give_the_same_input(picture):
    pixels = np.asarray(picture)
    frame = np.concatenate([pixels[0], pixels[-1], pixels[1:-1, 0], pixels[1:-1, -1]])
    assume(np.median(frame) != 127.5)  # exactly mid-grey: no side is the background
    negative = Image.fromarray(255 - pixels)
    assert has_light_background(picture) != has_light_background(negative)
    np.testing.assert_array_equal(to_model_input(picture), to_model_input(negative))
