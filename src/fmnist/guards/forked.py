"""Work split between this process and a fork of it: a stage that runs alone on a machine of
two cores or more, with independent pieces of work (render's pictures: 0.1-0.3 s each, one
core each), takes about half the time.

The child is a fork, so it has everything in memory already and nothing is sent to it. It
does every other item, ends with os._exit, and says a failure on a pipe as JSON: an OSError
is raised again here as the same OSError (errno, text, file name), so that the stage says it
in its usual one line; anything else as a RuntimeError naming it."""

import ctypes
import json
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """A parent killed outright (SIGKILL: no chance to stop its children) must not leave a
    child behind: Linux then kills the child too."""
    if sys.platform == "linux":
        parent = os.getppid()
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # it died before the line above took effect
            os._exit(1)


def run_split(work, items: list) -> None:
    """work(item) for every item: items[1::2] in a forked child, items[0::2] here."""
    if len(items) < 2:
        for item in items:
            work(item)
        return
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(reader)
        _run_child(work, items[1::2], writer)
    os.close(writer)
    try:
        for item in items[0::2]:
            work(item)
    finally:
        with os.fdopen(reader, "rb") as said:
            failure = said.read()
        os.waitpid(pid, 0)
    if failure:
        raise _failure(json.loads(failure))


def _run_child(work, items: list, writer: int) -> None:
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)  # a stop ends it at once; the parent says why
    die_with_parent()
    said = None
    try:
        for item in items:
            work(item)
    except OSError as exc:
        filename = None if exc.filename is None else str(exc.filename)
        said = {"errno": exc.errno, "strerror": exc.strerror, "filename": filename}
    except BaseException as exc:  # noqa: BLE001 - whatever it is, the parent says it
        said = {"error": f"{type(exc).__name__}: {exc}"}
    if said is not None:
        os.write(writer, json.dumps(said).encode())
    os._exit(0 if said is None else 1)


def _failure(said: dict) -> Exception:
    if "error" in said:
        return RuntimeError(f"in the forked process: {said['error']}")
    if said["errno"] is None:
        return OSError(said["strerror"])
    return OSError(said["errno"], said["strerror"], said["filename"])
