import gzip
import struct

import numpy as np
import pytest

from fmnist.idx import (IdxError, encode_images, encode_labels, parse_images, parse_labels,
                        read_gz_bounded, write_gz)


def test_images_round_trip():
    images = np.arange(3 * 28 * 28, dtype=np.uint32).reshape(3, 28, 28).astype(np.uint8)
    parsed = parse_images(encode_images(images))
    assert parsed.shape == (3, 28, 28)
    np.testing.assert_array_equal(parsed, images)


def test_header_is_big_endian():
    data = encode_images(np.zeros((2, 28, 28), np.uint8))
    assert data[:16] == bytes.fromhex("00000803" "00000002" "0000001c" "0000001c")


def test_labels_round_trip():
    labels = np.array([9, 0, 0, 3, 1], np.uint8)
    np.testing.assert_array_equal(parse_labels(encode_labels(labels)), labels)


def test_wrong_magic_names_file_and_expected_value():
    with pytest.raises(IdxError, match=r"train-images.*0x00000801, expected 0x00000803"):
        parse_images(encode_labels(np.zeros(5, np.uint8)), "train-images-idx3-ubyte.gz")


def test_truncated_images_are_rejected():
    data = encode_images(np.zeros((4, 28, 28), np.uint8))
    with pytest.raises(IdxError, match="truncated"):
        parse_images(data[:-10], "x.gz")


def test_short_header_is_rejected():
    with pytest.raises(IdxError, match="too short"):
        parse_labels(b"\x00\x00\x08", "y.gz")


def test_wrong_image_size_is_rejected():
    data = struct.pack(">4I", 0x803, 1, 32, 32) + bytes(32 * 32)
    with pytest.raises(IdxError, match="32x32, expected 28x28"):
        parse_images(data, "x.gz")


def test_label_out_of_range_is_rejected():
    with pytest.raises(IdxError, match="label 10 at index 2 is outside 0-9"):
        parse_labels(encode_labels(np.array([1, 2, 10], np.uint8)), "y.gz")


def test_decompression_is_bounded(tmp_path):
    path = tmp_path / "big.gz"
    path.write_bytes(gzip.compress(bytes(1000)))
    assert len(read_gz_bounded(path, 1000)) == 1000
    with pytest.raises(IdxError, match="more than 999 bytes"):
        read_gz_bounded(path, 999)


def test_not_gzip_is_rejected(tmp_path):
    path = tmp_path / "plain.gz"
    path.write_bytes(b"this is not gzip")
    with pytest.raises(IdxError, match="not a valid gzip"):
        read_gz_bounded(path, 100)


def test_write_gz_is_byte_stable(tmp_path):
    write_gz(tmp_path / "a.gz", b"abc")
    write_gz(tmp_path / "b.gz", b"abc")
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()
