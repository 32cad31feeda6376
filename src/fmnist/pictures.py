"""Your own pictures brought to what the model saw in training: grayscale, 28x28, values in
[0, 1], a light garment on a dark background (a picture with a light background is
inverted). Pictures are untrusted input: any failure to read one is one FmnistError."""

import numpy as np
from PIL import Image, ImageOps

from . import FmnistError
from .lesson.fashion_mnist import IMAGE_SIDE, NUM_FEATURES

FORMATS = ("PNG", "JPEG")


def grayscale(image: Image.Image) -> Image.Image:
    """Any PNG or JPEG mode -> 8-bit grayscale ("L")."""
    if image.mode.startswith("I;16"):  # 16-bit grayscale PNG: convert("L") would clip, not scale
        return Image.fromarray((np.asarray(image, dtype=np.float64) / 257).round().astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        # Transparent parts shown as a viewer shows them: on white.
        image = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image.convert("RGBA"))
    return image.convert("L")


def has_light_background(gray: Image.Image) -> bool:
    """The frame of a picture of one garment is background; the garment is in the middle.
    Its median (robust to a garment touching an edge) says whether the background is light,
    as in product photos, or dark, as in Fashion-MNIST."""
    pixels = np.asarray(gray)
    frame = np.concatenate([pixels[0], pixels[-1], pixels[1:-1, 0], pixels[1:-1, -1]])
    return float(np.median(frame)) > 127.5


def to_model_input(image: Image.Image) -> np.ndarray:
    """float32 (784,) in [0, 1]: a light garment on black, the longer side 28 pixels, centred."""
    gray = grayscale(ImageOps.exif_transpose(image))  # phone photos store their rotation
    if has_light_background(gray):
        gray = ImageOps.invert(gray)
    # BOX: each output pixel is the mean of the pixels it covers (no ringing when shrinking).
    # A 28x28 picture is left as it is.
    fitted = ImageOps.contain(gray, (IMAGE_SIDE, IMAGE_SIDE), method=Image.Resampling.BOX)
    square = Image.new("L", (IMAGE_SIDE, IMAGE_SIDE), 0)  # pad the shorter side with black
    square.paste(fitted, ((IMAGE_SIDE - fitted.width) // 2, (IMAGE_SIDE - fitted.height) // 2))
    return (np.asarray(square, dtype=np.float32) / np.float32(255)).reshape(NUM_FEATURES)


def load_picture(path) -> np.ndarray:
    try:
        with Image.open(path, formats=FORMATS) as image:
            image.load()
            return to_model_input(image)
    except FileNotFoundError:
        raise FmnistError(f"{path}: no such file") from None
    except (OSError, Image.DecompressionBombError) as exc:  # not an image, truncated, a dir
        raise FmnistError(f"{path}: not a readable PNG or JPEG image ({exc})") from None
