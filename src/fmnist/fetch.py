"""Fetch the four Fashion-MNIST files from the first mirror that has all of them intact.

A mirror is a local directory or an http(s) base URL. Checksums are taken over the
decompressed bytes because Debian's package recompresses the .gz files.
"""
import hashlib
import http.client
import shutil
import socket
import sys
import urllib.error
import urllib.request
from pathlib import Path

from . import FmnistError
from .atomic import atomic_path
from .idx import IdxError, read_gz_bounded
from .params import DATA_FILES, FetchParams

# The largest file, train-images, is 47,040,016 bytes decompressed and ~26 MB compressed.
MAX_FILE_BYTES = 64 * 2**20
OFFLINE_HINT = ("Offline source: Debian/Ubuntu's package dataset-fashion-mnist "
                "(apt-get install dataset-fashion-mnist) puts the files in "
                "/usr/share/datasets/fashion-mnist.")


class MirrorError(FmnistError):
    """This mirror cannot be used; the next one is tried."""


class FetchError(FmnistError):
    pass


def is_url(mirror: str) -> bool:
    return mirror.startswith(("http://", "https://"))


class Progress:
    """A live bar on a terminal; in logs (DVC, CI) one line per quarter, so they stay short."""

    def __init__(self, name: str, total):
        self.name, self.total = name, total
        self.tty = sys.stderr.isatty()
        self.shown = -1

    def update(self, done: int) -> None:
        if self.total:
            step = int(4 * done / self.total)
            text = f"  {self.name}: {done / 1e6:6.1f} / {self.total / 1e6:.1f} MB {done / self.total:4.0%}"
        else:
            step = done // (8 * 2**20)
            text = f"  {self.name}: {done / 1e6:6.1f} MB"
        if self.tty:
            sys.stderr.write("\r" + text)
        elif step != self.shown:
            sys.stderr.write(text + "\n")
        self.shown = step
        sys.stderr.flush()

    def close(self) -> None:
        if self.tty:
            sys.stderr.write("\n")


def download(url: str, dest: Path, timeout_s: float) -> None:
    """Stream url into dest with a progress bar; any network fault becomes a MirrorError."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response, open(dest, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            progress = Progress(url.rsplit("/", 1)[-1], total)
            done = 0
            while chunk := response.read(1 << 16):
                done += len(chunk)
                if done > MAX_FILE_BYTES:
                    raise MirrorError(f"{url}: more than {MAX_FILE_BYTES} bytes, "
                                      "not a Fashion-MNIST file")
                out.write(chunk)
                progress.update(done)
            progress.close()
            if total and done != total:
                raise MirrorError(f"{url}: got {done} of {total} bytes (connection closed early)")
    except urllib.error.HTTPError as exc:
        raise MirrorError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        reason = "timed out" if isinstance(exc.reason, socket.timeout) else exc.reason
        raise MirrorError(f"{url}: cannot connect ({reason})") from None
    except (socket.timeout, TimeoutError):
        raise MirrorError(f"{url}: no data for {timeout_s:g} s (timed out)") from None
    except http.client.HTTPException as exc:
        raise MirrorError(f"{url}: broken HTTP response ({exc!r})") from None
    except OSError as exc:
        raise MirrorError(f"{url}: {exc}") from None


def _get(mirror: str, filename: str, dest: Path, timeout_s: float) -> None:
    if is_url(mirror):
        download(mirror.rstrip("/") + "/" + filename, dest, timeout_s)
        return
    source = Path(mirror) / filename
    if not source.is_file():
        raise MirrorError(f"{source}: no such file")
    shutil.copyfile(source, dest)


def verify(path: Path, expected_sha256: str) -> None:
    try:
        data = read_gz_bounded(path, MAX_FILE_BYTES)
    except IdxError as exc:
        raise MirrorError(str(exc).replace("; delete it and fetch again", "")) from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected_sha256:
        raise MirrorError(f"{path.name}: sha256 of the decompressed bytes is {digest[:12]}..., "
                          f"expected {expected_sha256[:12]}...")


def fetch_from_mirror(mirror: str, params: FetchParams, staging: Path) -> None:
    staging.mkdir(parents=True)
    for base in DATA_FILES:
        filename = base + ".gz"
        _get(mirror, filename, staging / filename, params.timeout_s)
        verify(staging / filename, params.sha256[base])


def fetch(params: FetchParams, raw_dir) -> str:
    """Fill raw_dir from the first good mirror and return it; raw_dir appears whole or not at all."""
    failures = []
    for mirror in params.mirrors:
        print(f"fetch: trying {mirror}", file=sys.stderr)
        try:
            with atomic_path(raw_dir) as staging:
                fetch_from_mirror(mirror, params, staging)
            return mirror
        except MirrorError as exc:
            print(f"fetch: skipped {mirror}: {exc}", file=sys.stderr)
            failures.append((mirror, str(exc)))
    lines = "\n".join(f"  - {m}: {why}" for m, why in failures)
    raise FetchError(f"no mirror has all four files intact:\n{lines}\n{OFFLINE_HINT}")
