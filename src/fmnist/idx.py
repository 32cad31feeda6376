"""Read and write the IDX format of the (Fashion-)MNIST files.

Images: magic 0x00000803, count, rows, cols (big-endian uint32), then uint8 pixels.
Labels: magic 0x00000801, count, then uint8 labels.
"""
import gzip
import struct
from pathlib import Path

import numpy as np

from . import FmnistError

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801


class IdxError(FmnistError):
    pass


def read_gz_bounded(path, max_bytes: int) -> bytes:
    """Decompress at most max_bytes; a bigger stream is an error, not a memory blow-up."""
    try:
        with gzip.open(path, "rb") as stream:
            data = stream.read(max_bytes + 1)
    except (OSError, EOFError) as exc:
        raise IdxError(f"{path}: not a valid gzip file ({exc}); delete it and fetch again") from None
    if len(data) > max_bytes:
        raise IdxError(f"{path}: decompresses to more than {max_bytes} bytes, "
                       "which is larger than any Fashion-MNIST file")
    return data


def _header(path, data: bytes, magic: int, dims: int) -> tuple:
    size = 4 * (1 + dims)
    found = struct.unpack(">I", data[:4])[0] if len(data) >= 4 else None
    if found is not None and found != magic:
        kind = "images" if magic == IMAGES_MAGIC else "labels"
        raise IdxError(f"{path}: magic number 0x{found:08x}, expected 0x{magic:08x} "
                       f"(IDX {kind}); is this the right file?")
    if len(data) < size:
        raise IdxError(f"{path}: {len(data)} bytes is too short for an IDX header of {size} bytes")
    shape = struct.unpack(f">{dims}I", data[4:size])
    expected = size + int(np.prod(shape))
    if len(data) != expected:
        raise IdxError(f"{path}: {len(data)} bytes, expected {expected} for shape {tuple(shape)}; "
                       "the file is truncated or corrupt, fetch it again")
    return tuple(shape), size


def parse_images(data: bytes, path="<images>", side: int = 28) -> np.ndarray:
    shape, offset = _header(path, data, IMAGES_MAGIC, 3)
    if shape[1:] != (side, side):
        raise IdxError(f"{path}: images are {shape[1]}x{shape[2]}, expected {side}x{side}")
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(shape)


def parse_labels(data: bytes, path="<labels>", num_classes: int = 10) -> np.ndarray:
    shape, offset = _header(path, data, LABELS_MAGIC, 1)
    labels = np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(shape)
    if labels.size and labels.max() >= num_classes:
        bad = int(np.argmax(labels >= num_classes))
        raise IdxError(f"{path}: label {labels[bad]} at index {bad} is outside 0-{num_classes - 1}")
    return labels


def encode_images(images: np.ndarray) -> bytes:
    images = np.asarray(images, dtype=np.uint8)
    n, rows, cols = images.shape
    return struct.pack(">4I", IMAGES_MAGIC, n, rows, cols) + images.tobytes()


def encode_labels(labels: np.ndarray) -> bytes:
    labels = np.asarray(labels, dtype=np.uint8)
    return struct.pack(">2I", LABELS_MAGIC, labels.shape[0]) + labels.tobytes()


def write_gz(path, data: bytes) -> None:
    """Used by tests and tools to make small IDX datasets; mtime 0 keeps the bytes stable."""
    Path(path).write_bytes(gzip.compress(data, mtime=0))
