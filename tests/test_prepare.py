"""preprocess on damaged raw files: one clear error naming the file and what was expected,
and no data/prepared written."""

import gzip
import shutil
import tracemalloc
import zlib

import numpy as np
import pytest

from conftest import synthetic_split
from fmnist import FmnistError
from fmnist.guards.atomic import TEMP_GLOB
from fmnist.idx import IdxError, encode_images, encode_labels, write_gz
from fmnist.prepared import MANIFEST, arrays_unlike_manifest, prepare


@pytest.fixture
def raw_dir(small_dataset, tmp_path):
    directory = tmp_path / "data/raw"
    shutil.copytree(small_dataset[0], directory)
    return directory


def labels(n=300, seed=0) -> np.ndarray:
    return synthetic_split(n, seed)[1]


RECOVERY = (
    "\ndata/raw should hold the files fetch verified: restore them with "
    "`dvc checkout data/raw` or fetch again with `dvc repro -f fetch`$"
)


def expect_failure(raw_dir, pattern: str):
    prepared = raw_dir.parent / "prepared"
    with pytest.raises(IdxError, match=pattern):
        prepare(raw_dir, prepared)
    assert not prepared.exists()
    assert not list(raw_dir.parent.glob(TEMP_GLOB))


def test_good_files_are_prepared(raw_dir):
    assert prepare(raw_dir, raw_dir.parent / "prepared") == {"train": 300, "test": 100}


# file to replace, its new content (IDX bytes, gzipped on write), expected message
DAMAGE = {
    "wrong magic": (
        "train-images-idx3-ubyte.gz",
        lambda: encode_labels(labels()),
        r"{path}: magic number 0x00000801 \(that is IDX labels\), expected "
        r"0x00000803 \(IDX images of 28x28\); is this the right file\?",
    ),
    "wrong dimensions": (
        "t10k-images-idx3-ubyte.gz",
        lambda: encode_images(np.zeros((100, 32, 32), np.uint8)),
        r"{path}: images are 32x32, expected 28x28",
    ),
    "labels outside 0-9": (
        "train-labels-idx1-ubyte.gz",
        lambda: encode_labels(np.where(np.arange(300) == 7, 12, labels())),
        r"{path}: label 12 at index 7 is outside 0-9",
    ),
    "truncated IDX": (
        "t10k-labels-idx1-ubyte.gz",
        lambda: encode_labels(labels(100, 1))[:-5],
        r"{path}: 95 bytes after the header, expected 100 for 100 labels; "
        "the file is truncated",
    ),
}


@pytest.mark.parametrize("case", DAMAGE)
def test_damaged_file_is_named_with_what_was_expected(case, raw_dir):
    name, content, message = DAMAGE[case]
    write_gz(raw_dir / name, content())
    expect_failure(raw_dir, "^" + message.format(path=raw_dir / name) + RECOVERY)


def test_truncated_gzip_is_named(raw_dir):
    path = raw_dir / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:5000])
    expect_failure(raw_dir, f"^{path}: truncated gzip file \\(the compressed data ends early\\)")


def test_image_and_label_counts_must_match(raw_dir):
    write_gz(raw_dir / "train-labels-idx1-ubyte.gz", encode_labels(labels()[:299]))
    expect_failure(
        raw_dir,
        f"^{raw_dir}/train-images-idx3-ubyte.gz holds 300 images but "
        f"{raw_dir}/train-labels-idx1-ubyte.gz holds 299 labels; every "
        "image needs exactly one label" + RECOVERY,
    )


def test_missing_file_says_to_run_fetch(raw_dir):
    (raw_dir / "t10k-images-idx3-ubyte.gz").unlink()
    expect_failure(
        raw_dir,
        f"^{raw_dir}/t10k-images-idx3-ubyte.gz: missing; run the fetch "
        r"stage first \(dvc repro fetch\)$",
    )


def gzip_bomb(path, header: bytes, zero_megabytes: int) -> None:
    """header followed by many zeros, compressed ~1000:1, written without holding them."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: gzip container
    zeros = bytes(2**20)
    with open(path, "wb") as out:
        out.write(compressor.compress(header))
        for _ in range(zero_megabytes):
            out.write(compressor.compress(zeros))
        out.write(compressor.flush())


def test_decompression_is_bounded_by_the_size_the_header_announces(raw_dir):
    path = raw_dir / "train-labels-idx1-ubyte.gz"
    gzip_bomb(path, encode_labels(labels())[:8], zero_megabytes=128)
    assert path.stat().st_size < 2**20
    tracemalloc.start()
    try:
        expect_failure(
            raw_dir,
            f"^{path}: more data than the 300 bytes its header announces "
            "for 300 labels; the file is corrupt",
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # The three good files need ~2 MB; reading the bomb whole would need 128 MB.
    assert peak < 16 * 2**20, f"peak {peak / 2**20:.0f} MB"
    with gzip.open(path) as stream:  # the bomb really is that big
        assert sum(len(c) for c in iter(lambda: stream.read(2**24), b"")) > 128 * 2**20


def test_arrays_are_checked_against_their_manifest(raw_dir):
    """Each .npy file's own sha256, not the manifest's: valid arrays that are not the
    ones listed (another host's, edited) are named; so are missing ones."""
    prepared = raw_dir.parent / "prepared"
    prepare(raw_dir, prepared)
    assert arrays_unlike_manifest(prepared) == []
    train_y = np.load(prepared / "train_y.npy", allow_pickle=False)
    np.save(prepared / "train_y.npy", np.roll(train_y, 1), allow_pickle=False)
    (prepared / "test_x.npy").unlink()
    assert arrays_unlike_manifest(prepared) == ["train_y.npy", "test_x.npy"]
    (prepared / MANIFEST).write_text('{"sha256": {"train_x.npy": "0"}}')
    with pytest.raises(
        FmnistError, match=r"manifest.json: not a manifest of the four arrays \(KeyError"
    ):
        arrays_unlike_manifest(prepared)
