"""What every stage script shares: one clear error message instead of a traceback, and
SIGINT, SIGTERM and SIGHUP turned into an exception, so that the temporary files of
fmnist.atomic are removed on the way out and no output is left half-written."""
import signal
import sys

from . import FmnistError
from .isa import cpu_flags, missing_isa_warning

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


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


def run_stage(name: str, main) -> None:
    install_stop_handlers()
    if warning := missing_isa_warning(cpu_flags()):
        print(f"{name}: {warning}", file=sys.stderr)
    try:
        main()
    except FmnistError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt as exc:
        signum = exc.signum if isinstance(exc, Stopped) else signal.SIGINT
        print(f"{name}: stopped by {signal.Signals(signum).name} before finishing; no file was "
              "left half-written. Run `dvc repro` to run the stage again.", file=sys.stderr)
        sys.exit(128 + signum)
