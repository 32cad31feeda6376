"""IDX (.gz) -> .npy: float32 images in [0, 1] of shape (N, 784) and int32 labels."""

from pathlib import Path

import numpy as np

from .atomic import atomic_path
from .data import write_manifest
from .idx import IMAGES, LABELS, IdxError, read_idx_gz

SPLITS = {"train": "train", "test": "t10k"}
RECOVERY = (
    "data/raw should hold the files fetch verified: restore them with "
    "`dvc checkout data/raw` or fetch again with `dvc repro -f fetch`"
)


def load_split(raw_dir, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    raw_dir = Path(raw_dir)
    images_path = raw_dir / f"{prefix}-images-idx3-ubyte.gz"
    labels_path = raw_dir / f"{prefix}-labels-idx1-ubyte.gz"
    for path in (images_path, labels_path):
        if not path.is_file():
            raise IdxError(f"{path}: missing; run the fetch stage first (dvc repro fetch)")
    try:
        images = read_idx_gz(images_path, IMAGES)
        labels = read_idx_gz(labels_path, LABELS)
        if len(images) != len(labels):
            raise IdxError(
                f"{images_path} holds {len(images)} images but {labels_path} "
                f"holds {len(labels)} labels; every image needs exactly one label"
            )
        if len(images) == 0:
            raise IdxError(f"{images_path}: holds no images")
    except IdxError as exc:
        raise IdxError(f"{exc}\n{RECOVERY}") from None
    return images, labels


def to_features(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1).astype(np.float32) / 255.0


def prepare(raw_dir, prepared_dir) -> dict:
    """Write {train,test}_{x,y}.npy and their manifest into prepared_dir at once; return the
    split sizes."""
    arrays = {}
    for split, prefix in SPLITS.items():
        images, labels = load_split(raw_dir, prefix)
        arrays[f"{split}_x"] = to_features(images)
        arrays[f"{split}_y"] = labels.astype(np.int32)
    with atomic_path(prepared_dir) as staging:
        staging.mkdir()
        for name, array in arrays.items():
            np.save(staging / f"{name}.npy", array, allow_pickle=False)
        write_manifest(staging)
    return {split: len(arrays[f"{split}_y"]) for split in SPLITS}
