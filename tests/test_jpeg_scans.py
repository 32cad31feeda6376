"""A JPEG crafted to decode slowly: many scans, each a pass over the whole picture. predict
counts them from the markers before decoding and refuses more than MAX_SCANS, so that what
it decodes takes a bounded time."""

import io
import subprocess
import sys
import time

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from PIL import Image

from fmnist import FmnistError
from fmnist.jpeg_scans import walk_markers
from fmnist.pictures import MAX_PIXELS, MAX_SCANS, MAX_SEGMENTS, load_picture
from picture_faults import PICTURE_FAULTS

LARGEST = (8000, MAX_PIXELS // 8000)  # 50 million pixels, the most predict decodes


def jpeg(size, mode="L", **options) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, 128).save(buffer, "JPEG", quality=90, **options)
    return buffer.getvalue()


def with_scans(progressive: bytes, total: int) -> bytes:
    """The file with its last scan repeated until it holds `total` scans. Pillow's last scan
    refines the AC coefficients (Ah=1, Al=0), the costliest kind measured (35 ms per scan at
    50 million pixels, in 95 bytes with the Huffman table before it)."""
    eoi = progressive.rindex(b"\xff\xd9")
    sos = progressive.rindex(b"\xff\xda", 0, eoi)  # entropy-coded data holds no 0xFF 0xDA
    dht = progressive.rindex(b"\xff\xc4", 0, sos)
    assert dht + 2 + int.from_bytes(progressive[dht + 2 : dht + 4], "big") == sos
    scans, _ = walk_markers(io.BytesIO(progressive), 0, 10**6, 10**6)
    return progressive[:eoi] + progressive[dht:eoi] * (total - scans) + progressive[eoi:]


def scans_of(data: bytes) -> int:
    return walk_markers(io.BytesIO(data), 0, 10**6, 10**6)[0]


@pytest.mark.parametrize(
    "mode, options, scans",
    [("L", {}, 1), ("L", {"progressive": True}, 6), ("RGB", {}, 1)]
    + [("RGB", {"progressive": True}, 10), ("CMYK", {"progressive": True}, 18)],
)
def test_the_scans_of_files_pillow_writes_are_counted(mode, options, scans):
    assert scans_of(jpeg((40, 30), mode, **options)) == scans


# Segments a file may hold before its frame: comments of any bytes (a 0xFF 0xDA among them
# is no scan), and fill bytes (0xFF) before a marker.
extra_segment = st.one_of(
    st.binary(max_size=300).map(lambda b: b"\xff\xfe" + (len(b) + 2).to_bytes(2, "big") + b),
    st.integers(1, 5).map(lambda n: b"\xff" * n),
)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(extra_segment, max_size=5), st.sampled_from(["L", "RGB"]))
@example([b"\xff\xfe\x00\x0c\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00"], "L")
def test_a_scan_marker_inside_a_segment_does_not_count(extra, mode):
    """The same count as the file without them, and Pillow decodes it all the same."""
    plain = jpeg((24, 16), mode, progressive=True)
    data = plain[:2] + b"".join(extra) + plain[2:]
    with Image.open(io.BytesIO(data)) as image:
        image.load()
    assert scans_of(data) == scans_of(plain)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.binary(max_size=2000))
def test_any_bytes_are_walked_to_their_end_within_the_limits(tail):
    scans, segments = walk_markers(io.BytesIO(b"\xff\xd8" + tail), 0, 3, 5)
    assert 0 <= scans <= 4 and 0 <= segments <= 6


def test_a_picture_at_the_limit_is_read_and_one_scan_more_is_refused(tmp_path):
    picture = tmp_path / "scans.jpg"
    progressive = jpeg((64, 48), progressive=True)
    picture.write_bytes(with_scans(progressive, MAX_SCANS))
    assert load_picture(picture).shape == (784,)
    picture.write_bytes(with_scans(progressive, MAX_SCANS + 1))
    with pytest.raises(FmnistError) as refused:
        load_picture(picture)
    fault = PICTURE_FAULTS["scans"]
    assert f"predict: error: {refused.value}" == fault.message(picture=picture)


def test_a_hostile_jpeg_is_refused_at_once(tmp_path):
    """10,000 scans at 50 million pixels, 1.2 MB: Pillow alone would decode it for about
    5.5 minutes; predict refuses it before decoding."""
    hostile = tmp_path / "hostile.jpg"
    hostile.write_bytes(with_scans(jpeg(LARGEST, progressive=True), 10_000))
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "fmnist.predict", str(hostile)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert time.monotonic() - start < 20  # measured 0.3 s, nearly all of it imports
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == PICTURE_FAULTS["scans"].message(picture=hostile) + "\n"


def test_the_most_predict_decodes_takes_a_bounded_time(tmp_path):
    """MAX_SCANS of the costliest scans at MAX_PIXELS: the slowest file predict decodes
    (3.7 s here) within a generous bound."""
    slowest = tmp_path / "slowest.jpg"
    slowest.write_bytes(with_scans(jpeg(LARGEST, progressive=True), MAX_SCANS))
    start = time.monotonic()
    assert load_picture(slowest).shape == (784,)
    assert time.monotonic() - start < 30


def test_a_flood_of_marker_segments_is_refused(tmp_path):
    plain = jpeg((24, 16))
    comment = b"\xff\xfe\x00\x02"  # an empty comment, 4 bytes
    flood = tmp_path / "flood.jpg"
    flood.write_bytes(plain[:2] + comment * MAX_SEGMENTS + plain[2:])
    with pytest.raises(FmnistError) as refused:
        load_picture(flood)
    fault = PICTURE_FAULTS["segments"]
    assert f"predict: error: {refused.value}" == fault.message(picture=flood)
