"""`python -m fmnist.predict`: a trained model on picture files, as evaluate sees the test
set, whatever the picture's size, colour and background; by default the Gluon model's ONNX
file in onnxruntime, without MXNet."""

import os
import re
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from fmnist import FmnistError
from fmnist.guards.stage_runner import shown
from fmnist.lesson.fashion_mnist import CLASS_NAMES
from fmnist.mxnet_sources import MxnetExport
from fmnist.onnx_files import OnnxFile
from fmnist.pictures import MAX_PIXELS, has_light_background, load_picture, to_model_input
from fmnist.predict import classify, top_classes_line
from model_faults import MODEL_FAULTS
from picture_faults import PICTURE_FAULTS

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


def test_test_image_gets_evaluates_probabilities_also_as_a_photo(reproduced_project, tmp_path):
    project, root = reproduced_project, reproduced_project.root
    x0 = np.load(root / "data/prepared/test_x.npy", allow_pickle=False)[0]
    evaluated = np.load(root / "probabilities/gluon.npy", allow_pickle=False)[0]
    image28 = (x0 * 255).round().astype(np.uint8).reshape(28, 28)
    png, photo = tmp_path / "test0.png", tmp_path / "test0-photo.jpg"
    Image.fromarray(image28).save(png)
    as_photo(image28, photo)
    forger = tmp_path / "x\nfake.png: Ankle boot 0.9999, Bag 0.0001, Coat 0.0000\x1b[2K"
    forger.write_bytes(png.read_bytes())

    export = root / "models" / "gluon-export"
    for source in (
        OnnxFile(root / "models/gluon.onnx", "train_gluon"),
        MxnetExport(export / "gluon-symbol.json", export / "gluon-0000.params"),
    ):
        probabilities = classify([png], source)
        np.testing.assert_allclose(probabilities[0], evaluated, rtol=0, atol=1e-5)
    # Inverted back, shrunk back: the photo is the test image again, up to JPEG's loss.
    assert np.abs(load_picture(photo) - x0).max() < 0.1

    result = project.run(sys.executable, "-m", "fmnist.predict", str(png), str(photo), str(forger))
    lines = [LINE.match(line) for line in result.stdout.splitlines()]
    # The forger's name is one escaped line of its own, not a forged line.
    paths = [
        str(png),
        str(photo),
        f"{tmp_path}/x fake.png: Ankle boot 0.9999, Bag 0.0001, Coat 0.0000?[2K",
    ]
    assert all(lines) and [m["path"] for m in lines] == paths, result.stdout
    assert lines[2].group(0).endswith(lines[0].group(0).removeprefix(str(png)))
    top3 = np.argsort(-evaluated)[:3]
    assert [lines[0][f"c{i}"] for i in range(3)] == [CLASS_NAMES[c] for c in top3]
    for i, c in enumerate(top3):
        assert abs(float(lines[0][f"p{i}"]) - evaluated[c]) <= 5e-5
    assert lines[1]["c0"] == CLASS_NAMES[evaluated.argmax()]

    # From a directory inside the repository, the default model is found all the same.
    inside = root / "data" / "prepared"
    from_inside = predict(os.path.relpath(png, inside), cwd=inside)
    assert (
        from_inside.stdout.split(": ", 1)[1]
        == result.stdout.split(": ", 1)[1].split("\n")[0] + "\n"
    )


def assert_fault(result, fault: str, example: int = 0, **values) -> None:
    """predict's one line for a fault of tests/fault_lines.py, exit 1, nothing on stdout."""
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == PICTURE_FAULTS[fault].message(example, **values) + "\n"


@pytest.mark.parametrize(
    "content, example", [(b"hello, not a picture\n", 0), (b"\x89PNG\r\n\x1a\ntruncated", 1)]
)
def test_a_file_that_is_not_a_picture_gets_one_line(tmp_path, content, example):
    bad = tmp_path / "notes.png"
    bad.write_bytes(content)
    result = predict(bad)  # fails before any model is needed
    assert_fault(result, "not a picture", example, picture=bad)


@pytest.mark.parametrize(
    "runtime, model, stage",
    [
        ("onnx", "models/gluon.onnx", "train_gluon"),
        ("mxnet", "models/gluon-export/gluon-symbol.json", "train_gluon"),
    ],
)
def test_a_missing_model_gets_the_same_line_on_both_runtimes(tmp_path, runtime, model, stage):
    """In a project without models: from its root and from a directory inside it."""
    (tmp_path / ".dvc").mkdir()
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / "pictures").mkdir()
    Image.new("L", (28, 28)).save(tmp_path / "pictures/black.png")
    for cwd, picture, prefix in (
        (tmp_path, "pictures/black.png", ""),
        (tmp_path / "pictures", "black.png", "../"),
    ):
        result = predict(picture, "--runtime", runtime, cwd=cwd)
        assert result.returncode == 1 and result.stdout == ""
        missing = MODEL_FAULTS["missing"].message(file=f"{prefix}{model}", stage=stage)
        assert result.stderr == f"predict: error: {missing}\n"


