"""docs/failure-modes.md, "Fetching the data": each fault and its exact line
(tests/fault_lines.py says how the rows are used), asserted by tests/test_fetch.py,
tests/test_fetch_malformed.py and tests/test_params.py. The checksums are those of the
tests' small dataset."""

from fault_lines import Fault, Varies
from fmnist.params import DATA_FILES

FILES = [base + ".gz" for base in DATA_FILES]
FIRST, LAST = {"file": FILES[0]}, {"file": FILES[-1]}
MIRROR = {"mirror": "<mirror>"}
SKIPPED = "fetch: skipped {mirror}: {file}: "
NEXT = "Next mirror."
FOLLOWED = "only http:// and https:// URLs are followed"
MALFORMED = SKIPPED + "malformed HTTP response{why}"

FETCH_FAULTS = {
    "404": Fault(
        "A mirror answers 404",
        SKIPPED + "HTTP 404 File not found",
        "The next mirror is tried.",
        ({**MIRROR, **FIRST},),
    ),
    "truncated gzip": Fault(
        "A mirror serves a truncated .gz",
        SKIPPED + "truncated gzip file (the compressed data ends early)",
        NEXT,
        ({**MIRROR, **LAST},),
    ),
    "wrong checksum": Fault(
        "A file has the wrong checksum",
        SKIPPED + "sha256 of the decompressed bytes is {got}..., expected {expected}... "
        "(fetch.sha256)",
        NEXT,
        ({**MIRROR, **LAST, "got": "d392ec0b964e9f7e", "expected": "813d6ac070692726"},),
    ),
    "stall": Fault(
        "A server stalls (in the body, or before the headers)",
        SKIPPED + "no data for 1 s (timed out)",
        "Next mirror after `fetch.timeout_s` seconds without any data (also while connecting).",
        ({**MIRROR, **LAST},),
    ),
    "trickle": Fault(
        "A server trickles (1 byte every 0.5 s, each wait shorter than `fetch.timeout_s`)",
        SKIPPED + "too slow: {got} of {size} bytes in {took} s; a mirror gets 1.0 s for it "
        "(fetch.timeout_s, plus its size at 50,000 bytes a second)",
        "Next mirror. Each file has a deadline from the request on: `fetch.timeout_s` plus its "
        "size (its `Content-Length`, else the largest a Fashion-MNIST file can be) at 50,000 "
        "bytes a second, so the largest file (26 MB) gets 9 minutes. Headers are not under the "
        "deadline, only under the per-read timeout.",
        (
            {
                **MIRROR,
                **LAST,
                "got": Varies("3", "[1-4]"),
                "size": 86,
                "took": Varies("1.0", r"1\.[0-9]"),
            },
        ),
    ),
    "connection cut": Fault(
        "The connection drops",
        SKIPPED + "got 43 of 86 bytes (the connection closed early)",
        NEXT,
        ({**MIRROR, **LAST},),
    ),
    "not gzip": Fault(
        "A web page instead of the file (e.g. a captive portal)",
        SKIPPED + "not a valid gzip file (Not a gzipped file (b'<h'))",
        NEXT,
        ({**MIRROR, **LAST},),
    ),
    "redirect": Fault(
        "A redirect to another scheme, a bad port or host",
        SKIPPED + "redirected to {location} ({why}); " + FOLLOWED,
        NEXT,
        (
            {**MIRROR, **LAST, "location": f"ftp://127.0.0.1/{LAST['file']}"}
            | {"why": "ftp:// is not accepted"},
            {**MIRROR, **FIRST, "location": "http://127.0.0.1:99999/x"}
            | {"why": "has a port outside 1-65535"},
        ),
        elide_before="redirected",
    ),
    "certificate": Fault(
        "An https certificate that is not trusted",
        SKIPPED + "cannot connect ([SSL: CERTIFICATE_VERIFY_FAILED] certificate verify "
        "failed: self-signed certificate ({source}))",
        NEXT,
        ({**MIRROR, **FIRST, "source": Varies("_ssl.c:1006", r"_ssl\.c:\d+")},),
    ),
    "no directory": Fault(
        "A local mirror directory is missing",
        SKIPPED + "no such directory {mirror}",
        NEXT,
        ({**MIRROR, **FIRST},),
    ),
    "every mirror": Fault(
        "Every mirror fails",
        None,
        "`fetch` fails; `data/raw/` holds nothing (see below).",
        shown="One error listing each mirror and why, then the offline source (full text below)",
    ),
    "malformed": Fault(
        "A malformed HTTP answer (bad status line, a `Content-Length` that is not a number, a "
        "header line over 64 KiB, broken chunked encoding, a redirect to a malformed URL)",
        MALFORMED,
        "That mirror only; the next is tried (300 generated answers in "
        "`tests/test_fetch_malformed.py`).",
        tuple(
            {**MIRROR, **FIRST, "why": why}
            for why in (
                ": Content-Length 'abc' is not a byte count",
                " (BadStatusLine: garbage)",
                " (BadStatusLine: HTTP/1.1 0)",
                " (LineTooLong: got more than 65536 bytes when reading header line)",
                " (IncompleteRead(0 bytes read))",
                " (ValueError: Invalid IPv6 URL)",
            )
        ),
        elide_before="malformed HTTP response",
    ),
}

