"""What every stage script shares: one clear error line instead of a traceback, and
SIGTERM handled like Ctrl-C so temporary files are cleaned up before exit."""
import signal
import sys


class Terminated(KeyboardInterrupt):
    pass


def _on_sigterm(signum, frame):
    raise Terminated()


def run_stage(name: str, main) -> None:
    from . import FmnistError

    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        main()
    except FmnistError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt as exc:
        why = "terminated" if isinstance(exc, Terminated) else "interrupted"
        print(f"{name}: {why}; no output was written, rerun with `dvc repro`", file=sys.stderr)
        sys.exit(143 if isinstance(exc, Terminated) else 130)
