"""What every stage script shares: one clear error message instead of a traceback, and
SIGINT, SIGTERM and SIGHUP turned into an exception, so that the temporary files of
fmnist.atomic are removed on the way out and no output is left half-written."""
import argparse
import signal
import sys
import textwrap

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


def stage_parser(stage: str, description: str, settings: str) -> argparse.ArgumentParser:
    """A stage script's command line. Its flags are paths, which dvc.yaml passes; settings
    come from params.yaml only, never from flags, so that DVC tracks every one of them.
    `settings` says which: "the fetch section", "none", ..."""
    settings = (f"Settings from params.yaml: {settings}. Like every stage it first validates "
                "the whole file and stops with one line naming a bad key (the comments in "
                "params.yaml say what each key does). Every flag is a path and required.")
    epilog = (textwrap.fill(settings, 78) + "\n\nRun it the DVC way (dvc.yaml passes every "
              f"flag, and reruns it when its inputs change):\n  dvc repro {stage}")
    return argparse.ArgumentParser(prog=f"stages/{stage}.py", description=description,
                                   epilog=epilog,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
