"""How many scans a JPEG file holds, counted from its markers before anything is decoded.

Each scan of a progressive JPEG is a pass over every block of the picture, whatever few
bytes it holds: a crafted scan of 95 bytes (an AC refinement, with its Huffman table) costs
35 ms at 50 million pixels, so a 1.2 MB file of 10,000 would decode for about 5.5 minutes.
The count walks the markers as libjpeg does: a segment's length is followed (its bytes may
hold anything), and a marker in entropy-coded data is 0xFF followed by a byte other than
0x00 (a stuffed 0xFF), 0xFF (fill) or a restart marker (0xD0-0xD7); the walk ends at EOI,
where libjpeg stops reading.
"""

import re

# 0xFF and a marker code: not a stuffed 0x00, not fill (a run of 0xFF matches at its last
# byte, so the search stays linear), not a restart marker (no length, no scan).
MARKER = re.compile(rb"\xff([^\x00\xff\xd0-\xd7])")
EOI, SOS, TEM = 0xD9, 0xDA, 0x01
CHUNK = 1 << 16


class FileWindow:
    """Bytes of a seekable binary file by absolute offset, read a chunk at a time."""

    def __init__(self, stream):
        self.stream, self.start, self.data = stream, 0, b""

    def at(self, offset: int, size: int) -> tuple[bytes, int]:
        """A buffer holding at least `size` bytes from `offset` (fewer at the end of the
        file), and where `offset` is in it."""
        if not (self.start <= offset and offset + size <= self.start + len(self.data)):
            self.stream.seek(offset)
            self.start, self.data = offset, self.stream.read(max(size, CHUNK))
        return self.data, offset - self.start


def next_marker(window: FileWindow, offset: int) -> tuple[int, int] | None:
    """(marker code, offset just past it) of the first marker from `offset`, or None at the
    end of the file."""
    while True:
        data, at = window.at(offset, CHUNK)
        found = MARKER.search(data, at)
        if found:
            return found[1][0], window.start + found.end()
        if len(data) - at < CHUNK:  # the file ends here
            return None
        # Keep a last 0xFF: the marker code that follows it is in the next chunk.
        offset = window.start + len(data) - (1 if data.endswith(b"\xff") else 0)


def walk_markers(stream, start: int, max_scans: int, max_segments: int) -> tuple[int, int]:
    """(scans, marker segments) of the JPEG that starts at `start` in `stream`, counted up to
    EOI or the end of the file, and no further than one past either limit."""
    window = FileWindow(stream)
    scans = segments = 0
    offset = start + 2  # past SOI
    while scans <= max_scans and segments <= max_segments:
        marker = next_marker(window, offset)
        if marker is None or marker[0] == EOI:
            break
        code, offset = marker
        segments += 1
        if code == TEM:
            continue
        data, at = window.at(offset, 2)
        length = int.from_bytes(data[at : at + 2], "big")
        scans += code == SOS
        # A length below 2 is an error for libjpeg, which then decodes nothing more; the
        # walk goes on at the next marker, which can only count more.
        offset += length if length >= 2 else 0
    return scans, segments
