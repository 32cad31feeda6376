"""Mutations of valid PNG and JPEG files given to predict: each ends in a prediction or in
one `predict: error:` line naming the file, never a traceback and never a hang. Most go
through the picture-reading path in-process (fast); a handful through the real command."""

import io
import random
import re
import signal
import struct
import subprocess
import sys
import zlib
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from fmnist import FmnistError
from fmnist.lesson.fashion_mnist import NUM_CLASSES, NUM_FEATURES
from fmnist.onnx_files import model_bytes
from fmnist.pictures import MAX_SCANS, load_picture
from test_jpeg_scans import with_scans
from test_predict import LINE, png_bytes

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HANG_S = 10  # one picture of at most 90x90 pixels reads in milliseconds


def pillow_file(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def seed_files() -> dict[str, bytes]:
    """Valid files of the kinds predict meets: every PNG colour type, a colour key, 16 bits,
    baseline and progressive JPEG, grey JPEG, a JPEG with an EXIF rotation, text chunks, and
    a progressive JPEG of MAX_SCANS scans (a repeated byte run can push it over)."""
    rng = np.random.RandomState(0)
    rgb = Image.fromarray(rng.randint(0, 256, (36, 30, 3)).astype(np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90
    text = PngInfo()
    text.add_text("Comment", "a garment " * 20, zip=True)
    return {
        "grey.png": pillow_file(rgb.convert("L"), "PNG"),
        "rgba.png": pillow_file(rgb.convert("RGBA"), "PNG", pnginfo=text),
        "palette.png": pillow_file(rgb.convert("P"), "PNG", transparency=3),
        "keyed16.png": png_bytes(rng.randint(0, 65536, (20, 24)), 16, 0, trns=4660),
        "grey2bit.png": png_bytes(rng.randint(0, 4, (20, 24)), 2, 0, trns=1),
        "photo.jpg": pillow_file(rgb, "JPEG", quality=80),
        "progressive.jpg": pillow_file(rgb, "JPEG", progressive=True, exif=exif),
        "grey.jpg": pillow_file(rgb.convert("L"), "JPEG"),
        "scans.jpg": with_scans(pillow_file(rgb.convert("L"), "JPEG", progressive=True), MAX_SCANS),
    }


SEEDS = seed_files()


def fix_png_crcs(data: bytes) -> bytes:
    """Recompute every chunk's CRC, so that a mutation reaches past Pillow's CRC check."""
    out, at = bytearray(data), len(PNG_SIGNATURE)
    while at + 8 <= len(out):
        (length,) = struct.unpack(">I", out[at : at + 4])
        end = at + 8 + length
        if end + 4 > len(out):
            break
        out[end : end + 4] = struct.pack(">I", zlib.crc32(out[at + 4 : end]))
        at = end + 4
    return bytes(out)


def mutate(data: bytes, edits, repair_crcs: bool) -> bytes:
    """edits: (operation, where 0-1, a length, a byte) applied in order."""
    out = bytearray(data)
    for operation, where, length, byte in edits:
        at = int(where * len(out))
        if operation == "set":
            out[at : at + 1] = bytes([byte])
        elif operation == "insert":
            out[at:at] = bytes([byte]) * length
        elif operation == "delete":
            del out[at : at + length]
        elif operation == "repeat":
            out[at:at] = out[at : at + length]
        else:  # truncate
            del out[at:]
    if repair_crcs and out.startswith(PNG_SIGNATURE):
        return fix_png_crcs(bytes(out))
    return bytes(out)


edit = st.tuples(
    st.sampled_from(["set", "set", "set", "insert", "delete", "repeat", "truncate"]),
    st.floats(0, 1, exclude_max=True),
    st.integers(1, 64),
    st.sampled_from([0, 1, 0x7F, 0x80, 0xFF, 0x49, 0x44]),  # 0x49 0x44: "ID", as in IDAT
)
mutants = st.builds(
    lambda seed, edits, repair: (seed, mutate(SEEDS[seed], edits, repair)),
    st.sampled_from(sorted(SEEDS)),
    st.lists(edit, min_size=1, max_size=6),
    st.booleans(),
)


@contextmanager
def no_hang(limit_s: int):
    def hung(signum, frame):
        raise AssertionError(f"reading the picture took over {limit_s} s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(limit_s)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def read_mutant(path, data: bytes):
    """load_picture's input on success, or its one-line error: anything else fails the test."""
    path.write_bytes(data)
    with no_hang(HANG_S):
        try:
            x = load_picture(path)
        except FmnistError as exc:
            message = str(exc)
            assert message.startswith(f"{path}: ") and message.isprintable(), message
            return message
    assert x.shape == (784,) and x.dtype == np.float32 and 0 <= x.min() <= x.max() <= 1
    return x


# derandomize: the same 1,000 mutants every run (about 2.2 s), so CI cannot flake on a new one.
@settings(
    max_examples=1000,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(mutants)
def test_a_mutated_picture_is_read_or_refused_in_one_line(fuzz_dir, mutant):
    seed, data = mutant
    read_mutant(fuzz_dir / f"mutant-{seed}", data)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A directory with a model at models/gluon.onnx (outside a project, predict is given it
    with --onnx): small random weights, no training; what is under test is that reading ends
    well, not the class."""
    directory = tmp_path_factory.mktemp("predict")
    weights = np.random.default_rng(0).normal(0, 0.01, (NUM_CLASSES, NUM_FEATURES))
    onnx_file = directory / "models" / "gluon.onnx"
    onnx_file.parent.mkdir()
    onnx_file.write_bytes(
        model_bytes(weights.astype(np.float32), np.zeros(NUM_CLASSES, np.float32), "gluon")
    )
    return directory


def handful_of_mutants(fuzz_dir, readable: int, unreadable: int) -> list[str]:
    """Mutants of every seed, drawn with a fixed seed, until there are enough of both kinds."""
    rng, kept = random.Random(18), {True: [], False: []}
    names = sorted(SEEDS)
    for i in range(2000):
        seed = names[i % len(names)]
        edits = [
            (rng.choice(["set", "insert", "delete"]), rng.random(), rng.randint(1, 8), 0xFF)
            for _ in range(rng.randint(1, 3))
        ]
        path = fuzz_dir / f"handful-{i}-{seed}"
        ok = not isinstance(read_mutant(path, mutate(SEEDS[seed], edits, True)), str)
        if len(kept[ok]) < (readable if ok else unreadable):
            kept[ok].append(str(path))
        if len(kept[True]) == readable and len(kept[False]) == unreadable:
            return kept[True] + kept[False]
    raise AssertionError(f"no handful of mutants in 2000 draws: {kept}")


def test_mutated_pictures_through_the_real_command(fuzz_dir, model_dir):
    seed = fuzz_dir / "seed.png"
    seed.write_bytes(SEEDS["rgba.png"])
    for path in [str(seed), *handful_of_mutants(fuzz_dir, readable=3, unreadable=3)]:
        result = subprocess.run(
            [sys.executable, "-m", "fmnist.predict", "--onnx", "models/gluon.onnx", path],
            cwd=model_dir,
            capture_output=True,
            text=True,
            timeout=60,  # a hang fails the test
        )
        if result.returncode == 0:
            match = LINE.fullmatch(result.stdout.rstrip("\n"))
            assert match and match["path"] == path and result.stderr == "", result
        else:
            assert result.returncode == 1 and result.stdout == "", result
            assert re.fullmatch(rf"predict: error: {re.escape(path)}: .+\n", result.stderr), result
        assert path != str(seed) or result.returncode == 0, f"the valid seed: {result}"
