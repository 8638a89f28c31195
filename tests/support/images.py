"""Small real image files built in memory, in every format and mode the service accepts."""

import io

import numpy as np
from PIL import Image


def lesion_like(width: int = 120, height: int = 90, seed: int = 0) -> Image.Image:
    """A skin-toned field with a dark irregular blob: enough structure to give a model work."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    radius = min(width, height) * (0.25 + 0.1 * rng.random())
    blob = ((xx - width / 2) ** 2 + (yy - height / 2) ** 2) < radius**2
    pixels = np.empty((height, width, 3), dtype=np.uint8)
    pixels[...] = (224, 172, 150)
    pixels[blob] = (90, 50, 40)
    noise = rng.integers(-12, 12, size=pixels.shape)
    return Image.fromarray(np.clip(pixels.astype(int) + noise, 0, 255).astype(np.uint8))


def encode(img: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def jpeg(width: int = 120, height: int = 90, seed: int = 0) -> bytes:
    return encode(lesion_like(width, height, seed), "JPEG", quality=90)
