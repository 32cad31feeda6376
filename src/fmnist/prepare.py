"""IDX (.gz) -> .npy: float32 images in [0, 1] of shape (N, 784) and int32 labels."""
from pathlib import Path

import numpy as np

from .atomic import atomic_path
from .idx import IdxError, parse_images, parse_labels, read_gz_bounded
from .labels import IMAGE_SIDE, NUM_CLASSES

# 60,000 images of 28x28 plus the 16-byte header; nothing larger is a Fashion-MNIST file.
MAX_IMAGES_BYTES = 16 + 60_000 * IMAGE_SIDE * IMAGE_SIDE
MAX_LABELS_BYTES = 8 + 60_000

SPLITS = {"train": "train", "test": "t10k"}


def load_split(raw_dir, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    raw_dir = Path(raw_dir)
    images_path = raw_dir / f"{prefix}-images-idx3-ubyte.gz"
    labels_path = raw_dir / f"{prefix}-labels-idx1-ubyte.gz"
    for path in (images_path, labels_path):
        if not path.is_file():
            raise IdxError(f"{path}: missing; run the fetch stage first (dvc repro fetch)")
    images = parse_images(read_gz_bounded(images_path, MAX_IMAGES_BYTES), images_path, IMAGE_SIDE)
    labels = parse_labels(read_gz_bounded(labels_path, MAX_LABELS_BYTES), labels_path, NUM_CLASSES)
    if len(images) != len(labels):
        raise IdxError(f"{images_path} holds {len(images)} images but {labels_path} "
                       f"holds {len(labels)} labels; they must match")
    if len(images) == 0:
        raise IdxError(f"{images_path}: holds no images")
    return images, labels


def to_features(images: np.ndarray) -> np.ndarray:
    return (images.reshape(len(images), -1).astype(np.float32) / 255.0)


def prepare(raw_dir, prepared_dir) -> dict:
    """Write {train,test}_{x,y}.npy into prepared_dir at once; return the split sizes."""
    arrays = {}
    for split, prefix in SPLITS.items():
        images, labels = load_split(raw_dir, prefix)
        arrays[f"{split}_x"] = to_features(images)
        arrays[f"{split}_y"] = labels.astype(np.int32)
    with atomic_path(prepared_dir) as staging:
        staging.mkdir()
        for name, array in arrays.items():
            np.save(staging / f"{name}.npy", array, allow_pickle=False)
    return {split: len(arrays[f"{split}_y"]) for split in SPLITS}
