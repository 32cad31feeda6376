"""fmnist.guards.forked: work split with a fork of the process, its failures said here."""

import errno
import os

import pytest

from fmnist.guards.forked import run_split


def write_pid(path):
    path.write_text(str(os.getpid()))


def test_every_item_is_done_half_by_a_fork(tmp_path):
    paths = [tmp_path / f"{i}.txt" for i in range(5)]
    run_split(write_pid, paths)
    pids = [int(p.read_text()) for p in paths]
    assert pids[0::2] == [os.getpid()] * 3
    assert len(set(pids[1::2])) == 1 and pids[1] != os.getpid()
    run_split(write_pid, paths[:1])  # one item: no fork
    assert int(paths[0].read_text()) == os.getpid()


def test_the_childs_os_error_is_raised_here_as_the_same_error(tmp_path):
    missing = tmp_path / "no" / "such" / "file.txt"
    with pytest.raises(OSError) as raised:
        run_split(write_pid, [tmp_path / "ok.txt", missing])  # the child gets the second
    assert (raised.value.errno, raised.value.filename) == (errno.ENOENT, str(missing))
    assert (tmp_path / "ok.txt").exists()


def test_any_other_failure_of_the_child_names_it(tmp_path):
    def fail_in_child(item):
        if item == "child":
            raise ValueError("not a picture")

    with pytest.raises(RuntimeError, match="in the forked process: ValueError: not a picture"):
        run_split(fail_in_child, ["here", "child"])
