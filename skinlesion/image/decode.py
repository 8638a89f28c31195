"""Image bytes -> RGB Pillow image, refusing anything that could exhaust the function.

Shared with training, so a file decodes identically on both sides. The pixel cap's default,
`MAX_PIXELS`, lives here; serving passes its `Settings.max_pixels` (the `MAX_PIXELS` variable).
"""

import io
import warnings

import numpy as np
from PIL import Image, ImageFile, ImageOps, JpegImagePlugin, UnidentifiedImageError

from skinlesion.contract import ServiceError

# Multi-picture JPEGs from cameras (MPO) open through the JPEG decoder.
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF")

# Truncated files must fail loudly rather than be padded with grey.
ImageFile.LOAD_TRUNCATED_IMAGES = False

ORIENTATION_TAG = 0x0112
# EXIF orientations that turn the stored image a quarter turn: its width becomes the displayed height.
TRANSPOSING_ORIENTATIONS = (5, 6, 7, 8)

# A 40-megapixel photo decodes to 120 MB of RGB: room for any dermatoscope or phone camera, and
# still well inside the function's memory beside the model.
MAX_PIXELS = 40_000_000


def decode_image(
    data: bytes, max_pixels: int = MAX_PIXELS, *, min_size: tuple[int, int] | None = None
) -> Image.Image:
    """Decode the first frame of an image file to RGB with EXIF orientation applied.

    The pixel count is checked from the header before any pixel is decoded, so a small
    file that declares a huge canvas (a decompression bomb) costs nothing.

    `min_size` (width, height; the model's input size) lets a JPEG decode at 1/2, 1/4 or 1/8
    scale in libjpeg itself, never below that size once oriented: the 600x450 clinic photo is
    resized to 256x192 anyway, so decoding it at 300x225 skips pixels the resize would average
    away (decode about 20% cheaper, decode plus resize about 30%; entropy decoding stays full
    size) and the model sees nearly the same image (`python -m bench.draft_decode`). Other
    formats have no such shortcut and ignore it.
    """
    if not data:
        raise ServiceError("not_an_image", "the image is empty")
    try:
        with warnings.catch_warnings():
            # Our own cap is far below Pillow's bomb threshold; its warning is noise here.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except UnidentifiedImageError:
        raise ServiceError(
            "not_an_image", "the data is not an image in a supported format (JPEG, PNG, WebP, BMP, GIF, TIFF)"
        ) from None
    except Image.DecompressionBombError:
        raise ServiceError("too_many_pixels", f"the image has more than {max_pixels:,} pixels") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ServiceError("undecodable_image", f"the image header cannot be read: {exc}") from None

    width, height = img.size
    if width * height > max_pixels:
        raise ServiceError(
            "too_many_pixels",
            f"the image is {width}x{height} = {width * height:,} pixels; the limit is {max_pixels:,}",
        )
    if width < 1 or height < 1:
        raise ServiceError("undecodable_image", f"the image has an empty size {width}x{height}")
    try:
        if min_size is not None and isinstance(img, JpegImagePlugin.JpegImageFile):  # MPO included
            _draft(img, min_size)
        img.load()  # first frame only: animated GIFs and multi-page TIFFs are not expanded
        img = _apply_orientation(img)
        return _to_rgb(img)
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
        raise ServiceError("undecodable_image", f"the image data is corrupt or truncated: {exc}") from None


def _draft(img: JpegImagePlugin.JpegImageFile, min_size: tuple[int, int]) -> None:
    """Ask libjpeg for the coarsest 1/2, 1/4 or 1/8 scale still covering `min_size` once the EXIF
    orientation has turned the image; Pillow's `draft` never picks a scale below the size it is given."""
    try:
        orientation = img.getexif().get(ORIENTATION_TAG)
    except (KeyError, ValueError, TypeError, SyntaxError):
        return  # a broken EXIF block: decode at full size rather than guess which way it is turned
    width, height = min_size
    img.draft("RGB", (height, width) if orientation in TRANSPOSING_ORIENTATIONS else (width, height))


def _apply_orientation(img: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(img)
    except (KeyError, ValueError, TypeError, SyntaxError):
        return img  # a broken EXIF block should not make an otherwise good image unusable


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode == "RGB":
        return img
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        # Pillow's own conversion clips 16-bit values at 255; rescale the full range instead.
        pixels = np.asarray(img, dtype=np.float64)
        peak = pixels.max() if pixels.size else 0.0
        scale = 255.0 / 65535.0 if peak > 255.0 else 1.0
        grey = np.clip(pixels * scale, 0.0, 255.0).round().astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    if img.mode == "P":
        img = img.convert("RGBA") if "transparency" in img.info else img.convert("RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")
