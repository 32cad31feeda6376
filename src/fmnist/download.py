"""Fetch the four Fashion-MNIST files from the first mirror that has all of them intact.

A mirror is a local directory or an http(s) base URL; nothing else is read, not even
through a redirect. Checksums are taken over the decompressed bytes because Debian's
package recompresses the .gz files. The four files are collected and verified in a
temporary directory that replaces raw_dir only when all of them pass: raw_dir never holds a
partial or unverified file, and a failed fetch leaves an existing raw_dir as it was.
"""

import http.client
import os
import re
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from . import FmnistError
from .guards.atomic import atomic_path
from .guards.stage_runner import shown
from .idx import IdxError, gz_sha256, kind_of
from .params import DATA_FILES, FetchParams, mirror_kind, mirror_problem

# gzip can make incompressible data slightly larger; anything beyond this is not our file.
GZIP_SLACK_BYTES = 2**20
# A mirror must send each file at this many bytes a second or more, plus fetch.timeout_s to
# get going: the largest file, 26 MB, gets 9 minutes. A server trickling bytes never trips
# the per-read timeout.
MIN_BYTES_PER_S = 50_000
OFFLINE_HINT = (
    "Offline source: Debian/Ubuntu's package dataset-fashion-mnist "
    "(apt-get install dataset-fashion-mnist) puts the files in "
    "/usr/share/datasets/fashion-mnist; list that directory first in "
    "fetch.mirrors in params.yaml."
)


class MirrorError(FmnistError):
    """This mirror cannot be used; the next one is tried."""


class FetchError(FmnistError):
    pass


class LocalWriteError(Exception):
    """Writing a fetched file here failed (a full disk): the fault is local, not the mirror's,
    so the fetch stops. Not an OSError, so that download() does not take it for a network
    fault; fetch_file raises the OSError it carries again, for the stage runner to report."""

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
            size = f"{done / 1e6:6.1f} / {self.total / 1e6:.1f} MB"
            text = f"  {self.name}: {size} {done / self.total:4.0%}"
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
    """urllib also follows redirects to ftp://; a mirror may only lead to an http(s) URL
    that params would accept as a mirror."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if mirror_kind(newurl) != "url":
            fp.close()
            problem = mirror_problem(newurl) or "a local path"
            raise MirrorError(
                f"redirected to {shown(newurl)} ({problem}); only http:// and "
                "https:// URLs are followed"
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


OPENER = urllib.request.build_opener(HttpOnlyRedirects)


def declared_length(response) -> int | None:
    """The Content-Length header as a byte count; http.client ignores one it cannot parse
    (and would read to the end), but a file whose length is garbled is not trusted."""
    value = response.headers.get("Content-Length")
    if value is None:
        return None
    if not re.fullmatch(r"[0-9]{1,20}", value.strip()):
        raise MirrorError(
            f"malformed HTTP response: Content-Length {shown(value)!r} is not a byte count"
        )
    return int(value) or None


class Deadline:
    """The time a mirror gets for one file: timeout_s, plus its size at MIN_BYTES_PER_S."""

    def __init__(self, timeout_s: float):
        self.timeout_s, self.start = timeout_s, time.monotonic()
        self.allowed_s = float("inf")

    def allow(self, size: int) -> None:
        self.allowed_s = self.timeout_s + size / MIN_BYTES_PER_S

    def check(self, done: int, total) -> None:
        elapsed = time.monotonic() - self.start
        if elapsed > self.allowed_s:
            raise MirrorError(
                f"too slow: {done} of {total or 'an unknown number of'} bytes in "
                f"{elapsed:.1f} s; a mirror gets {self.allowed_s:.1f} s for it "
                f"(fetch.timeout_s, plus its size at {MIN_BYTES_PER_S:,} bytes a second)"
            )


def _stream(response, out, max_bytes: int, deadline: Deadline) -> None:
    total = declared_length(response)
    deadline.allow(total or max_bytes)
    progress = Progress(response.url.rsplit("/", 1)[-1], total)
    done = 0
    while chunk := response.read1(1 << 16):  # read1: returns what came, however little
        done += len(chunk)
        if done > max_bytes:
            raise MirrorError(f"more than {max_bytes} bytes, not a Fashion-MNIST file")
        write_local(out, chunk)
        progress.update(done)
        deadline.check(done, total)
    progress.close()
    if total and done != total:
        raise MirrorError(f"got {done} of {total} bytes (the connection closed early)")


def malformed(exc: Exception) -> MirrorError:
    what = str(exc) if str(exc).startswith(type(exc).__name__) else f"{type(exc).__name__}: {exc}"
    return MirrorError(f"malformed HTTP response ({shown(what)})")


def open_url(url: str, timeout_s: float):
    """OPENER.open. Parsing the server's status line, headers and redirects, urllib and
    http.client raise ValueError too (an unclosed [ in a Location, a host name IDNA cannot
    encode): that answer is malformed. The URL itself passed params' checks."""
    try:
        return OPENER.open(url, timeout=timeout_s)
    except ValueError as exc:
        raise malformed(exc) from None


def download(url: str, dest: Path, timeout_s: float, max_bytes: int) -> None:
    """Stream url into dest; any network fault or malformed answer becomes a MirrorError.
    timeout_s bounds the connection and every wait for data, so a server that stalls ends
    the mirror; a Deadline, one that trickles."""
    deadline = Deadline(timeout_s)
    try:
        with open_url(url, timeout_s) as response, open(dest, "wb") as out:
            _stream(response, out, max_bytes, deadline)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise MirrorError(f"HTTP {exc.code} {shown(exc.reason)}") from None
    except urllib.error.URLError as exc:
        timed_out = isinstance(exc.reason, TimeoutError)
        why = f"no answer within {timeout_s:g} s" if timed_out else shown(exc.reason)
        raise MirrorError(f"cannot connect ({why})") from None
    except TimeoutError:
        raise MirrorError(f"no data for {timeout_s:g} s (timed out)") from None
    except http.client.HTTPException as exc:  # a bad status line, header or chunk, a cut
        raise malformed(exc) from None
    except OSError as exc:  # a reset connection, or a full disk
        raise MirrorError(f"transfer failed ({shown(exc)})") from None


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
        # os.path's expanduser leaves ~unknown-user as it is; Path's would raise.
        copy_local(Path(os.path.expanduser(mirror)), filename, dest, max_bytes)
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
        raise MirrorError(
            f"{filename}: sha256 of the decompressed bytes is {digest[:16]}..., "
            f"expected {params.sha256[base][:16]}... (fetch.sha256)"
        )


def fetch(params: FetchParams, raw_dir) -> str:
    """Fill raw_dir from the first good mirror and return it; raw_dir appears whole or not at
    all."""
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
    raise FetchError(
        "no mirror has all four Fashion-MNIST files intact:\n"
        + "\n".join(failures)
        + "\n"
        + OFFLINE_HINT
    )