@pytest.mark.parametrize(
    "flags, file, flag",
    [
        ((), "models/gluon.onnx", "--onnx FILE"),
        (("--model", "scratch"), "models/scratch.onnx", "--onnx FILE"),
        (
            ("--runtime", "mxnet"),
            "models/gluon-export/gluon-symbol.json",
            "--symbol FILE --params FILE",
        ),
        (("--runtime", "mxnet", "--model", "scratch"), "models/scratch.params", "--params FILE"),
    ],
)
def test_outside_the_project_the_line_says_which_file_flag_to_give(tmp_path, flags, file, flag):
    Image.new("L", (28, 28)).save(tmp_path / "black.png")
    result = predict("black.png", *flags, cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == (
        f"predict: error: no default {file} outside the project (no dvc.yaml and .dvc/ here "
        f"or above); run from inside the repository, or give the model file with {flag}\n"
    )


def test_help_names_the_default_model_files_once_each():
    result = predict("--help")
    assert result.returncode == 0
    assert "None" not in result.stdout and result.stderr == ""
    assert result.stdout.count("(default:") == 5  # --model, --runtime and the three files
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


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(pixels: np.ndarray, depth: int, colour_type: int, trns=None) -> bytes:
    """A PNG written sample by sample: grey (colour_type 0) of 1-16 bits, RGB (2) of 8 or 16,
    with a colour key (tRNS), which Pillow cannot write for every depth."""
    height, width = pixels.shape[:2]
    if depth < 8:
        bits = np.unpackbits(pixels.astype(np.uint8)[..., None], axis=-1)[..., 8 - depth :]
        rows = np.packbits(bits.reshape(height, -1), axis=-1)
    else:
        rows = pixels.astype(">u2" if depth == 16 else np.uint8).reshape(height, -1).view(np.uint8)
    scanlines = b"".join(b"\0" + row.tobytes() for row in rows)  # filter type 0 per row
    chunks = [
        png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0))
    ]
    if trns is not None:
        chunks.append(
            png_chunk(b"tRNS", struct.pack(f">{len(np.atleast_1d(trns))}H", *np.atleast_1d(trns)))
        )
    chunks += [png_chunk(b"IDAT", zlib.compress(scanlines)), png_chunk(b"IEND", b"")]
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


def split_chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    chunks, at = [], 8
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        chunks.append((png[at + 4 : at + 8], png[at + 8 : at + 8 + length]))
        at += 12 + length
    return chunks


def small_png() -> bytes:
    return png_bytes((np.arange(784) % 251).reshape(28, 28), 8, 0)


def with_chunk_before_idat(kind: bytes, data: bytes) -> bytes:
    header, *rest = split_chunks(small_png())
    return b"\x89PNG\r\n\x1a\n" + b"".join(png_chunk(*c) for c in [header, (kind, data), *rest])


def second_idat_with_a_corrupt_type() -> bytes:
    header, idat, end = split_chunks(small_png())
    half = len(idat[1]) // 2
    parts = [header, (b"IDAT", idat[1][:half]), (b"ID\0T", idat[1][half:]), end]
    return b"\x89PNG\r\n\x1a\n" + b"".join(png_chunk(*c) for c in parts)


INFLATES_PAST_PILLOWS_LIMIT = zlib.compress(b"a" * 2**21, 9)  # 2 MiB from 2 KiB; limit 1 MiB
HOSTILE_PNGS = {  # each case: the file, and its fault in tests/fault_lines.py
    "zTXt inflates past the limit": (
        lambda: with_chunk_before_idat(b"zTXt", b"Comment\0\0" + INFLATES_PAST_PILLOWS_LIMIT),
        "inflates",
    ),
    "iTXt inflates past the limit": (
        lambda: with_chunk_before_idat(b"iTXt", b"Comment\0\1\0\0\0" + INFLATES_PAST_PILLOWS_LIMIT),
        "inflates",
    ),
    "iCCP inflates past the limit": (
        lambda: with_chunk_before_idat(b"iCCP", b"icc\0\0" + INFLATES_PAST_PILLOWS_LIMIT),
        "inflates",
    ),
    "second IDAT has a corrupt chunk type": (second_idat_with_a_corrupt_type, "corrupt chunk"),
}


@pytest.mark.parametrize("case", HOSTILE_PNGS)
def test_a_hostile_png_gets_one_line_and_what_to_do(tmp_path, case):
    make, fault = HOSTILE_PNGS[case]
    bad = tmp_path / "hostile.png"
    bad.write_bytes(make())
    assert_fault(predict(bad), fault, picture=bad)


def special_file(kind: str, tmp_path):
    """The file, and its example in tests/fault_lines.py."""
    if kind == "FIFO":
        os.mkfifo(tmp_path / "pipe.png")
        return tmp_path / "pipe.png", 0
    if kind == "device":
        return "/dev/zero", 1  # endless: read to its end, never ends
    (tmp_path / "dir.png").mkdir()
    return tmp_path / "dir.png", 2


