"""Small real image files built in memory, in every format and mode the service accepts."""

import io
import struct
import zlib

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


def png_declaring(width: int, height: int) -> bytes:
    """A ~100-byte PNG whose header claims width x height pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )
