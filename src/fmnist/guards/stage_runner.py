"""What every stage script shares: one clear line instead of a traceback (for the project's
own errors and for the operating system's: a full disk, a read-only or immutable file, a
missing directory), and SIGINT, SIGTERM and SIGHUP turned into an exception, so that the
temporary files of fmnist.guards.atomic are removed on the way out and no output is left
half-written."""

import argparse
import errno
import fcntl
import os
import re
import signal
import struct
import sys
import textwrap
import threading
import time

from . import FmnistError, atomic, held_inputs
from .cpu import cpu_flags, missing_isa_warning, override_notice

STOP_SIGNALS = atomic.STOP_SIGNALS
# How long a stop signal's Python handler gets to start before the watchdog ends the process:
# it runs only between two Python instructions of the main thread, so never during a native
# call that does not return (onnxruntime running a model's endless Loop).
STOP_GRACE_S = 1.0
RERUN = "run the stage again (dvc repro)"


def shown(text, limit: int | None = 200) -> str:
    """Untrusted text (what a server sent, a file name) as part of one line on a terminal:
    no line break, no control or escape sequence (each becomes ?), no undecodable byte."""
    text = "".join(c if c.isprintable() else "?" for c in " ".join(str(text).split()))
    return text if limit is None or len(text) <= limit else text[:limit] + "..."


class Stopped(KeyboardInterrupt):
    """Raised by a stop signal; a KeyboardInterrupt so that nothing on the way catches it."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _on_stop_signal(signum, frame):
    # Further signals would interrupt the clean-up this exception starts: ignore them.
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    raise Stopped(signum)


def install_stop_handlers() -> None:
    for sig in STOP_SIGNALS:
        if signal.getsignal(sig) is not signal.SIG_IGN:  # respect nohup and `cmd &`
            signal.signal(sig, _on_stop_signal)


def start_stop_watchdog(name: str) -> None:
    """Python's C-level handler writes each signal's number to the wakeup fd at once, also
    while the main thread is in native code; a thread reading it can end the process."""
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    threading.Thread(target=_watch_stop_signals, args=(name, read_end), daemon=True).start()


def _watch_stop_signals(name: str, wakeup: int) -> None:
    while True:
        signum = os.read(wakeup, 1)[0]
        if signum not in STOP_SIGNALS:
            continue
        time.sleep(STOP_GRACE_S)
        # Still our handler: it has not run. Another one (SIG_IGN once ours ran, or
        # atomic's, holding the signal during a commit) means the main thread is in Python.
        if signal.getsignal(signum) is _on_stop_signal:
            _end_now(name, signum)


def end_on_a_swallowed_stop(name: str) -> None:
    """Python drops an exception raised inside a finalizer (an MXNet array's __del__, run
    by the garbage collector at any instruction), handing it only to sys.unraisablehook.
    A stop signal's would be lost, with the signals ignored by then: end the stage here
    instead of training on."""

    def hook(unraisable):
        if isinstance(unraisable.exc_value, Stopped):
            _end_now(name, unraisable.exc_value.signum)
        sys.__unraisablehook__(unraisable)

    sys.unraisablehook = hook


def _end_now(name: str, signum: int) -> None:
    """The stage's own stop line and exit status, without waiting for the main thread."""
    atomic.discard_pending()
    os.write(sys.stderr.fileno(), (stopped_message(name, signum) + "\n").encode())
    os._exit(128 + signum)


def mount_point(path) -> str:
    """The mount point path is under; from the mount table, as os.path.ismount does not see
    a bind mount of a directory of the same file system."""
    path = os.path.realpath(path)
    try:
        with open("/proc/self/mounts") as table:  # device, mount point (\040 for ' '), ...
            points = [
                re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), line.split()[1])
                for line in table
            ]
    except OSError:
        points = ["/"]
    return max((p for p in points if os.path.commonpath((p, path)) == p), key=len, default="/")


FS_IOC_GETFLAGS = 0x80086601  # from linux/fs.h, as lsattr reads them
FS_IMMUTABLE_FL, FS_APPEND_FL = 0x10, 0x20


def locked_by_attribute(path) -> str | None:
    """path or its directory, if `chattr +i` or `+a` forbids the change: root is refused
    there too, with the same EPERM a missing permission gives."""
    for candidate in (path, os.path.dirname(path) or "."):
        try:
            fd = os.open(candidate, os.O_RDONLY | os.O_NONBLOCK)
            try:
                flags = struct.unpack("i", fcntl.ioctl(fd, FS_IOC_GETFLAGS, b"\0" * 4))[0]
            finally:
                os.close(fd)
        except OSError:
            continue
        if flags & (FS_IMMUTABLE_FL | FS_APPEND_FL):
            return candidate
    return None


