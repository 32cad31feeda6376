"""Your own pictures brought to what the model saw in training: grayscale, 28x28, values in
[0, 1], a light garment on a dark background (a picture with a light background is
inverted).

Pictures are untrusted input: a special file is refused before it is opened, the pixel
count is checked from the header before anything is decoded, and whatever Pillow raises for
a malformed file becomes one FmnistError naming the file (escaped: a name cannot forge a line).
"""

import os
import stat
import warnings

import numpy as np
from PIL import Image, ImageOps

from . import FmnistError
from .guards.stage_runner import shown
from .jpeg_scans import walk_markers
from .lesson.fashion_mnist import IMAGE_SIDE, NUM_FEATURES

FORMATS = ("PNG", "JPEG")
# Measured peak memory per million pixels decoded: 19.1 MB for RGBA and LA PNGs (the
# worst), 12.4 MB for 16-bit grey, 10.5 MB for an RGB JPEG. At this bound (an 8000x6250
# camera picture): 955 MB and 0.9-2.4 s. Pillow only warns below 179 million (3.4 GB).
MAX_PIXELS = 50_000_000
SHRINK = "shrink it (the model sees 28x28 pixels) and try again"
# A progressive JPEG has about 10 scans (libjpeg writes 10 for colour, 6 for grey, 18 for
# CMYK), each a pass over the whole picture whatever its size in bytes. At MAX_PIXELS, 100
# scans of the costliest kind (an AC refinement) decoded in 3.6-3.7 s here, the usual 6-10 in
# 0.4-0.6 s; 1,000 took 33 s, so a 1.2 MB file of 10,000 would take about 5.5 minutes.
# libjpeg-turbo offers the same kind of limit (TJPARAM_SCANLIMIT) for this reason.
MAX_SCANS = 100
# Walking a marker segment takes about 3 us; a photo has a few dozen.
MAX_SEGMENTS = 10_000
RESAVE = "save it again as PNG, or as JPEG with an image editor's usual settings"
UNREADABLE = "check that it opens in an image viewer, or save it again as PNG"
# What Pillow raises for a malformed file (its own fuzz tests list them): OSError (truncated,
# not an image), SyntaxError (a broken PNG chunk), ValueError (a text or ICC chunk inflating
# past its limit), NotImplementedError, OverflowError. Not MemoryError: MAX_PIXELS bounds it.
MALFORMED = (OSError, SyntaxError, ValueError, NotImplementedError, OverflowError)
SPECIAL_FILES = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)
# A PNG colour key (tRNS in a grey or RGB picture) is in the file's own sample scale; Pillow
# decodes 1-8 bit grey to 0-255 (x255, x85, x17, x1) and 16-bit RGB to its high byte, and
# applies the key to 8-bit pictures only. decoded value = key * scale (RGB;16B: key >> 8).
GREY_KEY_SCALE = {"1": 255, "L;2": 85, "L;4": 17, "L": 1}


def open_regular_file(path):
    """A binary file object for path, which must be a regular file: a FIFO would block the
    read for ever, a device can be endless. Checked before opening it, and again on the
    opened file (in case it was swapped in between)."""
    name = shown(path, limit=None)
    try:
        before = os.stat(path)
        for is_kind, kind in SPECIAL_FILES:
            if is_kind(before.st_mode):
                raise FmnistError(f"{name}: {kind}, not a picture file; give a PNG or JPEG file")
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except FileNotFoundError:
        raise FmnistError(f"{name}: no such file; check the path") from None
    except OSError as exc:  # permission denied, a name too long, a loop of symlinks
        raise FmnistError(f"{name}: cannot be read ({exc.strerror}); check the path") from None
    after = os.fstat(fd)
    if (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino):
        os.close(fd)
        raise FmnistError(f"{name}: replaced while it was being opened; try again")
    return os.fdopen(fd, "rb")


def decoded_colour_key(image: Image.Image, rawmode) -> int | tuple | None:
    """A PNG colour key as the decoded pixels hold it, or None. Pillow drops the low byte
    of 16-bit RGB: such a key also matches the colours that differ from it only there."""
    key = image.info.get("transparency")
    if image.format != "PNG" or key is None:
        return None
    if image.mode == "I;16" and isinstance(key, int):
        return key
    if image.mode == "RGB" and isinstance(key, tuple) and len(key) == 3:
        return tuple(k >> 8 for k in key) if rawmode == "RGB;16B" else key
    if rawmode in GREY_KEY_SCALE and isinstance(key, int):
        return key * GREY_KEY_SCALE[rawmode]  # compared with the picture in mode "L"
    return None


def key_mask(image: Image.Image, colour_key) -> np.ndarray:
    pixels = np.asarray(image if image.mode in ("I;16", "RGB") else image.convert("L"))
    equal = pixels == np.array(colour_key)
    return equal.all(axis=-1) if equal.ndim == 3 else equal


