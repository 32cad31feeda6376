"""Outputs appear whole or not at all, also when a stage is stopped by a signal."""

import signal
import subprocess
import sys

import pytest

from conftest import PROJECT
from fmnist.guards.atomic import TEMP_GLOB, atomic_path, stop_signals_held, write_text_atomic
from stage_faults import STOP_FAULTS


def leftovers(directory):
    return list(directory.glob(TEMP_GLOB))


def test_a_file_is_replaced_whole(tmp_path):
    final = tmp_path / "out/metrics.json"
    write_text_atomic(final, "old")
    write_text_atomic(final, "new")
    assert final.read_text() == "new" and not leftovers(final.parent)


@pytest.mark.parametrize("fault", [RuntimeError, KeyboardInterrupt])
def test_a_failure_inside_leaves_the_old_output_and_no_temporary_file(tmp_path, fault):
    final = tmp_path / "model.params"
    final.write_text("old")
    with pytest.raises(fault), atomic_path(final) as tmp:
        tmp.write_text("half")
        raise fault()
    assert final.read_text() == "old" and not leftovers(tmp_path)


@pytest.mark.parametrize("old_is_dir", [True, False])
@pytest.mark.parametrize("new_is_dir", [True, False])
def test_files_and_directories_replace_each_other(tmp_path, old_is_dir, new_is_dir):
    final = tmp_path / "raw"
    if old_is_dir:
        final.mkdir()
        (final / "stale.gz").write_text("stale")
    else:
        final.write_text("stale")
    with atomic_path(final) as tmp:
        if new_is_dir:
            tmp.mkdir()
            (tmp / "fresh.gz").write_text("fresh")
        else:
            tmp.write_text("fresh")
    assert (final / "fresh.gz" if new_is_dir else final).read_text() == "fresh"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]


def test_a_stop_signal_in_a_held_block_acts_when_the_block_ends():
    ran = []
    # Python's own SIGINT handler, run after the block.
    with pytest.raises(KeyboardInterrupt), stop_signals_held():
        signal.raise_signal(signal.SIGINT)
        ran.append("the rest of the block")
    assert ran == ["the rest of the block"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# A stage that is stopped while it writes its output.
STAGE = """
import sys, time
from fmnist.guards.atomic import atomic_path
from fmnist.guards.stage_runner import run_stage
from fmnist import FmnistError

class SlowToFree:
    def __del__(self):
        time.sleep(0.05)

def main():
    if sys.argv[2] == "error":
        raise FmnistError("the input is bad; fix it")
    with atomic_path(sys.argv[1]) as tmp:
        tmp.write_text("half of it")
        print("writing", flush=True)
        if sys.argv[2] == "freeing":  # the signal comes while a finalizer runs
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                SlowToFree()
        time.sleep(60)

run_stage("demo", main)
"""


def start_stage(final, mode="write", **popen):
    process = subprocess.Popen(
        [sys.executable, "-c", STAGE, str(final), mode],
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )
    if mode != "error":
        assert process.stdout.readline() == "writing\n"
    return process


@pytest.mark.parametrize("mode", ["write", "freeing"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_stops_the_stage_cleanly(tmp_path, signum, mode):
    """Also when it comes during a finalizer, where Python drops the exception it raises."""
    final = tmp_path / "model.params"
    final.write_text("old")
    process = start_stage(final, mode)
    try:
        process.send_signal(signum)
        _, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 128 + signum
    fault = STOP_FAULTS["stopped" if mode == "write" else "in a finalizer"]
    assert err == fault.message(stage="demo", signal=signal.Signals(signum).name) + "\n"
    assert final.read_text() == "old" and not leftovers(tmp_path)


def test_a_signal_ignored_by_the_caller_stays_ignored(tmp_path):
    """Under nohup (SIGHUP ignored) the stage keeps running when the terminal goes away."""
    final = tmp_path / "model.params"
    process = start_stage(final, preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    try:
        process.send_signal(signal.SIGHUP)
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(timeout=0.5)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 128 + signal.SIGTERM and "stopped by SIGTERM" in err
    assert not final.exists() and not leftovers(tmp_path)


def test_an_error_is_one_message_without_traceback(tmp_path):
    process = start_stage(tmp_path / "out", mode="error")
    _, err = process.communicate(timeout=30)
    assert process.returncode == 1
    assert err == "demo: error: the input is bad; fix it\n"
