"""Fetch the four Fashion-MNIST files from the first mirror that has all of them intact.

A mirror is a local directory or an http(s) base URL; nothing else is read, not even
through a redirect. Checksums are taken over the decompressed bytes because Debian's
package recompresses the .gz files. The four files are collected and verified in a
temporary directory that replaces raw_dir only when all of them pass: raw_dir never holds a
partial or unverified file, and a failed fetch leaves an existing raw_dir as it was.
"""
import http.client
import sys
import urllib.error
import urllib.request
from pathlib import Path

from . import FmnistError
from .atomic import atomic_path
from .idx import IdxError, gz_sha256, kind_of
from .params import DATA_FILES, FetchParams, mirror_kind

# gzip can make incompressible data slightly larger; anything beyond this is not our file.
GZIP_SLACK_BYTES = 2**20
OFFLINE_HINT = ("Offline source: Debian/Ubuntu's package dataset-fashion-mnist "
                "(apt-get install dataset-fashion-mnist) puts the files in "
                "/usr/share/datasets/fashion-mnist; list that directory first in "
                "fetch.mirrors in params.yaml.")


class MirrorError(FmnistError):
    """This mirror cannot be used; the next one is tried."""


class FetchError(FmnistError):
    pass


class LocalWriteError(Exception):
    """Writing a fetched file here failed (a full disk): the fault is local, not the mirror's,
    so the fetch stops. Not an OSError, so that download() does not take it for a network
    fault; fetch_file raises the OSError it carries again, for fmnist.cli to report."""

    def __init__(self, error: OSError):
        super().__init__(error)
        self.error = error


def write_local(out, data: bytes) -> None:
    try:
        out.write(data)
        out.flush()  # now, not in a close() inside download()'s network error handling
    except OSError as exc:
        exc.filename = exc.filename or str(out.name)
        raise LocalWriteError(exc) from None


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


class HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """urllib also follows redirects to ftp://; a mirror may only lead to http(s)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if mirror_kind(newurl) != "url":
            fp.close()
            raise MirrorError(f"redirected to {newurl}; only http:// and https:// are followed")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


OPENER = urllib.request.build_opener(HttpOnlyRedirects)


def _stream(response, out, max_bytes: int) -> None:
    total = int(response.headers.get("Content-Length") or 0) or None
    progress = Progress(response.url.rsplit("/", 1)[-1], total)
    done = 0
    while chunk := response.read(1 << 16):
        done += len(chunk)
        if done > max_bytes:
            raise MirrorError(f"more than {max_bytes} bytes, not a Fashion-MNIST file")
        write_local(out, chunk)
        progress.update(done)
    progress.close()
    if total and done != total:
        raise MirrorError(f"got {done} of {total} bytes (the connection closed early)")


def download(url: str, dest: Path, timeout_s: float, max_bytes: int) -> None:
    """Stream url into dest; any network fault becomes a MirrorError. timeout_s bounds
    the connection and every wait for data, so a server that stalls ends the mirror."""
    try:
        with OPENER.open(url, timeout=timeout_s) as response, open(dest, "wb") as out:
            _stream(response, out, max_bytes)
    except urllib.error.HTTPError as exc:
        raise MirrorError(f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        timed_out = isinstance(exc.reason, TimeoutError)
        why = f"no answer within {timeout_s:g} s" if timed_out else exc.reason
        raise MirrorError(f"cannot connect ({why})") from None
    except TimeoutError:
        raise MirrorError(f"no data for {timeout_s:g} s (timed out)") from None
    except http.client.HTTPException as exc:
        raise MirrorError(f"broken HTTP response ({exc!r})") from None
    except OSError as exc:  # a reset connection, or a full disk
        raise MirrorError(f"transfer failed ({exc})") from None


def copy_local(directory: Path, filename: str, dest: Path, max_bytes: int) -> None:
    source = directory / filename
    if not directory.is_dir():
        raise MirrorError(f"no such directory {directory}")
    if not source.is_file():
        raise MirrorError(f"no such file {source}")
    try:
        if source.stat().st_size > max_bytes:
            raise MirrorError(f"more than {max_bytes} bytes, not a Fashion-MNIST file")
        with open(source, "rb") as src, open(dest, "wb") as out:
            while chunk := src.read(1 << 20):
                write_local(out, chunk)
    except OSError as exc:
        raise MirrorError(f"cannot copy {source} ({exc.strerror})") from None


def _get(mirror: str, filename: str, dest: Path, params: FetchParams, max_bytes: int) -> None:
    if mirror_kind(mirror) == "url":
        download(f"{mirror.rstrip('/')}/{filename}", dest, params.timeout_s, max_bytes)
    elif mirror_kind(mirror) == "dir":
        copy_local(Path(mirror).expanduser(), filename, dest, max_bytes)
    else:
        raise MirrorError("not a local directory or an http:// or https:// URL")


def fetch_file(mirror: str, filename: str, dest: Path, params: FetchParams) -> None:
    """One file into dest, verified; a MirrorError names the file and what was wrong."""
    base = filename.removesuffix(".gz")
    max_bytes = kind_of(base).max_bytes
    try:
        _get(mirror, filename, dest, params, max_bytes + GZIP_SLACK_BYTES)
        digest = gz_sha256(dest, max_bytes, name=filename)
    except LocalWriteError as exc:
        raise exc.error from None
    except MirrorError as exc:
        raise MirrorError(f"{filename}: {exc}") from None
    except IdxError as exc:  # already names the file
        raise MirrorError(str(exc)) from None
    if digest != params.sha256[base]:
        raise MirrorError(f"{filename}: sha256 of the decompressed bytes is {digest[:16]}..., "
                          f"expected {params.sha256[base][:16]}... (fetch.sha256)")


def fetch(params: FetchParams, raw_dir) -> str:
    """Fill raw_dir from the first good mirror and return it; raw_dir appears whole or not at all."""
    failures = []
    for mirror in params.mirrors:
        print(f"fetch: trying {mirror}", file=sys.stderr)
        try:
            with atomic_path(raw_dir) as staging:
                staging.mkdir()
                for base in DATA_FILES:
                    fetch_file(mirror, base + ".gz", staging / (base + ".gz"), params)
            return mirror
        except MirrorError as exc:
            print(f"fetch: skipped {mirror}: {exc}", file=sys.stderr)
            failures.append(f"  - {mirror}: {exc}")
    raise FetchError("no mirror has all four Fashion-MNIST files intact:\n"
                     + "\n".join(failures) + "\n" + OFFLINE_HINT)