def grayscale(image: Image.Image, colour_key=None) -> Image.Image:
    """Any PNG or JPEG mode -> 8-bit grayscale ("L"). Transparent parts are shown as a viewer
    shows them: on white."""
    if image.mode.startswith("I;16"):  # 16-bit grey: convert("L") would clip, not scale
        wide = np.asarray(image, dtype=np.uint32)
        gray = Image.fromarray(((wide + 128) // 257).astype(np.uint8))  # round(x / 257)
    elif colour_key is None and (
        image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    ):
        white = Image.new("RGBA", image.size, "white")
        gray = Image.alpha_composite(white, image.convert("RGBA")).convert("L")
    else:
        gray = image.convert("L")
    if colour_key is not None:
        pixels = np.array(gray)
        pixels[key_mask(image, colour_key)] = 255
        gray = Image.fromarray(pixels)
    return gray


def has_light_background(gray: Image.Image) -> bool:
    """The frame of a picture of one garment is background; the garment is in the middle.
    Its median (robust to a garment touching an edge) says whether the background is light,
    as in product photos, or dark, as in Fashion-MNIST."""
    pixels = np.asarray(gray)
    frame = np.concatenate([pixels[0], pixels[-1], pixels[1:-1, 0], pixels[1:-1, -1]])
    return float(np.median(frame)) > 127.5


def to_model_input(image: Image.Image, colour_key=None) -> np.ndarray:
    """float32 (784,) in [0, 1]: a light garment on black, the longer side 28 pixels, centred.
    colour_key: decoded_colour_key of the file the image was read from."""
    upright = ImageOps.exif_transpose(image)  # phone photos store their rotation
    gray = grayscale(upright, colour_key)
    if has_light_background(gray):
        gray = ImageOps.invert(gray)
    # BOX: each output pixel is the mean of the pixels it covers (no ringing when shrinking).
    # A 28x28 picture is left as it is.
    fitted = ImageOps.contain(gray, (IMAGE_SIDE, IMAGE_SIDE), method=Image.Resampling.BOX)
    square = Image.new("L", (IMAGE_SIDE, IMAGE_SIDE), 0)  # pad the shorter side with black
    square.paste(fitted, ((IMAGE_SIDE - fitted.width) // 2, (IMAGE_SIDE - fitted.height) // 2))
    return (np.asarray(square, dtype=np.float32) / np.float32(255)).reshape(NUM_FEATURES)


def check_pixel_count(image: Image.Image, name: str) -> None:
    if image.width * image.height > MAX_PIXELS:
        raise FmnistError(
            f"{name}: {image.width}x{image.height} is {image.width * image.height:,} pixels, "
            f"more than the {MAX_PIXELS:,} predict decodes (about 1 GB of memory); {SHRINK}"
        )


def check_scan_count(image: Image.Image, picture_file, name: str) -> None:
    """Refuse a JPEG whose scans would make decoding slow, counted before decoding."""
    if not image.tile or image.tile[0].codec_name != "jpeg":  # an MPO's first frame too
        return
    scans, segments = walk_markers(picture_file, image.tile[0].offset, MAX_SCANS, MAX_SEGMENTS)
    if scans > MAX_SCANS:
        raise FmnistError(
            f"{name}: a JPEG of more than {MAX_SCANS} scans (a progressive photo has about "
            f"10), each a pass over the whole picture; {RESAVE}"
        )
    if segments > MAX_SEGMENTS:
        raise FmnistError(
            f"{name}: a JPEG of more than {MAX_SEGMENTS:,} marker segments (a photo has a "
            f"few dozen); {RESAVE}"
        )


def load_picture(path) -> np.ndarray:
    name = shown(path, limit=None)
    with open_regular_file(path) as picture_file:
        try:
            with warnings.catch_warnings():
                # Pillow warns from 89 million pixels on: MAX_PIXELS refuses them anyway.
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image = Image.open(picture_file, formats=FORMATS)
            with image:
                check_pixel_count(image, name)
                check_scan_count(image, picture_file, name)
                rawmode = image.tile[0].args if image.tile else None
                image.load()
                return to_model_input(image, decoded_colour_key(image, rawmode))
        except Image.DecompressionBombError:  # over twice Pillow's limit: refused in open()
            raise FmnistError(
                f"{name}: more than the {MAX_PIXELS:,} pixels predict decodes; {SHRINK}"
            ) from None
        except Image.UnidentifiedImageError:  # its text names the file object, not the file
            raise FmnistError(
                f"{name}: not a readable PNG or JPEG image (it starts like neither); {UNREADABLE}"
            ) from None
        except MALFORMED as exc:
            raise FmnistError(
                f"{name}: not a readable PNG or JPEG image ({shown(exc)}); {UNREADABLE}"
            ) from None
