"""fmnist.guards.bounded_files: the one reader of params.yaml, dvc.yaml (held_inputs) and
model files. A FIFO, a device, a directory or a file over the bound is refused without
blocking and without reading it; a regular file up to the bound is read whole."""

import os
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fmnist.guards.bounded_files import NotRegularFile, TooLarge, read_bounded

LIMIT = 64


@settings(max_examples=40, deadline=None)
@given(size=st.integers(min_value=0, max_value=3 * LIMIT))
def test_a_regular_file_is_read_whole_up_to_the_bound_and_refused_past_it(tmp_path_factory, size):
    path = tmp_path_factory.mktemp("bounded") / "file"
    data = os.urandom(size)
    path.write_bytes(data)
    if size <= LIMIT:
        assert read_bounded(path, LIMIT) == data
    else:
        with pytest.raises(TooLarge) as refused:
            read_bounded(path, LIMIT)
        assert refused.value.size == size


@pytest.mark.parametrize(
    "make, kind",
    [
        (lambda path: os.mkfifo(path), "a FIFO"),
        (lambda path: os.mkdir(path), "a directory"),
        (lambda path: os.symlink("/dev/zero", path), "a character device"),
    ],
    ids=["fifo", "directory", "dev-zero"],
)
def test_what_is_not_a_regular_file_is_refused_without_blocking(tmp_path, make, kind):
    path = tmp_path / "settings"
    make(path)
    outcome = []
    reader = threading.Thread(target=lambda: outcome.append(refusal(path)), daemon=True)
    reader.start()
    reader.join(timeout=10)
    assert outcome == [kind], "the read blocked or was not refused"


def refusal(path) -> str | None:
    try:
        read_bounded(path, LIMIT)
    except NotRegularFile as exc:
        return exc.kind
    return None


def test_a_missing_file_is_file_not_found_and_every_refusal_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_bounded(tmp_path / "missing", LIMIT)
    assert issubclass(NotRegularFile, OSError) and issubclass(TooLarge, OSError)
