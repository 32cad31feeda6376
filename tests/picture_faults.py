"""docs/failure-modes.md, "Pictures given to predict": each fault and its exact line
(tests/fault_lines.py says how the rows are used), asserted by tests/test_predict.py and
tests/test_jpeg_scans.py."""

from fault_lines import Fault
from fmnist.pictures import MAX_PIXELS, MAX_SCANS, MAX_SEGMENTS

PICTURE = {"picture": "<picture>"}
UNREADABLE = (
    "predict: error: {picture}: not a readable PNG or JPEG image ({why}); check that it opens "
    "in an image viewer, or save it again as PNG"
)
RESAVE = "save it again as PNG, or as JPEG with an image editor's usual settings"
SAME = "Same."

PICTURE_FAULTS = {
    "inflates": Fault(
        "A PNG whose compressed text (zTXt, iTXt) or ICC profile (iCCP) inflates past "
        "Pillow's 1 MiB limit",
        UNREADABLE,
        "Nothing is classified. Every error Pillow's own fuzz tests expect from a malformed "
        "file (OSError, SyntaxError, ValueError, NotImplementedError, OverflowError) ends "
        "this way; nothing else is caught.",
        ({**PICTURE, "why": "Decompressed data too large for PngImagePlugin.MAX_TEXT_CHUNK"},),
    ),
    "corrupt chunk": Fault(
        "A PNG whose second image-data chunk has a corrupt chunk type",
        UNREADABLE,
        SAME,
        ({**PICTURE, "why": "broken PNG file (chunk b'ID\\x00T')"},),
    ),
    "not a picture": Fault(
        "Not a PNG or JPEG at all, or cut short",
        UNREADABLE,
        SAME,
        ({**PICTURE, "why": "it starts like neither"}, {**PICTURE, "why": "Truncated File Read"}),
    ),
    "special file": Fault(
        "A named pipe (FIFO), a device or a directory",
        "predict: error: {picture}: {kind}, not a picture file; give a PNG or JPEG file",
        "Refused from its file type before it is opened (a FIFO without a writer used to "
        "block for ever); a block device and a socket too. The file is then opened without "
        "blocking and checked to be the same file.",
        (
            {**PICTURE, "kind": "a named pipe (FIFO)"},
            {"picture": "/dev/zero", "kind": "a character device"},
            {**PICTURE, "kind": "a directory"},
        ),
    ),
    "pixels": Fault(
        f"A picture of more than {MAX_PIXELS // 1_000_000} million pixels",
        "predict: error: {picture}: {width}x{height} is {pixels:,} pixels, more than the "
        "{max_pixels:,} predict decodes (about 1 GB of memory); shrink it (the model sees "
        "28x28 pixels) and try again",
        "Checked from the header, before anything is decoded, so a picture too large is never "
        f"decoded. The bound ({MAX_PIXELS // 1_000_000} million pixels) holds an 8000x6000 "
        "camera picture.",
        (
            {
                **PICTURE,
                "width": 8000,
                "height": MAX_PIXELS // 8000 + 1,
                "pixels": 8000 * (MAX_PIXELS // 8000 + 1),
                "max_pixels": MAX_PIXELS,
            },
        ),
    ),
    "scans": Fault(
        f"A JPEG of more than {MAX_SCANS} scans (a crafted progressive file: each scan is a "
        "pass over the whole picture, however few bytes it holds)",
        "predict: error: {picture}: a JPEG of more than {max_scans} scans (a progressive "
        "photo has about 10), each a pass over the whole picture; " + RESAVE,
        "Counted from the markers before anything is decoded, as libjpeg walks them (a "
        "segment's bytes are skipped by its length, so a thumbnail inside one does not count). "
        "A file's decoding time grows with its scans times its pixels; `tests/test_jpeg_scans.py` "
        "holds 100 scans of the costliest kind at 50 million pixels to 30 s, and refuses a "
        "1.2 MB file of 10,000 such scans before decoding it.",
        ({**PICTURE, "max_scans": MAX_SCANS},),
    ),
    "segments": Fault(
        f"A JPEG of more than {MAX_SEGMENTS:,} marker segments",
        "predict: error: {picture}: a JPEG of more than {max_segments:,} marker segments (a "
        "photo has a few dozen); " + RESAVE,
        "Counting them takes about 3 us each, so the count itself is bounded too.",
        ({**PICTURE, "max_segments": MAX_SEGMENTS},),
    ),
    "unopenable": Fault(
        "A missing file, or a path that cannot be opened (a loop of symbolic links, no permission)",
        "predict: error: {picture}: {why}; check the path",
        SAME,
        (
            {**PICTURE, "why": "no such file"},
            {**PICTURE, "why": "cannot be read (Too many levels of symbolic links)"},
        ),
    ),
    "colour key": Fault(
        "A PNG with a colour key (tRNS) at any bit depth",
        None,
        "The keyed pixels are transparent, shown on white as a viewer shows them, for grey of "
        "1, 2, 4, 8 and 16 bits and RGB of 8 and 16 bits (Pillow applies the key to 8-bit "
        "pictures only). A 16-bit RGB key is compared on the high byte Pillow decodes. An "
        "all-transparent 16-bit picture reads as the same picture in 8 bits.",
        shown="(no error)",
    ),
    "forged name": Fault(
        "A file name holding a line break or an escape sequence, e.g. "
        "`$'x\\nfake.png: Ankle boot 0.9999\\e[2K'`",
        "{shown_name}: {classes}",
        "One output line per picture, whatever its name.",
        (
            {
                "name": "x\nfake.png: Ankle boot 0.9999\x1b[2K",
                "shown_name": "x fake.png: Ankle boot 0.9999?[2K",
                "classes": "<the three likeliest classes>",
            },
        ),
    ),
}
