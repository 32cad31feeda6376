"""Prepared data is checked where every stage reads it (fmnist.prepared.load_prepared): dtypes,
labels 0-9, features in [0, 1]; one line naming the file and what to do."""

import numpy as np
import pytest

from conftest import SMALL_SPLIT
from data_faults import PREPARED_FAULTS
from fmnist import FmnistError
from fmnist.prepared import load_prepared, prepare


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


# case -> (the change, its fault and example in tests/data_faults.py, which names the file)
FAULTS = {
    "labels as int64": (lambda y: y.astype(np.int64), ("array", 0)),
    "features as float64": (lambda x: x.astype(np.float64), ("array", 1)),
    "features as uint8 (not scaled)": (lambda x: (x * 255).astype(np.uint8), ("array", 2)),
    "validation features as float16": (lambda x: x.astype(np.float16), ("array", 3)),
    "features scaled to 0-255": (lambda x: x * np.float32(255), ("array", 4)),
    "a NaN feature": (with_value((3, 5), np.nan), ("array", 5)),
    "no examples": (lambda y: y[:0], ("array", 6)),
    "a label of 10": (with_value(7, 10), ("labels", 0)),
    "a label of -1": (with_value(0, -1), ("labels", 1)),
    "a validation label of 11": (with_value(3, 11), ("labels", 2)),
}


@pytest.mark.parametrize("case", FAULTS)
def test_wrong_prepared_data_is_one_line_naming_the_file(prepared, case):
    change, (fault, example) = FAULTS[case]
    fault = PREPARED_FAULTS[fault]
    rewrite(prepared, fault.examples[example]["name"], change)
    with pytest.raises(FmnistError) as failure:
        load_prepared(prepared)
    assert str(failure.value) == fault.message(example, prepared=prepared)


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
    fault = PREPARED_FAULTS["labels"]  # the doc's example: this stage, this file
    assert f"{fault.prefix}{fault.message(0)}\n" in result.stderr
    assert "Traceback" not in result.stderr and "Epoch" not in result.stdout
    assert not (project.root / "models/scratch.params").exists()


@pytest.mark.parametrize("split, size", [("test", 100), ("val", SMALL_SPLIT[0])])
def test_arrays_of_different_lengths_are_one_line(prepared, split, size):
    rewrite(prepared, f"{split}_y", lambda y: y[:-1])
    with pytest.raises(FmnistError) as failure:
        load_prepared(prepared)
    fault = PREPARED_FAULTS["lengths"]
    example = next(i for i, e in enumerate(fault.examples) if e["split"] == split)
    assert fault.examples[example]["size"] == size
    assert str(failure.value) == fault.message(example, prepared=prepared)
