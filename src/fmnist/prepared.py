"""The prepared arrays: made from Zalando's IDX files (float32 images in [0, 1] of shape
(N, 784), int32 labels), written with the manifest that identifies them, and loaded back
(never with pickle), checked as preprocess writes them.

Three splits: train and val are Zalando's training images, split by a seeded draw (val is
what every choice is made on); test is Zalando's test set, which only evaluate reads."""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import FmnistError
from .guards.atomic import atomic_path
from .idx import IMAGES, LABELS, IdxError, read_idx_gz
from .lesson.fashion_mnist import NUM_CLASSES, NUM_FEATURES

RERUN = "rerun the preprocess stage (dvc repro -f preprocess)"
FEATURE_RULE = (np.float32, 0.0, 1.0, "features must be in [0, 1]")
LABEL_RULE = (np.int32, 0, NUM_CLASSES - 1, f"labels must be 0-{NUM_CLASSES - 1}")
# name -> (dtype, lowest and highest value allowed, the rule). Checked in full: a min and a
# max over the 188 MB of training features take ~30 ms.
EXPECTED = {
    "train_x": FEATURE_RULE,
    "train_y": LABEL_RULE,
    "val_x": FEATURE_RULE,
    "val_y": LABEL_RULE,
    "test_x": FEATURE_RULE,
    "test_y": LABEL_RULE,
}


MANIFEST = "manifest.json"


SPLITS = ("train", "val", "test")
TRAINING_SPLITS = ("train", "val")  # what training reads: never the test set


@dataclass(frozen=True)
class Dataset:
    """The splits a stage asked for; the others are None (training never holds the test set)."""

    train_x: np.ndarray | None = None  # float32 (N, 784) in [0, 1]
    train_y: np.ndarray | None = None  # int32 (N,) in 0-9
    val_x: np.ndarray | None = None  # held out of Zalando's training images
    val_y: np.ndarray | None = None
    test_x: np.ndarray | None = None
    test_y: np.ndarray | None = None


def check_values(path: Path, array: np.ndarray, dtype, low, high, rule: str) -> None:
    """Dtype and range: labels outside 0-9 or features outside [0, 1] (NaN included) train
    without an error and give meaningless models."""
    if array.dtype != dtype:
        raise FmnistError(f"{path}: dtype {array.dtype}, expected {np.dtype(dtype)}; {RERUN}")
    if array.size == 0:
        raise FmnistError(f"{path}: holds no examples; {RERUN}")
    lowest, highest = array.min(), array.max()
    if not low <= lowest <= highest <= high:  # False for NaN as well
        raise FmnistError(f"{path}: {rule}, found {lowest} to {highest}; {RERUN}")


def load_array(path: Path) -> np.ndarray:
    """Mapped, not read: the pages come from the page cache as they are used (reading the
    157 MB of training features into fresh memory took 0.3-0.5 s of each stage). Copy-on-
    write, so that no use of the array can change the file DVC tracks."""
    try:
        return np.load(path, mmap_mode="c", allow_pickle=False)
    except FileNotFoundError:
        raise FmnistError(
            f"{path}: missing; run the preprocess stage first (dvc repro preprocess)"
        ) from None
    except (ValueError, EOFError, OSError) as exc:  # pickled, truncated or unreadable
        raise FmnistError(f"{path}: not a plain .npy array ({exc}); {RERUN}") from None


def load_prepared(prepared_dir, splits=SPLITS) -> Dataset:
    prepared_dir = Path(prepared_dir)
    arrays = {}
    for name, expected in EXPECTED.items():
        if name.split("_")[0] not in splits:
            continue
        path = prepared_dir / f"{name}.npy"
        arrays[name] = load_array(path)
        check_values(path, arrays[name], *expected)
    for split in splits:
        x, y = arrays[f"{split}_x"], arrays[f"{split}_y"]
        if x.ndim != 2 or x.shape[1] != NUM_FEATURES or len(x) != len(y):
            raise FmnistError(
                f"{prepared_dir}: {split} arrays have shapes {x.shape} and "
                f"{y.shape}, expected (N, {NUM_FEATURES}) and (N,); {RERUN}"
            )
    return Dataset(**arrays)


