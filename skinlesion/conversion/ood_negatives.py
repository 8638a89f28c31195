"""Pictures that are not dermoscopy, to train the out-of-distribution detector on: scikit-image's
sample photos (a person, a cat, coffee, a rocket, a motorcycle, coins, a page, bricks, grass,
gravel, a retina, histology, ...), 200 small face crops, and generated scenes, each seen as many
crops and zooms.

What users send by mistake is mostly a phone photo or a part of one, so a crop of a photo must be
as easy to flag as the photo. None of these sources is one of `ood_probes`' photos: the detector
is judged on photos it has never seen any crop of (split by source photo, never by crop).
"""

from collections.abc import Callable, Iterator

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from skimage import data as samples

# scikit-image's bundled sample images (none needs a download); a name per source photo.
PHOTOS: dict[str, Callable[[], np.ndarray]] = {
    "astronaut": samples.astronaut,
    "camera": samples.camera,
    "cat": samples.chelsea,
    "coffee": samples.coffee,
    "rocket": samples.rocket,
    "motorcycle": lambda: samples.stereo_motorcycle()[0],
    "horse": samples.horse,
    "coins": samples.coins,
    "moon": samples.moon,
    "page": samples.page,
    "text": samples.text,
    "brick": samples.brick,
    "grass": samples.grass,
    "gravel": samples.gravel,
    "hubble": samples.hubble_deep_field,
    "histology": samples.immunohistochemistry,
    "retina": samples.retina,
    "cells": samples.cell,
    "clock": samples.clock,
    "colour wheel": samples.colorwheel,
    "logo": samples.logo,
}
# The share of a photo's side a crop keeps: from a close-up of a quarter to the whole frame.
CROP_SCALES = (0.25, 1.0)
VIEWS_PER_PHOTO = 60
GENERATED = 400


def _rgb(pixels: np.ndarray) -> Image.Image:
    array = np.asarray(pixels)
    if array.dtype != np.uint8:  # boolean or float samples (the horse is a silhouette)
        array = (255 * (array.astype(np.float64) / max(float(array.max()), 1e-12))).astype(np.uint8)
    if array.ndim == 3 and array.shape[2] == 4:
        array = array[:, :, :3]
    return Image.fromarray(array).convert("RGB")


def photos() -> dict[str, Image.Image]:
    return {name: _rgb(load()) for name, load in PHOTOS.items()}


def faces() -> list[Image.Image]:
    """scikit-image's 100 face crops (Labeled Faces in the Wild, 25x25 grey); its other 100 are not faces."""
    return [_rgb(face) for face in samples.lfw_subset()[:100]]


def views(image: Image.Image, count: int, rng: np.random.Generator) -> Iterator[Image.Image]:
    """The whole image, then count - 1 random crops of it: a random share of each side, anywhere,
    sometimes mirrored, turned, grey or blurred, as a phone photo or a zoom on one arrives."""
    yield image
    width, height = image.size
    for _ in range(count - 1):
        scale = rng.uniform(*CROP_SCALES)
        w, h = max(8, round(width * scale)), max(8, round(height * scale * rng.uniform(0.75, 1.33)))
        h = min(h, height)
        left, top = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
        crop = image.crop((left, top, left + w, top + h))
        if rng.random() < 0.5:
            crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        if rng.random() < 0.25:
            crop = crop.transpose(Image.Transpose.ROTATE_90)
        if rng.random() < 0.15:
            crop = crop.convert("L").convert("RGB")
        if rng.random() < 0.15:
            crop = crop.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.5)))
        yield crop


def _smooth_noise(size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    """Blurred noise in two random colours: stone, fabric, paper, walls and plain skin look like this."""
    width, height = size
    field = Image.fromarray(rng.integers(0, 256, (height // 8, width // 8), dtype=np.uint8))
    field = field.resize(size, Image.Resampling.BICUBIC).filter(ImageFilter.GaussianBlur(rng.uniform(1, 6)))
    weight = np.asarray(field, dtype=np.float32)[..., None] / 255.0
    low, high = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    return Image.fromarray((low * (1 - weight) + high * weight).astype(np.uint8))


def _drawing(size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    """A gradient or flat background with shapes, lines and text: slides, screenshots, signs, logos."""
    width, height = size
    ramp = np.linspace(0.0, 1.0, width)[None, :, None] if rng.random() < 0.5 else np.zeros((1, 1, 1))
    start, end = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    background = np.broadcast_to(start * (1 - ramp) + end * ramp, (height, width, 3)).astype(np.uint8)
    image = Image.fromarray(background)
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(1, 12))):
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        x0, x1 = sorted(int(v) for v in rng.integers(0, width, 2))
        y0, y1 = sorted(int(v) for v in rng.integers(0, height, 2))
        shape = rng.integers(0, 4)
        if shape == 0:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
        elif shape == 1:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        elif shape == 2:
            draw.line((x0, y0, x1, y1), fill=colour, width=int(rng.integers(1, 12)))
        else:
            draw.text((x0, y0), "Invoice 2026 total due", fill=colour, font_size=int(rng.integers(10, 60)))
    return image


def generated(count: int, rng: np.random.Generator, size: tuple[int, int] = (400, 300)) -> list[Image.Image]:
    """count generated scenes, half textures and half drawings."""
    return [(_smooth_noise if i % 2 else _drawing)(size, rng) for i in range(count)]


def describe(views_per_photo: int = VIEWS_PER_PHOTO, n_generated: int = GENERATED) -> str:
    """What `negatives` holds, in words for the model card."""
    return (
        f"{len(PHOTOS)} scikit-image sample photos ({', '.join(PHOTOS)}) as {views_per_photo} views each "
        f"(the whole photo and random crops of {CROP_SCALES[0]:.0%} to {CROP_SCALES[1]:.0%} of its sides), "
        f"100 small face crops and {n_generated} generated textures and drawings"
    )


def negatives(
    views_per_photo: int = VIEWS_PER_PHOTO, n_generated: int = GENERATED, seed: int = 0
) -> tuple[list[Image.Image], list[str]]:
    """Every training negative and the source it comes from (for splitting by source)."""
    rng = np.random.default_rng(seed)
    images, sources = [], []
    for name, photo in photos().items():
        for view in views(photo, views_per_photo, rng):
            images.append(view)
            sources.append(name)
    for face in faces():
        images.append(face)
        sources.append("faces")
    for i, scene in enumerate(generated(n_generated, rng)):
        images.append(scene)
        sources.append(f"generated {i % 10}")
    return images, sources