# When every mirror fails: fetch's error, a line for each mirror (as its `skipped` line says
# it), then where the files are offline; DVC's line after it. tests/test_fetch.py makes these
# mirrors, in this order (a local directory that does not exist last).
EVERY_MIRROR_FAILS = "no mirror has all four Fashion-MNIST files intact:"
FAILED_MIRRORS = {
    "gone": "404",
    "truncated": "truncated gzip",
    "wrong": "wrong checksum",
    "stalled": "stall",
    "cut": "connection cut",
    "html": "not gzip",
    "redirect": "redirect",
}
OFFLINE = (
    "Offline source: Debian/Ubuntu's package dataset-fashion-mnist (apt-get install "
    "dataset-fashion-mnist) puts the files in /usr/share/datasets/fashion-mnist; list that "
    "directory first in fetch.mirrors in params.yaml."
)
DVC_SAYS = (
    "ERROR: failed to reproduce 'fetch': failed to run: python stages/fetch.py --raw-dir "
    "data/raw, exited with 1"
)


def failed_mirror_line(fault: str, mirror) -> str:
    """A mirror's line in fetch's error: its `skipped` line, indented as a list item."""
    return FETCH_FAULTS[fault].message(mirror=mirror).replace("fetch: skipped ", "  - ", 1)


# fetch.mirrors in params.yaml: `fetch: error: ` and the line.
MIRRORS_RULE = (
    "params: fetch.mirrors must be a non-empty list of local directories and http:// or "
    "https:// URLs (ftp://, file:// and other schemes are not accepted), got {got}"
)


def mirrors(*values, why=None, got=None) -> dict:
    """An example: the mirrors params.yaml lists, as the message shows them (`got`: a long
    value is shortened), and why the first bad one is refused."""
    example = {"mirrors": list(values), "got": got or repr(list(values))}
    return example | ({"why": why} if why else {})


def bad_mirror(mirror: str, why: str, got=None) -> dict:
    return mirrors(mirror, why=f"{mirror!r}: {why}", got=got)


MIRRORS_FAULTS = {
    "scheme": Fault(
        "`ftp://`, `file://` or another scheme in `fetch.mirrors`",
        MIRRORS_RULE + " ({why})",
        "Nothing is fetched.",
        (
            mirrors(
                "/usr/share/datasets/fashion-mnist",
                "ftp://ftp.example.org/fashion",
                why="'ftp://ftp.example.org/fashion': ftp:// is not accepted",
            ),
            bad_mirror("file:///usr/share/datasets/fashion-mnist", "file:// is not accepted"),
        ),
        prefix="fetch: error: ",
        elide_before="got ",
    ),
    "url": Fault(
        "A mirror URL without a host, with a bad port, an unclosed `[`, a user name, a space "
        "or a non-ASCII character, a query, a bad host name",
        MIRRORS_RULE + " ({why})",
        "Same.",
        (
            bad_mirror("http:///fashion", "has no host"),
            bad_mirror("http://[::1/fashion", "not a URL (Invalid IPv6 URL)"),
            bad_mirror("http://[v1.x]/fashion", "[v1.x] is not an IPv6 address"),
            bad_mirror("http://127.0.0.1:99999/fashion", "has a port outside 1-65535"),
            bad_mirror("http://example.org:http/fashion", "has a port outside 1-65535"),
            bad_mirror("http://me:secret@example.org/fashion", "has a user name; fetch sends none"),
            bad_mirror(
                "https://example.org/my data",
                "has a space, a control or a non-ASCII character (percent-encode it; write a "
                "host name in punycode)",
            ),
            bad_mirror(
                "https://example.org/get?file=",
                "has a query (?) or fragment (#); give the directory the files are in",
            ),
            bad_mirror(
                f"http://{'a' * 64}.org/",
                f"host '{'a' * 64}.org' is not a host name or an IP address",
                got=f"['http://{'a' * 20}...{'a' * 23}.org/']",
            ),
        ),
        prefix="fetch: error: ",
        elide_before="got ",
    ),
    "not a list": Fault(
        "`fetch.mirrors` empty, or not a list of text",
        MIRRORS_RULE,
        "Same.",
        (mirrors(), mirrors(42)),
        prefix="fetch: error: ",
        elide_before="got ",
    ),
}
