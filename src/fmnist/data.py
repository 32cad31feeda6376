"""Load the prepared arrays (never with pickle); the manifest that identifies them."""
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import FmnistError
from .labels import NUM_FEATURES


ARRAYS = ("train_x", "train_y", "test_x", "test_y")
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Dataset:
    train_x: np.ndarray  # float32 (N, 784) in [0, 1]
    train_y: np.ndarray  # int32 (N,)
    test_x: np.ndarray
    test_y: np.ndarray


def load_prepared(prepared_dir) -> Dataset:
    prepared_dir = Path(prepared_dir)
    arrays = {}
    for name in ARRAYS:
        path = prepared_dir / f"{name}.npy"
        try:
            arrays[name] = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise FmnistError(f"{path}: missing; run the preprocess stage first "
                              "(dvc repro preprocess)") from None
        except (ValueError, EOFError, OSError) as exc:  # pickled, truncated or unreadable
            raise FmnistError(f"{path}: not a plain .npy array ({exc}); "
                              "rerun the preprocess stage (dvc repro -f preprocess)") from None
    for split in ("train", "test"):
        x, y = arrays[f"{split}_x"], arrays[f"{split}_y"]
        if x.ndim != 2 or x.shape[1] != NUM_FEATURES or len(x) != len(y):
            raise FmnistError(f"{prepared_dir}: {split} arrays have shapes {x.shape} and {y.shape}, "
                              f"expected (N, {NUM_FEATURES}) and (N,); rerun preprocess")
    return Dataset(**arrays)


def write_manifest(prepared_dir) -> None:
    """manifest.json beside the arrays: each .npy file's sha256, as written. Preprocess
    writes it with them, so that comparing prepared data (two hosts of a dist_sync job)
    costs one small file, not 188 MB."""
    prepared_dir = Path(prepared_dir)
    files = {}
    for name in ARRAYS:
        with open(prepared_dir / f"{name}.npy", "rb") as array_file:
            files[f"{name}.npy"] = hashlib.file_digest(array_file, "sha256").hexdigest()
    (prepared_dir / MANIFEST).write_text(json.dumps({"sha256": files}, indent=2) + "\n")


def prepared_digest(prepared_dir) -> str:
    """sha256 of the manifest: equal digests mean the same prepared arrays."""
    path = Path(prepared_dir) / MANIFEST
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        raise FmnistError(f"{path}: missing (preprocess writes it with the arrays); rerun "
                          "the preprocess stage (dvc repro -f preprocess)") from None