def file_sha256(path: Path) -> str:
    with open(path, "rb") as array_file:
        return hashlib.file_digest(array_file, "sha256").hexdigest()


def write_manifest(prepared_dir, split: dict) -> None:
    """manifest.json beside the arrays: each .npy file's sha256, as written, and how the
    validation set was drawn (split). Preprocess writes it with them, so that comparing
    prepared data (two hosts of a dist_sync job) costs one small file, not 188 MB."""
    prepared_dir = Path(prepared_dir)
    files = {f"{name}.npy": file_sha256(prepared_dir / f"{name}.npy") for name in EXPECTED}
    manifest = {"sha256": files, "split": split}
    (prepared_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


def prepared_digest(prepared_dir) -> str:
    """sha256 of the manifest: equal digests mean the same prepared arrays, if the arrays
    are what it lists (arrays_unlike_manifest)."""
    path = Path(prepared_dir) / MANIFEST
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        raise FmnistError(
            f"{path}: missing (preprocess writes it with the arrays); {RERUN}"
        ) from None


def arrays_unlike_manifest(prepared_dir) -> list[str]:
    """The .npy files whose sha256 is not the one manifest.json lists (or that are missing):
    equal manifests on two hosts say nothing of arrays changed or copied in since. Hashing
    the real four (220 MB) took 0.12 s from the page cache, 0.44 s the first time."""
    prepared_dir = Path(prepared_dir)
    path = prepared_dir / MANIFEST
    try:
        listed = json.loads(path.read_text())["sha256"]
        expected = {f"{name}.npy": listed[f"{name}.npy"] for name in EXPECTED}
    except FileNotFoundError:
        raise FmnistError(
            f"{path}: missing (preprocess writes it with the arrays); {RERUN}"
        ) from None
    except (ValueError, KeyError, TypeError) as exc:  # not JSON, or not the manifest's shape
        raise FmnistError(f"{path}: not a manifest of the arrays ({exc!r}); {RERUN}") from None
    return [
        name
        for name, digest in expected.items()
        if not (prepared_dir / name).is_file() or file_sha256(prepared_dir / name) != digest
    ]


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


def validation_rows(total: int, size: int, seed: int) -> np.ndarray:
    """The rows of Zalando's training file held out for validation: `size` of `total`,
    drawn with `seed`, in file order."""
    if not 1 <= size < total:
        raise FmnistError(
            f"params: preprocess.validation_size must be below the {total} training images "
            f"(some must be left to train on), got {size}; lower it in params.yaml"
        )
    return np.sort(np.random.RandomState(seed).permutation(total)[:size])


def split_arrays(raw_dir, validation_size: int, seed: int) -> tuple[dict, dict]:
    """{train,val,test}_{x,y} from the raw files, and how the validation set was drawn. val is
    validation_size rows of Zalando's training file, train the rest (both in file order):
    disjoint, and together the whole file."""
    images, labels = load_split(raw_dir, SPLITS["train"])
    held_out = validation_rows(len(labels), validation_size, seed)
    kept = np.setdiff1d(np.arange(len(labels)), held_out)
    rows = {"train": (images[kept], labels[kept]), "val": (images[held_out], labels[held_out])}
    rows["test"] = load_split(raw_dir, SPLITS["test"])
    arrays = {}
    for split, (split_images, split_labels) in rows.items():
        arrays[f"{split}_x"] = to_features(split_images)
        arrays[f"{split}_y"] = split_labels.astype(np.int32)
    split = {
        "validation_size": validation_size,
        "seed": seed,
        "validation_rows": held_out.tolist(),  # rows of train-images-idx3-ubyte, from 0
    }
    return arrays, split


def prepare(raw_dir, prepared_dir, validation_size: int, seed: int) -> dict:
    """Write the split arrays and their manifest into prepared_dir at once; return the
    split sizes."""
    arrays, split = split_arrays(raw_dir, validation_size, seed)
    with atomic_path(prepared_dir) as staging:
        staging.mkdir()
        for name, array in arrays.items():
            np.save(staging / f"{name}.npy", array, allow_pickle=False)
        write_manifest(staging, split)
    return {name: len(arrays[f"{name}_y"]) for name in ("train", "val", "test")}
