"""A malformed HTTP response ends that mirror only (property-based).

A real server on 127.0.0.1 answers every request for the bad mirror with bytes hypothesis
draws: bad or missing status lines and headers, Content-Length that lies (longer, shorter,
negative, not a number), broken chunked encoding, garbage, early closes, odd redirects.
For each, fetch with mirrors [bad server, good local directory] must take the files from
the good one and name the bad one, with the file and the reason, in one skipped line.

Redirects only ever lead back to 127.0.0.1 or to URLs that must be refused before any
connection: no drawn byte may make the client look up another host name.
"""

import contextlib
import io
import re

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fetch_faults import FETCH_FAULTS
from fmnist.download import fetch
from fmnist.params import FetchParams
from test_fetch import (  # noqa: F401 (fixtures, see pyproject.toml)
    FILES,
    assert_holds,
    good_files,
    server,
)

TIMEOUT_S = 2.0  # bounds every connection and every wait for data
# Where a drawn redirect may point: back to this server (relative), or to URLs that fetch
# must refuse without connecting (malformed, a bad port, another scheme, a host name IDNA
# cannot encode).
LOCATIONS = [
    b"/bad/elsewhere",
    b"/bad/" + FILES[0].encode(),
    b"http://[::1/x",
    b"http://[zz]/x",
    b"ftp://127.0.0.1/x",
    b"http://127.0.0.1:99999/x",
    b"http://127.0.0.1:0/x",
    b"//127.0.0.1:99999/x",
    b"http://" + b"a" * 64 + b"/x",
    b"http://a..b/x",
    b"http://u:p@127.0.0.1:1/x",
    b"http://[v1.x]/x",
    b"\xff\xfe",
]
REDIRECT_HEADER = re.compile(rb"(?i)[ \t]*(location|uri)[ \t]*:[ \t]*(.*?)[ \t]*$")

ODD_STATUS_LINES = st.one_of(
    st.builds(
        lambda version, code, reason: b"%s %s %s" % (version, code, reason),
        st.sampled_from(
            [
                b"HTTP/1.1",
                b"HTTP/1.0",
                b"HTTP/0.9",
                b"HTTP/2",
                b"http/1.1",
                b"ICY",
                b"HTTP/1.1 ",
                b"",
            ]
        ),
        st.one_of(st.integers(-1, 1000).map(lambda c: str(c).encode()), st.binary(max_size=4)),
        st.binary(max_size=20),
    ),
    st.binary(max_size=40),
    st.sampled_from(
        [
            b"HTTP/1.1 200 " + b"x" * 70_000,  # longer than http.client reads a line
            b"HTTP/1.1 100 Continue",
            b"HTTP/1.1 200 OK\r\n\r\nHTTP/1.1 200 OK",
        ]
    ),
)
ODD_LENGTHS = st.one_of(
    st.integers(-10, 10**22).map(lambda n: str(n).encode()),
    st.binary(max_size=6),
    st.sampled_from([b"", b" 5", b"1e3", b"0x10", b"5, 5", b"+5", "٣".encode()]),
)
ODD_HEADER_LINES = st.one_of(
    st.sampled_from(
        [
            b"Transfer-Encoding: gzip, chunked",
            b"Transfer-Encoding: identity",
            b"Transfer-Encoding: \xff",
            b"Content-Encoding: gzip",
            b"no colon here",
            b": no name",
            b" folded continuation",
            b"\xff\xfe: \xff",
            b"X-Long: " + b"y" * 70_000,
            b"X: y\r\n" * 120,
        ]
    ),
    ODD_LENGTHS.map(lambda value: b"Content-Length: " + value),
    st.binary(max_size=30),
)
CHUNKS = st.lists(
    st.tuples(
        st.one_of(st.integers(0, 300).map(lambda n: b"%x" % n), st.binary(max_size=4)),
        st.binary(max_size=40),
    ),
    max_size=4,
).map(lambda chunks: b"".join(b"%s\r\n%s\r\n" % c for c in chunks))
FAULTS = ("status", "length", "headers", "chunked", "redirect", "line ends", "cut")


