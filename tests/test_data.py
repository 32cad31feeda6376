"""Prepared data is checked where every stage reads it (fmnist.prepared.load_prepared): dtypes,
labels 0-9, features in [0, 1]; one line naming the file and what to do."""

import re

import numpy as np
import pytest

from conftest import SMALL_SPLIT
from fmnist import FmnistError
from fmnist.prepared import load_prepared, prepare

RERUN = "; rerun the preprocess stage \\(dvc repro -f preprocess\\)$"


@pytest.fixture
def prepared(small_dataset, tmp_path):
    directory = tmp_path / "prepared"
    prepare(small_dataset[0], directory, *SMALL_SPLIT)
    return directory


def rewrite(prepared, name: str, change) -> None:
    path = prepared / f"{name}.npy"
    np.save(path, change(np.load(path, allow_pickle=False)), allow_pickle=False)


def with_value(index, value):
    def change(array):
        array = array.copy()
        array[index] = value
        return array

    return change


# name -> (change, the message after the file name)
FAULTS = {
    "labels as int64": ("train_y", lambda y: y.astype(np.int64), "dtype int64, expected int32"),
    "features as float64": (
        "test_x",
        lambda x: x.astype(np.float64),
        "dtype float64, expected float32",
    ),
    "features as uint8 (not scaled)": (
        "train_x",
        lambda x: (x * 255).astype(np.uint8),
        "dtype uint8, expected float32",
    ),
    "a label of 10": ("train_y", with_value(7, 10), "labels must be 0-9, found 0 to 10"),
    "a label of -1": ("test_y", with_value(0, -1), "labels must be 0-9, found -1 to 9"),
    "features scaled to 0-255": (
        "train_x",
        lambda x: x * np.float32(255),
        r"features must be in \[0, 1\], found 0.0 to 2\d\d.0",
    ),
    "a NaN feature": (
        "test_x",
        with_value((3, 5), np.nan),
        r"features must be in \[0, 1\], found nan to nan",
    ),
    "no examples": ("test_y", lambda y: y[:0], "holds no examples"),
    "a validation label of 11": ("val_y", with_value(3, 11), "labels must be 0-9, found 0 to 11"),
    "validation features as float16": (
        "val_x",
        lambda x: x.astype(np.float16),
        "dtype float16, expected float32",
    ),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_wrong_prepared_data_is_one_line_naming_the_file(prepared, fault):
    name, change, message = FAULTS[fault]
    rewrite(prepared, name, change)
    with pytest.raises(FmnistError, match=f"^{prepared}/{name}.npy: {message}{RERUN}"):
        load_prepared(prepared)


def test_prepared_data_as_preprocess_writes_it_loads(prepared):
    data = load_prepared(prepared)
    assert data.train_x.dtype == np.float32 and data.train_y.dtype == np.int32
    assert data.train_y.min() == 0 and data.train_y.max() == 9


def test_a_training_stage_refuses_labels_outside_0_9(small_project):
    """Before: exit 0 and `Train acc 0.000000`."""
    project = small_project
    project.dvc("repro", "preprocess")
    rewrite(project.root / "data/prepared", "train_y", with_value(0, 10))
    # --single-item: a plain `dvc repro` would first rerun preprocess, which repairs the file.
    result = project.dvc("repro", "--single-item", "train_scratch", check=False)
    assert result.returncode != 0
    assert (
        "train_scratch: error: data/prepared/train_y.npy: labels must be 0-9, found 0 to "
        "10; rerun the preprocess stage (dvc repro -f preprocess)\n"
    ) in result.stderr
    assert "Traceback" not in result.stderr and "Epoch" not in result.stdout
    assert not (project.root / "models/scratch.params").exists()


@pytest.mark.parametrize("split, size", [("test", 100), ("val", SMALL_SPLIT[0])])
def test_arrays_of_different_lengths_are_one_line(prepared, split, size):
    rewrite(prepared, f"{split}_y", lambda y: y[:-1])
    shapes = re.escape(
        f"{split} arrays have shapes ({size}, 784) and ({size - 1},), expected (N, 784) and (N,)"
    )
    with pytest.raises(FmnistError, match=f"^{prepared}: {shapes}{RERUN}"):
        load_prepared(prepared)
