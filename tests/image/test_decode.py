import io

import numpy as np
import pytest
from PIL import Image

from skinlesion.contract import ServiceError
from skinlesion.image.decode import decode_image
from tests.support.errors import expect_error
from tests.support.images import encode, jpeg, lesion_like, png_declaring


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF"])
def test_every_accepted_format_decodes_to_rgb(fmt: str) -> None:
    img = decode_image(encode(lesion_like(40, 30), fmt))
    assert img.mode == "RGB"
    assert img.size == (40, 30)


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "CMYK", "1", "I", "F"])
def test_every_mode_becomes_rgb(mode: str) -> None:
    source = lesion_like(32, 24).convert(mode)
    fmt = "JPEG" if mode == "CMYK" else "TIFF" if mode in ("I", "F") else "PNG"
    img = decode_image(encode(source, fmt))
    assert img.mode == "RGB"
    assert img.size == (32, 24)


def test_sixteen_bit_greyscale_keeps_its_full_range() -> None:
    ramp = np.linspace(0, 65535, 64, dtype=np.uint16).reshape(8, 8)
    img = decode_image(encode(Image.fromarray(ramp), "PNG"))
    pixels = np.asarray(img)
    assert pixels.min() == 0 and pixels.max() == 255  # not clipped to white after the first 255 levels
    assert len(np.unique(pixels[..., 0])) > 50


def test_transparent_pixels_become_white() -> None:
    rgba = Image.new("RGBA", (4, 4), (10, 20, 30, 0))
    assert decode_image(encode(rgba, "PNG")).getpixel((0, 0)) == (255, 255, 255)


def test_exif_orientation_is_applied() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    data = encode(lesion_like(40, 20), "JPEG", exif=exif.tobytes())
    assert decode_image(data).size == (20, 40)


def test_animated_gif_gives_its_first_frame() -> None:
    frames = [Image.new("RGB", (8, 8), colour) for colour in [(255, 0, 0), (0, 0, 255), (0, 255, 0)]]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=10)
    red, green, blue = decode_image(buffer.getvalue()).getpixel((4, 4))
    assert red > 200 and green < 50 and blue < 50


@pytest.mark.parametrize("size", [(1, 1), (1, 100_000), (100_000, 1), (3, 2000)])
def test_tiny_and_oddly_shaped_images_decode(size: tuple[int, int]) -> None:
    assert decode_image(encode(Image.new("RGB", size, (200, 100, 50)), "PNG")).size == size


def test_decompression_bomb_is_refused_from_its_header() -> None:
    bomb = png_declaring(50_000, 50_000)
    assert len(bomb) < 200
    with pytest.raises(ServiceError) as caught:
        decode_image(bomb)
    assert caught.value.status == 413 and caught.value.code == "too_many_pixels"


def test_pixel_cap_is_configurable() -> None:
    data = encode(Image.new("RGB", (100, 100)), "PNG")
    assert decode_image(data, max_pixels=10_000).size == (100, 100)
    with expect_error("too_many_pixels"):
        decode_image(data, max_pixels=9_999)


def test_truncated_jpeg_is_undecodable() -> None:
    data = jpeg(200, 150)
    with pytest.raises(ServiceError) as caught:
        decode_image(data[: len(data) // 2])
    assert caught.value.status == 422


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"<html><body>not an image</body></html>",
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n",
        b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + b"\0" * 40,
        b"hello world",
    ],
    ids=["empty", "html", "pdf", "zip", "text"],
)
def test_non_images_are_refused_as_such(data: bytes) -> None:
    with pytest.raises(ServiceError) as caught:
        decode_image(data)
    assert caught.value.status == 415


def test_unsupported_image_formats_are_refused() -> None:
    with expect_error("not_an_image"):
        decode_image(encode(Image.new("RGB", (8, 8)), "ICO"))


CLINIC = (256, 192)  # the shipped model's input size (width, height)


@pytest.mark.parametrize(
    ("stored", "min_size", "decoded"),
    [
        ((1200, 900), CLINIC, (300, 225)),  # 1/4: 1/8 would give 150x113, below 256x192
        ((600, 450), CLINIC, (300, 225)),  # the HAM10000 clinic photo: 1/2
        ((1200, 900), (500, 400), (600, 450)),  # 1/2
        ((1200, 900), (301, 192), (600, 450)),  # 1/4 would be one pixel too narrow
        ((1200, 900), (100, 75), (150, 113)),  # 1/8, rounded up by libjpeg
        ((1200, 900), None, (1200, 900)),
        ((200, 150), CLINIC, (200, 150)),  # already smaller: never decoded below its own size
    ],
)
def test_jpeg_is_decoded_at_the_coarsest_scale_covering_min_size(
    stored: tuple[int, int], min_size: tuple[int, int] | None, decoded: tuple[int, int]
) -> None:
    img = decode_image(jpeg(*stored), min_size=min_size)
    assert img.size == decoded
    assert img.mode == "RGB"


def test_drafted_jpeg_shows_the_same_picture_smaller() -> None:
    data = jpeg(1200, 900)
    drafted = decode_image(data, min_size=CLINIC)
    full = decode_image(data).resize(drafted.size, Image.Resampling.BOX)
    difference = np.abs(np.asarray(drafted, dtype=float) - np.asarray(full, dtype=float))
    assert difference.mean() < 4


def test_exif_rotated_jpeg_is_drafted_to_cover_min_size_once_turned() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 1200x900, displayed 900x1200
    data = encode(lesion_like(1200, 900), "JPEG", quality=90, exif=exif.tobytes())
    img = decode_image(data, min_size=CLINIC)
    # Drafting for 256x192 unturned would pick 1/4 (300x225), only 225 wide once turned.
    assert img.size == (450, 600)
    full = decode_image(data).resize(img.size, Image.Resampling.BOX)
    assert np.abs(np.asarray(img, dtype=float) - np.asarray(full, dtype=float)).mean() < 4


@pytest.mark.parametrize("mode", ["L", "CMYK"])
def test_drafted_jpeg_of_any_mode_is_rgb(mode: str) -> None:
    data = encode(lesion_like(1200, 900).convert(mode), "JPEG")
    img = decode_image(data, min_size=CLINIC)
    assert img.mode == "RGB"
    assert img.size == (300, 225)


def test_camera_multi_picture_jpeg_is_drafted() -> None:
    second = lesion_like(1200, 900, seed=1)
    data = encode(lesion_like(1200, 900), "MPO", save_all=True, append_images=[second])
    assert decode_image(data, min_size=CLINIC).size == (300, 225)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_other_formats_ignore_min_size(fmt: str) -> None:
    data = encode(lesion_like(1200, 900), fmt)
    assert decode_image(data, min_size=(100, 75)).size == (1200, 900)


def test_pixel_cap_applies_to_the_stored_size_not_the_drafted_one() -> None:
    with expect_error("too_many_pixels"):
        decode_image(jpeg(1200, 900), max_pixels=1_000_000, min_size=(100, 75))
