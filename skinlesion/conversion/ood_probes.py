"""Images that are not dermoscopy, to measure the "outside what I know" flag on: ordinary photos
that installed packages ship (scikit-learn's and matplotlib's sample images), crops of them, and
generated non-images (flat colours, noise, text, a gradient, a blank frame).

Held apart: the detector is fitted on other photos (`ood_negatives`), never on these or any crop
of them, so what it catches here is what it does on photos it has not seen.
"""

from pathlib import Path

import matplotlib
import numpy as np
import sklearn
from PIL import Image, ImageDraw

from skinlesion.conversion.ood_negatives import views

PHOTOS = {
    "sklearn china.jpg": Path(sklearn.__file__).parent / "datasets" / "images" / "china.jpg",
    "sklearn flower.jpg": Path(sklearn.__file__).parent / "datasets" / "images" / "flower.jpg",
    "matplotlib grace_hopper.jpg": Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg",
    "matplotlib Minduka_Present_Blue_Pack.png": Path(matplotlib.get_data_path())
    / "sample_data"
    / "Minduka_Present_Blue_Pack.png",
    "matplotlib logo2.png": Path(matplotlib.get_data_path()) / "sample_data" / "logo2.png",
}


def photos() -> dict[str, Image.Image]:
    return {name: Image.open(path).convert("RGB") for name, path in PHOTOS.items()}


def crops(random_per_photo: int = 20, seed: int = 123) -> dict[str, Image.Image]:
    """Parts of each photo: its centre half and 60 % (a zoom on the middle, as an independent check
    cut them), then random crops and zooms of a quarter of the sides and up."""
    rng = np.random.default_rng(seed)
    parts = {}
    for name, photo in photos().items():
        width, height = photo.size
        for share in (0.5, 0.6):
            w, h = round(width * share), round(height * share)
            left, top = (width - w) // 2, (height - h) // 2
            parts[f"{name}, centre {share:.0%}"] = photo.crop((left, top, left + w, top + h))
        random_views = list(views(photo, random_per_photo + 1, rng))[1:]  # the first is the whole photo
        parts.update({f"{name}, crop {i + 1}": view for i, view in enumerate(random_views)})
    return parts


def generated(size: tuple[int, int] = (600, 450), seed: int = 0) -> dict[str, Image.Image]:
    rng = np.random.default_rng(seed)
    width, height = size
    images = {
        f"flat {name}": Image.new("RGB", size, colour)
        for name, colour in {
            "black": (0, 0, 0),
            "white": (255, 255, 255),
            "grey": (128, 128, 128),
            "skin": (224, 172, 140),
            "red": (200, 30, 30),
        }.items()
    }
    images["uniform noise"] = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    gaussian = rng.normal(128, 40, (height, width, 3)).clip(0, 255).astype(np.uint8)
    images["gaussian noise"] = Image.fromarray(gaussian)
    text = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(text)
    for row in range(0, height, 24):
        draw.text((10, row), "Patient record: lesion on the left shoulder, 6 mm, follow-up", fill=(0, 0, 0))
    images["text on white"] = text
    ramp = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    images["gradient"] = Image.fromarray(np.broadcast_to(ramp, (height, width, 3)).astype(np.uint8))
    frame = Image.new("RGB", size, (20, 20, 20))
    ImageDraw.Draw(frame).ellipse((40, 0, width - 40, height), fill=(235, 235, 235))
    images["blank dermoscope frame"] = frame
    return images
