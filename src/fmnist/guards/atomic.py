"""Every output is written under a temporary name, checked, and renamed into place.

DVC deletes a stage's declared outputs before it runs and keeps whatever the script wrote if
it fails, so a crash, a signal or a full disk must never leave a partial file under a final
name. One mechanism, for every file the project writes:

    with staged_outputs() as stage:
        np.save(stage("data/a.npy"), a)      # write to the path stage() returns:
        write_history(stage("dvclive/b"))    # a file or a whole directory

When the body ends, every staged path is fsynced (a failure raises), then all are renamed into
place together, with the stop signals held back, and their directories fsynced. If anything
fails, even one of the renames, the temporary paths are removed and every final path is left
as it was.
Python's writes raise on any failure, a full disk too; MXNet's writers do not, so the files
they write go through write_checked, which loads them back. An OSError leaves here naming
the final path, for fmnist.guards.stage_runner to report.
"""

import contextlib
import errno
import os
import shutil
import signal
import time
from contextlib import contextmanager
from pathlib import Path

from . import held_inputs

# `.tmp-PID-NAME`: a prefix, so that a writer that takes a prefix (MXNet's export writes
# PREFIX-symbol.json and PREFIX-0000.params) writes the temporary names of both files.
TEMP_PREFIX = ".tmp-"
TEMP_GLOB = f"{TEMP_PREFIX}*"  # what .gitignore ignores and tests look for
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# Test hook, used only by tests/test_interrupt.py: seconds to wait between two renames of a
# commit, so that a test can send a signal while one is under way.
PAUSE_VARIABLE = "FMNIST_TEST_PAUSE_BETWEEN_RENAMES_S"
# MXNet's writers report a failed write as a bare MXNetError or not at all (a full disk left
# a short model and exit 0). A file that does not load back with less free space than this
# is taken for a full disk; the files MXNet writes here are 31 KB.
FULL_BELOW_BYTES = 1 << 20

committed: list[
    str
] = []  # outputs renamed into place so far; fmnist.guards.stage_runner tells the user
pending: set[Path] = set()  # temporary paths being written now, for discard_pending


def temp_path(final: Path, pid: int | None = None) -> Path:
    return final.with_name(f"{TEMP_PREFIX}{pid or os.getpid()}-{final.name}")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _discard(path: Path) -> None:
    """Remove if possible: an append-only directory keeps it (its next run removes it)."""
    with contextlib.suppress(OSError):
        _remove(path)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0))
    try:
        os.fsync(fd)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    finally:
        os.close(fd)


def _sync_tree(path: Path) -> None:
    """Flush a file, or every file and directory under a directory, to the disk."""
    if path.is_dir():
        for root, _, files in os.walk(path):
            for name in files:
                _fsync(Path(root, name))
            _fsync(Path(root))
    else:
        _fsync(path)


def aside_path(final: Path, pid: int | None = None) -> Path:
    """Where an old output waits while the new ones are renamed in: deleted once all are in
    place, or put back if a rename fails."""
    return final.with_name(f"{temp_path(final, pid).name}-old")


class Staged:
    """Outputs staged under temporary names, committed together."""

    def __init__(self):
        self.outputs: list[tuple[Path, Path]] = []  # (temporary, final)
        self.made: list[Path] = []  # directories made for them, deepest first

    def stage(self, final) -> Path:
        final = Path(final)
        missing = final.parent
        while not missing.exists():
            self.made.append(missing)
            missing = missing.parent
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_path(final)
        _remove(tmp)
        self.outputs.append((tmp, final))
        pending.add(tmp)
        return tmp

    def commit(self) -> None:
        held_inputs.check()  # an input edited during the run: keep nothing
        for tmp, _ in self.outputs:
            _sync_tree(tmp)  # also raises if the body wrote nothing there
        with stop_signals_held():
            old = self._rename_all()
            for directory in {final.parent for _, final in self.outputs}:
                _fsync(directory)
            committed.extend(str(final) for _, final in self.outputs)
            for path in old:
                _discard(path)

    def _rename_all(self) -> list[Path]:
        """Every new output into place, or none: if a rename fails (an immutable file, an
        append-only directory), those done are undone. Returns the old outputs, set aside."""
        pause = float(os.environ.get(PAUSE_VARIABLE, 0))
        done = []  # (temporary, final, where the old final went or None)
        try:
            for tmp, final in self.outputs:
                if done and pause:
                    time.sleep(pause)
                aside = aside_path(final) if os.path.lexists(final) else None
                if aside:
                    os.replace(final, aside)
                done.append((tmp, final, aside))
                os.replace(tmp, final)
        except OSError:
            for tmp, final, aside in reversed(done):
                if not os.path.lexists(tmp):  # the new output is in place: back out
                    os.replace(final, tmp)
                if aside:
                    os.replace(aside, final)
            raise
        return [aside for _, _, aside in done if aside]

    def clean_up(self) -> None:
        """The temporaries, and the directories made for outputs that stayed empty (a
        failed stage leaves no trace, not even models/gluon-export/)."""
        for tmp, _ in self.outputs:
            _discard(tmp)
            pending.discard(tmp)
        for directory in self.made:
            with contextlib.suppress(OSError):  # not empty: it holds an output now
                directory.rmdir()

    def explain(self, exc: OSError) -> OSError:
        """Point an OSError at the output the user knows, not at our temporary name. Errors
        of a plain write() name no file: they are the output being written, the last staged.
        Some writers raise OSError without an errno (numpy's tofile: "N requested and M
        written"): what the file system says decides whether the disk is full."""
        if self.outputs and exc.filename is None:
            writing = self.outputs[-1][1]
            if exc.errno is None:
                return _write_failure(writing, str(exc))
            exc.filename = str(writing)
        for tmp, final in self.outputs:
            for ours in (tmp, aside_path(final)):
                for attr in ("filename", "filename2"):
                    name = getattr(exc, attr)
                    if isinstance(name, str) and Path(name).is_relative_to(ours):
                        setattr(exc, attr, str(final / Path(name).relative_to(ours)))
        if exc.filename2 == exc.filename:
            exc.filename2 = None
        return exc


