"""Read and write the IDX format of the (Fashion-)MNIST files.

Images: magic 0x00000803, count, rows, cols (big-endian uint32), then uint8 pixels.
Labels: magic 0x00000801, count, then uint8 labels.
Reading is driven by the header: the body is decompressed only up to the size the header
announces (plus one byte to notice extra data), so a corrupt or hostile .gz never fills memory.
"""

import gzip
import hashlib
import io
import struct
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import FmnistError
from .lesson.fashion_mnist import IMAGE_SIDE, NUM_CLASSES

MAX_ITEMS = 60_000  # the training split; no Fashion-MNIST file holds more


class IdxError(FmnistError):
    pass


@dataclass(frozen=True)
class IdxKind:
    name: str
    magic: int
    item_shape: tuple  # (28, 28) per image, () per label
    max_value: int | None  # labels must be < NUM_CLASSES

    @property
    def header_size(self) -> int:
        return 4 * (2 + len(self.item_shape))

    @property
    def max_bytes(self) -> int:
        return self.header_size + MAX_ITEMS * int(np.prod(self.item_shape))

    def describe(self) -> str:
        shape = "x".join(map(str, self.item_shape))
        return f"IDX {self.name}" + (f" of {shape}" if shape else "")


IMAGES = IdxKind("images", 0x00000803, (IMAGE_SIDE, IMAGE_SIDE), None)
LABELS = IdxKind("labels", 0x00000801, (), NUM_CLASSES - 1)
KINDS = (IMAGES, LABELS)


def kind_of(filename: str) -> IdxKind:
    return IMAGES if "-images-" in filename else LABELS


@contextmanager
def gzip_errors(name):
    """gzip and zlib faults -> one IdxError that names the file."""
    try:
        yield
    except FileNotFoundError:
        raise IdxError(f"{name}: missing") from None
    except EOFError:
        raise IdxError(f"{name}: truncated gzip file (the compressed data ends early)") from None
    except (OSError, zlib.error) as exc:
        raise IdxError(f"{name}: not a valid gzip file ({exc})") from None


def _shape(name, header: bytes, kind: IdxKind) -> tuple:
    if len(header) >= 4 and header[:4] != struct.pack(">I", kind.magic):
        found = struct.unpack(">I", header[:4])[0]
        other = [k.name for k in KINDS if k.magic == found]
        looks = f" (that is IDX {other[0]})" if other else ""
        raise IdxError(
            f"{name}: magic number 0x{found:08x}{looks}, expected 0x{kind.magic:08x} "
            f"({kind.describe()}); is this the right file?"
        )
    if len(header) < kind.header_size:
        raise IdxError(
            f"{name}: {len(header)} bytes, too short for the {kind.header_size}-byte "
            f"header of {kind.describe()}; the file is truncated"
        )
    count, *item_shape = struct.unpack(f">{kind.header_size // 4 - 1}I", header[4:])
    if tuple(item_shape) != kind.item_shape:
        found = "x".join(map(str, item_shape))
        raise IdxError(
            f"{name}: {kind.name} are {found}, expected " + "x".join(map(str, kind.item_shape))
        )
    if count > MAX_ITEMS:
        raise IdxError(
            f"{name}: header announces {count} {kind.name}, more than the "
            f"{MAX_ITEMS} of any Fashion-MNIST file"
        )
    return (count, *item_shape)


def read_idx(stream, kind: IdxKind, name) -> np.ndarray:
    """Parse one IDX file from a binary stream; name is used in error messages."""
    shape = _shape(name, stream.read(kind.header_size), kind)
    body_size = int(np.prod(shape))
    body = stream.read(body_size + 1)
    if len(body) < body_size:
        raise IdxError(
            f"{name}: {len(body)} bytes after the header, expected {body_size} for "
            f"{shape[0]} {kind.name}; the file is truncated"
        )
    if len(body) > body_size:
        raise IdxError(
            f"{name}: more data than the {body_size} bytes its header announces "
            f"for {shape[0]} {kind.name}; the file is corrupt"
        )
    items = np.frombuffer(body, dtype=np.uint8).reshape(shape)
    if kind.max_value is not None and items.size and items.max() > kind.max_value:
        bad = int(np.argmax(items > kind.max_value))
        raise IdxError(f"{name}: label {items[bad]} at index {bad} is outside 0-{kind.max_value}")
    return items


def read_idx_gz(path, kind: IdxKind) -> np.ndarray:
    with gzip_errors(path), gzip.open(path, "rb") as stream:
        return read_idx(stream, kind, path)


def parse_images(data: bytes, name="<images>") -> np.ndarray:
    return read_idx(io.BytesIO(data), IMAGES, name)


def parse_labels(data: bytes, name="<labels>") -> np.ndarray:
    return read_idx(io.BytesIO(data), LABELS, name)


def gz_sha256(path, max_bytes: int, name=None) -> str:
    """sha256 of the decompressed bytes, reading at most max_bytes of them."""
    name = name or path
    digest, size = hashlib.sha256(), 0
    with gzip_errors(name), gzip.open(path, "rb") as stream:
        while chunk := stream.read(min(1 << 20, max_bytes + 1 - size)):
            size += len(chunk)
            if size > max_bytes:
                raise IdxError(
                    f"{name}: decompresses to more than {max_bytes} bytes, "
                    "larger than any Fashion-MNIST file"
                )
            digest.update(chunk)
    return digest.hexdigest()


def encode_images(images: np.ndarray) -> bytes:
    images = np.asarray(images, dtype=np.uint8)
    n, rows, cols = images.shape
    return struct.pack(">4I", IMAGES.magic, n, rows, cols) + images.tobytes()


def encode_labels(labels: np.ndarray) -> bytes:
    labels = np.asarray(labels, dtype=np.uint8)
    return struct.pack(">2I", LABELS.magic, labels.shape[0]) + labels.tobytes()


def write_gz(path, data: bytes) -> None:
    """Used by tests and tools to make small IDX datasets; mtime 0 keeps the bytes stable."""
    Path(path).write_bytes(gzip.compress(data, mtime=0))
