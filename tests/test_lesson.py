"""The lesson a student runs: `python -m fmnist.lesson` on prepared data trains both models
and prints the tutorial's epoch lines; the Python blocks of docs/lesson.md run as written."""

import re
import subprocess
import sys

import pytest
from markdown_it import MarkdownIt

from conftest import PROJECT, SMALL_SPLIT, write_dataset
from fmnist.prepared import prepare

EPOCH_LINE = re.compile(
    r"Epoch (\d+)\. Loss: \d+\.\d{6}, Train acc [01]\.\d{6}, Val loss \d+\.\d{6}, "
    r"Val acc [01]\.\d{6} \(\d+\.\d{3} s, [\d,]+ samples/s\)"
)
LESSON_DOC = PROJECT / "docs/lesson.md"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A directory whose data/prepared holds a small generated dataset, as preprocess writes
    it: 600 training images, of which 540 train (the tutorial's batches are 256)."""
    directory = tmp_path_factory.mktemp("lesson")
    write_dataset(directory / "raw", n_train=600, n_test=100)
    prepare(directory / "raw", directory / "data/prepared", *SMALL_SPLIT)
    return directory


def run_python(*args, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_the_lesson_trains_both_models_with_the_tutorials_lines(workdir):
    result = run_python("-m", "fmnist.lesson", cwd=workdir)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "From scratch:" and lines[6] == "With Gluon:", result.stdout
    for model_lines in (lines[1:6], lines[7:12]):
        epochs = [EPOCH_LINE.fullmatch(line) for line in model_lines]
        assert all(epochs) and [int(m[1]) for m in epochs] == [1, 2, 3, 4, 5], result.stdout
    assert len(lines) == 12


def test_without_prepared_data_the_lesson_says_what_to_run(tmp_path):
    result = run_python("-m", "fmnist.lesson", cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == (
        "python -m fmnist.lesson: data/prepared: no prepared arrays (data/prepared/train_x.npy "
        "is missing); run `dvc repro preprocess` in the repository first, or give their "
        "directory: python -m fmnist.lesson DIR\n"
    )


def test_a_batch_larger_than_the_training_set_is_one_line(small_dataset, tmp_path):
    prepare(small_dataset[0], tmp_path / "prepared", *SMALL_SPLIT)  # 240 training images
    result = run_python("-m", "fmnist.lesson", str(tmp_path / "prepared"), cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr == (
        "python -m fmnist.lesson: batch_size must be at most 240, the size of the training "
        "set, got 256; a larger batch would be the whole set, one step per epoch\n"
    )


def python_blocks(text: str) -> list[str]:
    return [
        token.content
        for token in MarkdownIt("commonmark").parse(text)
        if token.type == "fence" and token.info.strip() == "python"
    ]


def test_the_python_blocks_of_the_lesson_doc_run(workdir):
    blocks = python_blocks(LESSON_DOC.read_text())
    assert blocks, "docs/lesson.md shows no Python block"
    for block in blocks:
        result = run_python("-c", block, cwd=workdir)
        assert result.returncode == 0, f"{block}\n{result.stderr}"
        assert EPOCH_LINE.search(result.stdout), result.stdout


def test_the_lesson_doc_names_the_command_and_the_tutorials_own_loop():
    text = LESSON_DOC.read_text()
    assert "python -m fmnist.lesson" in text
    assert "src/fmnist/bench.py: time_tutorial" in text
    assert "def time_tutorial(" in (PROJECT / "src/fmnist/bench.py").read_text()