def discard_pending() -> None:
    """Remove the temporary paths of outputs still being written: for a process about to
    end at once (os._exit), whose clean-up code will not run."""
    for tmp in list(pending):
        _discard(tmp)


@contextmanager
def staged_outputs():
    """Yield stage(final) -> temporary path; see the module's docstring."""
    staged = Staged()
    try:
        yield staged.stage
        staged.commit()
    except OSError as exc:
        raise staged.explain(exc) from None
    finally:
        staged.clean_up()


@contextmanager
def stop_signals_held():
    """SIGINT, SIGTERM and SIGHUP wait until the block has run, then act as they would have.

    Not signal.pthread_sigmask: that blocks the calling thread only, the kernel hands the
    signal to one of MXNet's engine threads, and Python then runs the handler in the main
    thread at once (tried: a KeyboardInterrupt inside the blocked section)."""
    held = []
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    for sig, handler in previous.items():
        if handler is not signal.SIG_IGN:  # nohup and `cmd &` ignore some: keep that
            signal.signal(sig, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if held:
            signal.raise_signal(held[0])


def _write_failure(path: Path, why: str) -> OSError:
    """A write that failed without an errno: a full disk, if the file system says so."""
    stats = os.statvfs(path.parent)
    free = (stats.f_bfree if os.geteuid() == 0 else stats.f_bavail) * stats.f_frsize
    if free < FULL_BELOW_BYTES:
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    return OSError(errno.EIO, why, str(path))


def _last_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[-1]


def write_checked(write, checks: dict) -> None:
    """write() makes the files in checks ({path: check(path)}) with a writer that fails
    silently or with an exception that names no errno (MXNet's): make any failure an OSError.

    The files are created here first, so that a place that cannot be written (read-only,
    immutable, missing) raises its own OSError; after write(), each is loaded back."""
    for path in checks:
        open(path, "wb").close()
    try:
        write()
        failure = None
    except Exception as exc:  # MXNetError: a C++ traceback whose last line says what failed
        failure = f"MXNet could not write it ({_last_line(exc)})"
    for path, check in checks.items():
        try:
            check(path)
        except Exception as exc:
            why = failure or f"it does not load back ({_last_line(exc)})"
            raise _write_failure(Path(path), why) from None
    if failure:
        raise _write_failure(Path(next(iter(checks))), failure)


@contextmanager
def atomic_path(final):
    """One output: yield its temporary path; on success it replaces `final`."""
    with staged_outputs() as stage:
        yield stage(final)


def write_bytes_atomic(final, data: bytes) -> None:
    with atomic_path(final) as tmp:
        tmp.write_bytes(data)  # Python's writes raise on any failure, also a full disk


def write_text_atomic(final, text: str) -> None:
    write_bytes_atomic(final, text.encode("utf-8"))


def withdraw_committed() -> None:
    """Remove the outputs committed so far: they came from inputs that changed."""
    for final in committed:
        _discard(Path(final))
    committed.clear()


def remove_stale_temporaries(*finals) -> list[Path]:
    """The temporary paths of finals left by processes that are gone (a SIGKILL leaves
    them): remove them; those of a live process are its work. Returns what was removed.
    A final may also be a prefix: models/gluon stands for models/gluon-symbol.json and
    models/gluon-0000.params (MXNet's export; the stage knows the prefix, not the names)."""
    removed = []
    for final in map(Path, finals):
        for tmp in final.parent.glob(TEMP_GLOB):
            pid, _, name = tmp.name.removeprefix(TEMP_PREFIX).partition("-")
            ours = name == final.name or name.startswith(f"{final.name}-")
            if ours and pid.isdigit() and not _alive(int(pid)):
                _remove(tmp)
                removed.append(tmp)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True