def os_error_message(exc: OSError) -> str:
    """`PATH: what the system said (why, where it can be told); what to do`."""
    path = exc.filename if exc.filename is not None else "."
    said = exc.strerror or str(exc)
    if exc.filename2:
        said += f" (replacing {exc.filename2})"
    code = exc.errno
    if code in (errno.ENOSPC, errno.EDQUOT):
        mount = mount_point(path)
        why = f"the disk is full: the file system mounted at {mount}"
        todo = f"free some space there (`df -h {mount}`) and {RERUN}"
    elif code == errno.EROFS:
        why = f"{mount_point(path)} is mounted read-only"
        todo = f"remount it read-write, or work in a writable copy of the project, and {RERUN}"
    elif code in (errno.EPERM, errno.EACCES) and (locked := locked_by_attribute(path)):
        why = f"{locked} is immutable or append-only: `lsattr -d {locked}` shows i or a"
        todo = f"remove the flag with `chattr -ia {locked}` and {RERUN}"
    elif code in (errno.EPERM, errno.EACCES):
        why = "this user may not read or change it"
        todo = f"check the owner and mode of it and its directory (`ls -ld`), fix them and {RERUN}"
    elif code == errno.ENOENT:
        why = "no such file or directory"
        todo = "check the path; if an earlier stage makes it, run that stage first (dvc repro)"
    elif code in (errno.ENOTDIR, errno.EEXIST):
        why = "a file stands where a directory is needed"
        todo = f"move it away and {RERUN}"
    elif code == errno.EISDIR:
        why = "a directory stands where a file is needed"
        todo = f"move it away and {RERUN}"
    else:
        return f"{path}: {said}; fix the cause and {RERUN}"
    if why.lower() == said.lower():
        return f"{path}: {said}; {todo}"
    return f"{path}: {said} ({why}); {todo}"


def stopped_message(name: str, signum: int) -> str:
    """True whatever the signal interrupted: written outputs are whole, and named."""
    signame = signal.Signals(signum).name
    if not atomic.committed:
        return (
            f"{name}: stopped by {signame} before finishing; no file was left "
            "half-written. Run `dvc repro` to run the stage again."
        )
    return (
        f"{name}: stopped by {signame} after it had written {', '.join(atomic.committed)} "
        "(whole files), but DVC records no run of a stopped stage. Run `dvc repro` to run "
        "the stage again."
    )


def run_stage(name: str, main, skip_exit_handlers: bool = False) -> None:
    """skip_exit_handlers: once main() has committed its outputs and the inputs were held,
    end at once (os._exit), output flushed: MXNet's exit handlers (its engine's shutdown)
    took 0.2-0.3 s of each training stage. Not for a dist_sync worker, whose exit tells the
    parameter server it is done."""
    install_stop_handlers()
    start_stop_watchdog(name)
    end_on_a_swallowed_stop(name)
    for line in (missing_isa_warning(cpu_flags()), override_notice()):
        if line:
            print(f"{name}: {line}", file=sys.stderr)
    try:
        held_inputs.hold(name)
        main()
        inputs_held_still()
        if skip_exit_handlers:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
    except FmnistError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        sys.exit(1)
    except OSError as exc:
        print(f"{name}: error: {os_error_message(exc)}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt as exc:
        signum = exc.signum if isinstance(exc, Stopped) else signal.SIGINT
        print(stopped_message(name, signum), file=sys.stderr)
        sys.exit(128 + signum)


def inputs_held_still() -> None:
    """The last check, as the stage ends: outputs committed from changed inputs go."""
    try:
        held_inputs.check()
    except FmnistError:
        atomic.withdraw_committed()
        raise


def stage_parser(
    stage: str, description: str, settings: str, flags: dict | None = None
) -> argparse.ArgumentParser:
    """A stage script's command line. Its flags are paths, which dvc.yaml passes; settings
    come from params.yaml only, never from flags, so that DVC tracks every one of them.
    `settings` says which: "the fetch section", "none", ... flags: {flag: (metavar, help)},
    each required."""
    settings = (
        f"Settings from params.yaml: {settings}. Like every stage it first validates "
        "the whole file and stops with one line naming a bad key (the comments in "
        "params.yaml say what each key does). Every flag is a path and required."
    )
    epilog = (
        textwrap.fill(settings, 78) + "\n\nRun it the DVC way (dvc.yaml passes every "
        f"flag, and reruns it when its inputs change):\n  dvc repro {stage}"
    )
    parser = argparse.ArgumentParser(
        prog=f"stages/{stage}.py",
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for flag, (metavar, text) in (flags or {}).items():
        parser.add_argument(flag, required=True, metavar=metavar, help=text)
    return parser


def positive_int(text: str) -> int:
    """A benchmark's count of epochs or rounds: 0 would time nothing, and the medians need
    one value."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value
