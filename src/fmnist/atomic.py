"""Write outputs under a temporary name and rename at the end.

DVC deletes a stage's declared outputs before it runs and keeps whatever the
script wrote if it fails, so a crash or a signal must never leave a
half-written file under the final name.
"""
import os
import shutil
from contextlib import contextmanager
from pathlib import Path


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextmanager
def atomic_path(final):
    """Yield a temporary sibling path; on success it replaces `final` (file or directory).

    If the body raises (an error, Ctrl-C, SIGTERM through fmnist.cli), the temporary path
    is removed and `final` is left as it was."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    _remove(tmp)
    try:
        yield tmp
        # os.replace swaps a file for a file atomically; a directory must go first.
        if tmp.is_dir() or (final.is_dir() and not final.is_symlink()):
            _remove(final)
        os.replace(tmp, final)
    finally:
        _remove(tmp)


def write_bytes_atomic(final, data: bytes) -> None:
    with atomic_path(final) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(final, text: str) -> None:
    write_bytes_atomic(final, text.encode("utf-8"))
