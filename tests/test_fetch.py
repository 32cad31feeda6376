"""fetch against a real HTTP(S) server on 127.0.0.1, started and shut down by the tests.

Each faulty mirror serves the first three files intact and breaks the fourth (the last one
fetched), so every case also shows that verified files from a failing mirror never reach
data/raw.
"""

import gzip
import http.server
import shutil
import ssl
import subprocess
import threading
import time

import numpy as np
import pytest

from conftest import synthetic_split
from fetch_faults import (
    DVC_SAYS,
    EVERY_MIRROR_FAILS,
    FAILED_MIRRORS,
    FETCH_FAULTS,
    OFFLINE,
    failed_mirror_line,
)
from fmnist.download import FetchError, fetch
from fmnist.idx import encode_labels
from fmnist.params import DATA_FILES, FetchParams

FILES = [base + ".gz" for base in DATA_FILES]
LAST = FILES[-1]
PROXY_VARIABLES = (
    "http_proxy",
    "https_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "all_proxy",
)


class MirrorServer:
    """A real HTTP server on loopback. routes maps a path to a function that answers it;
    any other path gets a 404. Stalling answers wait on `release`, set at shutdown."""

    def __init__(self, tls_context=None):
        self.routes = {}
        self.release = threading.Event()
        handler = type("Handler", (_Handler,), {"mirror": self})
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = False  # server_close() joins every handler thread
        self.scheme = "http"
        if tls_context:
            self.httpd.socket = tls_context.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,))
        self.thread.start()

    def url(self, mirror: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.httpd.server_port}/{mirror}"

    def add_mirror(self, mirror: str, files: dict, last=None) -> str:
        """Serve files (name -> bytes) under /mirror/; `last`, if given, answers LAST."""
        for name, data in files.items():
            self.routes[f"/{mirror}/{name}"] = serve(data)
        if last:
            self.routes[f"/{mirror}/{LAST}"] = last
        return self.url(mirror)

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


class _Handler(http.server.BaseHTTPRequestHandler):
    mirror: MirrorServer

    def do_GET(self):
        answer = self.mirror.routes.get(self.path)
        if answer is None:
            self.send_error(404, "File not found")
        else:
            answer(self)

    def log_message(self, *args):
        pass