@st.composite
def responses(draw):
    """A plain 200 answer with one to three faults, or garbage."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=300))
    faults = draw(st.sets(st.sampled_from(FAULTS), min_size=1, max_size=3))
    body = draw(st.binary(max_size=200))
    status = draw(ODD_STATUS_LINES) if "status" in faults else b"HTTP/1.1 200 OK"
    length = str(len(body)).encode()
    if "length" in faults:  # a lie: longer, shorter, negative, not a number
        length = draw(
            st.one_of(
                st.integers(-300, 300).map(lambda delta: str(len(body) + delta).encode()),
                ODD_LENGTHS,
            )
        )
    headers = [b"Content-Length: " + length]
    if "chunked" in faults:
        headers = [b"Transfer-Encoding: chunked"]
        body = draw(CHUNKS) + draw(st.sampled_from([b"", b"0\r\n\r\n", b"0\r\n"]))
    if "redirect" in faults:
        status = draw(
            st.sampled_from(
                [b"HTTP/1.1 301 Moved", b"HTTP/1.1 302 Found", b"HTTP/1.1 307 Temporary Redirect"]
            )
        )
        headers.append(b"Location: " + draw(st.sampled_from(LOCATIONS)))
    if "headers" in faults:
        headers += draw(st.lists(ODD_HEADER_LINES, min_size=1, max_size=3))
    end = draw(st.sampled_from([b"\n", b"\r"])) if "line ends" in faults else b"\r\n"
    whole = status + end + b"".join(h + end for h in headers) + end + body
    return whole[: draw(st.integers(0, len(whole)))] if "cut" in faults else whole


def leads_only_to_safe_places(raw: bytes) -> bool:
    """Every redirect is one of LOCATIONS and none is folded (continued on the next line,
    where drawn bytes could turn it into //some-host). Lines split at \\r as well: stricter."""
    lines = re.split(rb"\r\n|\r|\n", raw)
    for line, following in zip(lines, lines[1:] + [b""], strict=True):
        found = REDIRECT_HEADER.match(line)
        if found and (found.group(2) not in LOCATIONS or following[:1] in (b" ", b"\t")):
            return False
    return True


def send_raw(raw: bytes):
    def answer(handler):
        handler.close_connection = True  # then the server closes: no client waits for more
        with contextlib.suppress(OSError):  # the client may hang up first
            handler.wfile.write(raw)

    return answer


@settings(
    max_examples=300,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(raw=responses())
def test_a_malformed_response_ends_that_mirror_only_and_the_next_is_used(
    server, small_dataset, good_files, tmp_path_factory, raw
):
    assume(leads_only_to_safe_places(raw))
    for name in FILES:
        server.routes[f"/bad/{name}"] = send_raw(raw)
    bad, good = server.url("bad"), str(small_dataset[0])
    raw_dir = tmp_path_factory.mktemp("raw") / "data/raw"
    params = FetchParams(mirrors=(bad, good), timeout_s=TIMEOUT_S, sha256=small_dataset[1])
    with contextlib.redirect_stderr(io.StringIO()) as err:
        assert fetch(params, raw_dir) == good
    assert_holds(raw_dir, good_files)
    log = err.getvalue()
    assert re.search(
        f"^fetch: skipped {re.escape(bad)}: {re.escape(FILES[0])}: \\S.*\n"
        f"fetch: trying {re.escape(good)}\n",
        log,
        re.M,
    ), log


# What the user reads for a few of the drawn cases (each was a traceback before, or a
# message of several lines).
MESSAGES = {  # each case: the answer, and its fault and example in tests/fetch_faults.py
    "Content-Length not a number": (
        b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\nxyz",
        ("malformed", 0),
    ),
    "bad status line": (b"garbage\r\n\r\n", ("malformed", 1)),
    "status line ending in CR LF": (b"HTTP/1.1 0 \r\n\r\n", ("malformed", 2)),
    "header line over 64 KiB": (
        b"HTTP/1.1 200 OK\r\nX: " + b"y" * 70_000 + b"\r\n\r\n",
        ("malformed", 3),
    ),
    "broken chunk": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n",
        ("malformed", 4),
    ),
    "redirect with an unclosed [": (
        b"HTTP/1.1 302 Found\r\nLocation: http://[::1/x\r\nContent-Length: 0\r\n\r\n",
        ("malformed", 5),
    ),
    "redirect to a bad port": (
        b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:99999/x\r\nContent-Length: 0\r\n\r\n",
        ("redirect", 1),
    ),
}


@pytest.mark.parametrize("case", MESSAGES)
def test_a_malformed_response_is_one_line_naming_the_file_and_the_fault(
    case, server, small_dataset, tmp_path, capsys
):
    raw, (fault, example) = MESSAGES[case]
    server.routes[f"/bad/{FILES[0]}"] = send_raw(raw)
    bad, good = server.url("bad"), str(small_dataset[0])
    params = FetchParams(mirrors=(bad, good), timeout_s=TIMEOUT_S, sha256=small_dataset[1])
    assert fetch(params, tmp_path / "raw") == good
    line = FETCH_FAULTS[fault].message(example, mirror=bad)
    assert f"{line}\n" in capsys.readouterr().err
