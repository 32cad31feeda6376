import gzip
import struct

import numpy as np
import pytest

from fmnist.idx import (
    IMAGES,
    LABELS,
    IdxError,
    encode_images,
    encode_labels,
    gz_sha256,
    parse_images,
    parse_labels,
    read_idx_gz,
    write_gz,
)


def test_images_round_trip():
    images = np.arange(3 * 28 * 28, dtype=np.uint32).reshape(3, 28, 28).astype(np.uint8)
    parsed = parse_images(encode_images(images))
    assert parsed.shape == (3, 28, 28)
    np.testing.assert_array_equal(parsed, images)


def test_header_is_big_endian():
    data = encode_images(np.zeros((2, 28, 28), np.uint8))
    assert data[:16] == bytes.fromhex("00000803000000020000001c0000001c")


def test_labels_round_trip():
    labels = np.array([9, 0, 0, 3, 1], np.uint8)
    np.testing.assert_array_equal(parse_labels(encode_labels(labels)), labels)


def test_wrong_magic_names_file_and_expected_value():
    with pytest.raises(
        IdxError,
        match=r"^x.gz: magic number 0x00000801 \(that is IDX labels\), "
        r"expected 0x00000803 \(IDX images of 28x28\)",
    ):
        parse_images(encode_labels(np.zeros(5, np.uint8)), "x.gz")


def test_truncated_images_are_rejected():
    data = encode_images(np.zeros((4, 28, 28), np.uint8))
    with pytest.raises(
        IdxError,
        match=r"^x.gz: 3126 bytes after the header, expected 3136 "
        "for 4 images; the file is truncated$",
    ):
        parse_images(data[:-10], "x.gz")


def test_extra_data_is_rejected():
    data = encode_labels(np.zeros(4, np.uint8)) + b"\x00"
    with pytest.raises(IdxError, match="more data than the 4 bytes its header announces"):
        parse_labels(data, "y.gz")


def test_short_header_is_rejected():
    with pytest.raises(IdxError, match="^y.gz: 6 bytes, too short for the 8-byte header"):
        parse_labels(b"\x00\x00\x08\x01\x00\x00", "y.gz")


def test_wrong_image_size_is_rejected():
    data = struct.pack(">4I", 0x803, 1, 32, 32) + bytes(32 * 32)
    with pytest.raises(IdxError, match="^x.gz: images are 32x32, expected 28x28$"):
        parse_images(data, "x.gz")


def test_a_count_beyond_any_fashion_mnist_file_is_rejected_before_reading():
    header = struct.pack(">2I", 0x801, 60_001)
    with pytest.raises(IdxError, match="announces 60001 labels, more than the 60000"):
        parse_labels(header, "y.gz")


def test_label_out_of_range_is_rejected():
    with pytest.raises(IdxError, match="^y.gz: label 10 at index 2 is outside 0-9$"):
        parse_labels(encode_labels(np.array([1, 2, 10], np.uint8)), "y.gz")


def test_read_idx_gz_reads_a_gzip_file(tmp_path):
    labels = np.array([9, 0, 3], np.uint8)
    write_gz(tmp_path / "y.gz", encode_labels(labels))
    np.testing.assert_array_equal(read_idx_gz(tmp_path / "y.gz", LABELS), labels)
    assert IMAGES.max_bytes == 16 + 60_000 * 784 and LABELS.max_bytes == 8 + 60_000


def test_checksum_of_decompressed_bytes_is_bounded(tmp_path):
    path = tmp_path / "big.gz"
    path.write_bytes(gzip.compress(bytes(1000)))
    assert (
        gz_sha256(path, 1000) == "541b3e9daa09b20bf85fa273e5cbd3e80185aa4ec298e765db87742b70138a53"
    )
    with pytest.raises(IdxError, match="decompresses to more than 999 bytes"):
        gz_sha256(path, 999)


def test_not_gzip_is_rejected(tmp_path):
    path = tmp_path / "plain.gz"
    path.write_bytes(b"this is not gzip")
    with pytest.raises(IdxError, match="plain.gz: not a valid gzip file"):
        gz_sha256(path, 100)


def test_write_gz_is_byte_stable(tmp_path):
    write_gz(tmp_path / "a.gz", b"abc")
    write_gz(tmp_path / "b.gz", b"abc")
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()
