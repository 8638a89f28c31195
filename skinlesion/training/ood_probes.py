"""Images that are not dermoscopy, to measure the "outside what I know" flag on: ordinary photos
that installed packages ship (scikit-learn's and matplotlib's sample images), and generated
non-images (flat colours, noise, text, a blank frame)."""

from pathlib import Path

import matplotlib
import numpy as np
import sklearn
from PIL import Image, ImageDraw

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
    frame = Image.new("RGB", size, (20, 20, 20))
    ImageDraw.Draw(frame).ellipse((40, 0, width - 40, height), fill=(235, 235, 235))
    images["blank dermoscope frame"] = frame
    return images