def serve(data: bytes, declared_length=None):
    def answer(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", str(declared_length or len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    return answer


def cut_connection(data: bytes):
    """Announce the whole file, send half of it, close."""
    return serve(data[: len(data) // 2], declared_length=len(data))


def stall(data: bytes, before_headers=False):
    def answer(handler):
        if not before_headers:
            handler.send_response(200)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data[: len(data) // 2])
            handler.wfile.flush()
        handler.mirror.release.wait(timeout=60)
        handler.close_connection = True

    return answer


def trickle(data: bytes, every_s=0.5, limit_s=10):
    """1 byte every every_s (each wait shorter than fetch.timeout_s), for at most limit_s."""

    def answer(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        started = time.monotonic()
        for byte in data:
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            if handler.mirror.release.wait(every_s) or time.monotonic() - started > limit_s:
                break
        handler.close_connection = True

    return answer


def redirect(location: str):
    def answer(handler):
        handler.send_response(302)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return answer


@pytest.fixture
def server(monkeypatch):
    for name in PROXY_VARIABLES:  # loopback only, never through a proxy
        monkeypatch.delenv(name, raising=False)
    mirror_server = MirrorServer()
    yield mirror_server
    mirror_server.close()


@pytest.fixture
def good_files(small_dataset) -> dict:
    directory, _ = small_dataset
    return {name: (directory / name).read_bytes() for name in FILES}


def fetch_params(small_dataset, *mirrors, timeout_s=1.0) -> FetchParams:
    return FetchParams(mirrors=tuple(mirrors), timeout_s=timeout_s, sha256=small_dataset[1])


def wrong_labels() -> bytes:
    """A valid gzip of valid IDX labels, but not the ones fetch.sha256 expects."""
    _, labels = synthetic_split(100, seed=1)
    return gzip.compress(encode_labels(np.roll(labels, 1)), mtime=0)


def assert_holds(raw_dir, files: dict):
    assert sorted(p.name for p in raw_dir.iterdir()) == sorted(files)
    for name, data in files.items():
        assert (raw_dir / name).read_bytes() == data, name


def assert_skipped(err: str, fault: str, example: int = 0, **values) -> None:
    """err holds a line of tests/fetch_faults.py's fault (its varying parts matched)."""
    lines = err.splitlines()
    assert any(FETCH_FAULTS[fault].matches(line, example, **values) for line in lines), err


def assert_no_temporary_files(directory):
    assert not list(directory.rglob(".tmp-*")), "temporary files were left behind"


def test_404_on_the_first_mirror_falls_through_to_the_next(
    server, good_files, small_dataset, tmp_path, capsys
):
    good = server.add_mirror("good", good_files)
    gone = server.url("gone")
    raw_dir = tmp_path / "data/raw"
    assert fetch(fetch_params(small_dataset, gone, good), raw_dir) == good
    assert_holds(raw_dir, good_files)
    assert_skipped(capsys.readouterr().err, "404", mirror=gone)
    assert_no_temporary_files(tmp_path)


LAST_FILE_FAULTS = {  # each case: the answer, and its fault in tests/fetch_faults.py
    "truncated gzip": (lambda good: serve(good[: len(good) // 2]), "truncated gzip"),
    "wrong checksum": (lambda good: serve(wrong_labels()), "wrong checksum"),
    "not gzip (an HTML page)": (lambda good: serve(b"<html>Please log in</html>"), "not gzip"),
    "connection cut": (cut_connection, "connection cut"),
    "stall in the body": (stall, "stall"),
    "stall before the headers": (lambda good: stall(good, before_headers=True), "stall"),
    "redirect to ftp": (lambda good: redirect("ftp://127.0.0.1/" + LAST), "redirect"),
}


@pytest.mark.parametrize("fault", LAST_FILE_FAULTS)
def test_a_faulty_mirror_ends_with_a_reason_and_the_next_one_is_used(
    fault, server, good_files, small_dataset, tmp_path, capsys
):
    make_answer, expected = LAST_FILE_FAULTS[fault]
    bad = server.add_mirror("bad", good_files, last=make_answer(good_files[LAST]))
    good = server.add_mirror("good", good_files)
    raw_dir = tmp_path / "data/raw"
    assert fetch(fetch_params(small_dataset, bad, good), raw_dir) == good
    assert_holds(raw_dir, good_files)
    assert_skipped(capsys.readouterr().err, expected, mirror=bad)
    assert_no_temporary_files(tmp_path)


def test_a_trickling_mirror_is_left_for_the_next_at_its_deadline(
    server, good_files, small_dataset, tmp_path, capsys
):
    """1 byte every 0.5 s never trips the 1 s per-read timeout; the file's deadline, 1 s plus
    its size at the minimum rate, does."""
    slow = server.add_mirror("slow", good_files, last=trickle(good_files[LAST]))
    good = server.add_mirror("good", good_files)
    raw_dir = tmp_path / "data/raw"
    started = time.monotonic()
    assert fetch(fetch_params(small_dataset, slow, good), raw_dir) == good
    took = time.monotonic() - started
    assert_holds(raw_dir, good_files)
    assert_skipped(capsys.readouterr().err, "trickle", mirror=slow, size=len(good_files[LAST]))
    assert took < 4, f"the trickling mirror was given {took:.1f} s"
    assert_no_temporary_files(tmp_path)


def test_when_every_mirror_fails_one_error_lists_each_and_data_raw_stays_absent(
    server, good_files, small_dataset, tmp_path
):
    """The mirrors docs/failure-modes.md shows (tests/fetch_faults.py), each failing its way."""
    mirrors = {"gone": server.url("gone")}  # no files at all
    for name, fault in FAILED_MIRRORS.items():
        if name != "gone":  # the first three files intact, the last as the fault's case
            make_answer = next(make for make, f in LAST_FILE_FAULTS.values() if f == fault)
            mirrors[name] = server.add_mirror(name, good_files, last=make_answer(good_files[LAST]))
    missing_dir = tmp_path / "no-such-dir"
    raw_dir = tmp_path / "data/raw"
    params = fetch_params(small_dataset, *mirrors.values(), str(missing_dir))
    with pytest.raises(FetchError) as failure:
        fetch(params, raw_dir)
    expected = [
        EVERY_MIRROR_FAILS,
        *(failed_mirror_line(FAILED_MIRRORS[name], url) for name, url in mirrors.items()),
        failed_mirror_line("no directory", missing_dir),
        OFFLINE,
    ]
    assert str(failure.value).splitlines() == expected
    assert not raw_dir.exists()
    assert_no_temporary_files(tmp_path)


def test_a_failed_fetch_leaves_an_existing_data_raw_as_it_was(
    server, good_files, small_dataset, tmp_path
):
    """Outside DVC (which deletes data/raw itself before the stage runs) the last good files
    stay: a failed fetch replaces nothing."""
    raw_dir = tmp_path / "data/raw"
    shutil.copytree(small_dataset[0], raw_dir)
    wrong = server.add_mirror("wrong", good_files, last=serve(wrong_labels()))
    with pytest.raises(FetchError, match="sha256 of the decompressed bytes"):
        fetch(fetch_params(small_dataset, wrong), raw_dir)
    assert_holds(raw_dir, good_files)
    assert_no_temporary_files(tmp_path)


def test_a_local_mirror_is_verified_like_a_remote_one(small_dataset, good_files, tmp_path):
    corrupted = tmp_path / "corrupted"
    shutil.copytree(small_dataset[0], corrupted)
    (corrupted / LAST).write_bytes(wrong_labels())
    raw_dir = tmp_path / "data/raw"
    with pytest.raises(FetchError, match=f"{corrupted}: {LAST}: sha256"):
        fetch(fetch_params(small_dataset, str(corrupted)), raw_dir)
    assert not raw_dir.exists()
    assert fetch(
        fetch_params(small_dataset, str(corrupted), str(small_dataset[0])), raw_dir
    ) == str(small_dataset[0])
    assert_holds(raw_dir, good_files)


@pytest.mark.parametrize("mirror", ["ftp://127.0.0.1/fashion", "file:///usr/share/datasets"])
def test_fetch_itself_refuses_other_schemes(mirror, small_dataset, tmp_path):
    """params.yaml rejects these before any work (tests/test_params.py); fetch refuses
    them too rather than reading them as local paths."""
    with pytest.raises(
        FetchError,
        match=f"{mirror}: {FILES[0]}: not a local directory or an http:// or https:// URL",
    ):
        fetch(fetch_params(small_dataset, mirror), tmp_path / "raw")


@pytest.fixture
def tls_files(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1."""
    directory = tmp_path_factory.mktemp("tls")
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(directory / "key.pem"),
            "-out",
            str(directory / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )
    return directory / "cert.pem", directory / "key.pem"


@pytest.fixture
def https_server(tls_files, monkeypatch):
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls_files)
    mirror_server = MirrorServer(context)
    yield mirror_server
    mirror_server.close()


def test_https_mirror_is_used_when_its_certificate_is_trusted(
    https_server, tls_files, good_files, small_dataset, tmp_path, monkeypatch, capsys
):
    secure = https_server.add_mirror("good", good_files)
    raw_dir = tmp_path / "data/raw"
    monkeypatch.setenv("SSL_CERT_FILE", "/nonexistent")  # trust nothing, not even the system
    with pytest.raises(FetchError, match="CERTIFICATE_VERIFY_FAILED"):
        fetch(fetch_params(small_dataset, secure), raw_dir)
    assert_skipped(capsys.readouterr().err, "certificate", mirror=secure)
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files[0]))
    assert fetch(fetch_params(small_dataset, secure), raw_dir) == secure
    assert_holds(raw_dir, good_files)


def test_dvc_repro_with_corrupted_mirrors_fails_cleanly_and_checkout_restores(
    small_project, small_dataset, server, good_files, tmp_path
):
    project = small_project
    for name in PROXY_VARIABLES:
        project.env.pop(name, None)
    project.dvc("repro", "fetch")
    project.commit("fetched from the good mirror")
    lock = (project.root / "dvc.lock").read_bytes()

    corrupted = tmp_path / "corrupted"
    shutil.copytree(small_dataset[0], corrupted)
    (corrupted / LAST).write_bytes(wrong_labels())
    mirrors = [
        server.url("gone"),
        str(corrupted),
        server.add_mirror(
            "truncated", good_files, last=serve(good_files[LAST][: len(good_files[LAST]) // 2])
        ),
    ]
    project.set_params(fetch={"mirrors": mirrors})
    # Mirrors cannot change the verified data, so DVC does not track them: force the refetch.
    result = project.dvc("repro", "--force", "fetch", check=False)

    assert result.returncode != 0
    assert "fetch: error: no mirror has all four Fashion-MNIST files intact:" in result.stderr
    for mirror in mirrors:
        assert f"\n  - {mirror}: " in result.stderr
    assert f"{OFFLINE}\n{DVC_SAYS}\n" in result.stderr
    assert "Traceback" not in result.stderr
    # DVC deleted data/raw before the stage ran, and fetch put nothing partial in its place.
    assert not (project.root / "data/raw").exists()
    assert_no_temporary_files(project.root)
    assert (project.root / "dvc.lock").read_bytes() == lock
    # The last verified files are one checkout away.
    project.dvc("checkout", "data/raw")
    assert_holds(project.root / "data/raw", good_files)
