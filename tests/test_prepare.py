"""preprocess on damaged raw files: one clear error naming the file and what was expected,
and no data/prepared written."""

import gzip
import json
import shutil
import tracemalloc
import zlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import synthetic_split
from data_faults import RAW_FAULTS, RECOVERY
from fmnist import FmnistError
from fmnist.guards.atomic import TEMP_GLOB
from fmnist.idx import IMAGES, IdxError, encode_images, encode_labels, read_idx_gz, write_gz
from fmnist.prepared import (
    MANIFEST,
    arrays_unlike_manifest,
    load_prepared,
    prepare,
    to_features,
    validation_rows,
)

VALIDATION = (60, 7)  # validation_size and seed of the small dataset's 300 training images


@pytest.fixture
def raw_dir(small_dataset, tmp_path):
    directory = tmp_path / "data/raw"
    shutil.copytree(small_dataset[0], directory)
    return directory


def labels(n=300, seed=0) -> np.ndarray:
    return synthetic_split(n, seed)[1]


def expect_failure(raw_dir, fault: str, recovery=True):
    """prepare fails with the line of tests/data_faults.py's fault (and the recovery line),
    and writes nothing."""
    prepared = raw_dir.parent / "prepared"
    with pytest.raises(IdxError) as failure:
        prepare(raw_dir, prepared, *VALIDATION)
    message = RAW_FAULTS[fault].message(raw=raw_dir)
    assert str(failure.value) == (f"{message}\n{RECOVERY}" if recovery else message)
    assert not prepared.exists()
    assert not list(raw_dir.parent.glob(TEMP_GLOB))


def test_good_files_are_prepared(raw_dir):
    sizes = prepare(raw_dir, raw_dir.parent / "prepared", *VALIDATION)
    assert sizes == {"train": 240, "val": 60, "test": 100}


def test_the_validation_set_is_held_out_of_the_training_images_and_recorded(raw_dir):
    """val and train are Zalando's training rows, disjoint, together all of them, each in
    file order; the manifest names the held-out rows and how they were drawn."""
    prepared = raw_dir.parent / "prepared"
    prepare(raw_dir, prepared, *VALIDATION)
    data = load_prepared(prepared)
    split = json.loads((prepared / MANIFEST).read_text())["split"]
    held_out = np.array(split["validation_rows"])
    assert (split["validation_size"], split["seed"]) == VALIDATION
    kept = np.setdiff1d(np.arange(300), held_out)
    assert len(held_out) == 60 and len(kept) == 240  # disjoint: 60 + 240 distinct rows of 300
    raw = to_features(read_idx_gz(raw_dir / "train-images-idx3-ubyte.gz", IMAGES))
    np.testing.assert_array_equal(data.val_x, raw[held_out])
    np.testing.assert_array_equal(data.train_x, raw[kept])
    np.testing.assert_array_equal(data.val_y, labels()[held_out])
    np.testing.assert_array_equal(data.test_y, labels(100, 1))  # the test set is untouched


def test_another_seed_holds_out_other_rows_and_the_same_seed_the_same(raw_dir):
    assert list(validation_rows(300, 60, 7)) == list(validation_rows(300, 60, 7))
    assert list(validation_rows(300, 60, 7)) != list(validation_rows(300, 60, 8))


@given(total=st.integers(2, 5000), data=st.data())
def test_validation_rows_are_distinct_sorted_and_in_range(total, data):
    size = data.draw(st.integers(1, total - 1))
    rows = validation_rows(total, size, data.draw(st.integers(0, 2**32 - 1)))
    assert len(rows) == size and np.all(np.diff(rows) > 0)
    assert rows[0] >= 0 and rows[-1] < total


@pytest.mark.parametrize("size", [300, 301, 10_000])
def test_a_validation_set_as_large_as_the_training_images_is_refused(raw_dir, size):
    prepared = raw_dir.parent / "prepared"
    with pytest.raises(
        FmnistError,
        match=r"^params: preprocess.validation_size must be below the 300 training images "
        rf"\(some must be left to train on\), got {size}; lower it in params.yaml$",
    ):
        prepare(raw_dir, prepared, size, 0)
    assert not prepared.exists()


# file to replace, its new content (IDX bytes, gzipped on write), its fault
DAMAGE = {
    "wrong magic": (
        "train-images-idx3-ubyte.gz",
        lambda: encode_labels(labels()),
        "wrong magic",
    ),
    "wrong dimensions": (
        "t10k-images-idx3-ubyte.gz",
        lambda: encode_images(np.zeros((100, 32, 32), np.uint8)),
        "wrong dimensions",
    ),
    "labels outside 0-9": (
        "train-labels-idx1-ubyte.gz",
        lambda: encode_labels(np.where(np.arange(300) == 7, 12, labels())),
        "label outside 0-9",
    ),
    "truncated IDX": (
        "t10k-labels-idx1-ubyte.gz",
        lambda: encode_labels(labels(100, 1))[:-5],
        "truncated IDX",
    ),
}


@pytest.mark.parametrize("case", DAMAGE)
def test_damaged_file_is_named_with_what_was_expected(case, raw_dir):
    name, content, fault = DAMAGE[case]
    write_gz(raw_dir / name, content())
    expect_failure(raw_dir, fault)


def test_truncated_gzip_is_named(raw_dir):
    path = raw_dir / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:5000])
    expect_failure(raw_dir, "truncated gzip")


def test_image_and_label_counts_must_match(raw_dir):
    write_gz(raw_dir / "train-labels-idx1-ubyte.gz", encode_labels(labels()[:299]))
    expect_failure(raw_dir, "counts differ")


def test_missing_file_says_to_run_fetch(raw_dir):
    (raw_dir / "t10k-images-idx3-ubyte.gz").unlink()
    expect_failure(raw_dir, "missing", recovery=False)


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
        expect_failure(raw_dir, "too much data")
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
    prepare(raw_dir, prepared, *VALIDATION)
    assert arrays_unlike_manifest(prepared) == []
    train_y = np.load(prepared / "train_y.npy", allow_pickle=False)
    np.save(prepared / "train_y.npy", np.roll(train_y, 1), allow_pickle=False)
    (prepared / "test_x.npy").unlink()
    assert arrays_unlike_manifest(prepared) == ["train_y.npy", "test_x.npy"]
    (prepared / MANIFEST).write_text('{"sha256": {"train_x.npy": "0"}}')
    with pytest.raises(
        FmnistError, match=r"manifest.json: not a manifest of the arrays \(KeyError"
    ):
        arrays_unlike_manifest(prepared)