@pytest.mark.parametrize("kind", ["FIFO", "device", "directory"])
def test_a_special_file_is_refused_at_once(tmp_path, kind):
    """Refused before it is opened: a FIFO without a writer would block the open for ever."""
    path, example = special_file(kind, tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "fmnist.predict", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert_fault(result, "special file", example, picture=path)


def header_only_png(width: int, height: int) -> bytes:
    """An RGBA PNG that announces width x height pixels and holds none."""
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IEND", b"")


def test_the_pixel_count_is_checked_from_the_header_before_decoding(tmp_path):
    """8000 x 6251 is under Pillow's bomb limit (89 million), over ours; the file holds no
    pixel data, so the message shows the check came before decoding."""
    example = PICTURE_FAULTS["pixels"].examples[0]
    width, height = example["width"], example["height"]
    assert width * height == example["pixels"] > MAX_PIXELS == example["max_pixels"]
    big = tmp_path / "big.png"
    big.write_bytes(header_only_png(width, height))
    assert_fault(predict(big), "pixels", picture=big)
    # At the bound it is decoded, and found empty; over twice Pillow's limit, refused too.
    big.write_bytes(header_only_png(10_000, MAX_PIXELS // 10_000))
    with pytest.raises(FmnistError, match="not a readable PNG or JPEG image"):
        load_picture(big)
    big.write_bytes(header_only_png(20_000, 20_000))
    with pytest.raises(FmnistError, match=f"more than the {MAX_PIXELS:,} pixels predict decodes"):
        load_picture(big)


GARMENT = np.zeros((28, 28), dtype=int)  # a black square on a transparent background
GARMENT[8:20, 10:18] = 1
# (colour type, bit depth): the background is the colour key, mid-grey, the garment black.
KEYED = {
    "grey 1-bit": (0, 1, 1),
    "grey 2-bit": (0, 2, 2),
    "grey 4-bit": (0, 4, 9),
    "grey 8-bit": (0, 8, 140),
    "grey 16-bit": (0, 16, 0x8C8C),
    "RGB 8-bit": (2, 8, (140, 120, 160)),
    "RGB 16-bit": (2, 16, (0x8C17, 0x7842, 0xA0E9)),  # high byte unlike low
}


@pytest.mark.parametrize("case", KEYED)
def test_a_colour_key_makes_the_background_transparent_at_every_bit_depth(tmp_path, case):
    """As a viewer shows it: on white, the same input as the RGBA picture it stands for."""
    colour_type, depth, key = KEYED[case]
    background = np.broadcast_to(np.array(key), (28, 28, *np.shape(key)))
    pixels = np.where(GARMENT[..., None] if colour_type == 2 else GARMENT, 0, background)
    keyed = tmp_path / "keyed.png"
    keyed.write_bytes(png_bytes(pixels, depth, colour_type, trns=key))
    rgba = np.zeros((28, 28, 4), dtype=np.uint8)
    rgba[..., 3] = GARMENT * 255  # black and opaque in the garment, transparent elsewhere
    reference = tmp_path / "rgba.png"
    Image.fromarray(rgba).save(reference)
    np.testing.assert_array_equal(load_picture(keyed), load_picture(reference))
    assert load_picture(keyed).max() == 1.0  # the garment, white on black


def test_an_all_transparent_16_bit_picture_is_read_as_the_same_picture_in_8_bits(tmp_path):
    """Every pixel is the key: both are blank (white, inverted to black), so both classify
    the same. Without the key the 16-bit grey would be a mid-grey field."""
    sixteen, eight = tmp_path / "16.png", tmp_path / "8.png"
    sixteen.write_bytes(png_bytes(np.full((28, 28), 0x8080), 16, 0, trns=0x8080))
    eight.write_bytes(png_bytes(np.full((28, 28), 0x80), 8, 0, trns=0x80))
    np.testing.assert_array_equal(load_picture(sixteen), load_picture(eight))
    assert not load_picture(sixteen).any()


def test_a_file_name_cannot_forge_a_line(tmp_path):
    name = "x\nfake.png: Ankle boot 0.9999\x1b[2K\udcff"  # a non-UTF-8 byte, as os gives it
    line = top_classes_line(name, np.full(10, 0.1, dtype=np.float32))
    assert line.startswith("x fake.png: Ankle boot 0.9999?[2K?: ") and line.isprintable()
    assert shown(name, limit=None) == line.split(": T-shirt")[0]
    result = predict(tmp_path / name)
    shown_path = f"{tmp_path}/x fake.png: Ankle boot 0.9999?[2K?"
    assert_fault(result, "unopenable", 0, picture=shown_path)
    # The doc's example name: its line, up to the classes (the doc's placeholder).
    forged = PICTURE_FAULTS["forged name"]
    line = top_classes_line(forged.examples[0]["name"], np.full(10, 0.1, dtype=np.float32))
    assert line.startswith(forged.message(classes="")) and line.isprintable()


def test_a_path_that_cannot_be_opened_gets_one_line(tmp_path):
    loop = tmp_path / "loop.png"
    loop.symlink_to(loop)
    assert_fault(predict(loop), "unopenable", 1, picture=loop)
