"""The one preprocessing definition: how an RGB image becomes a model input tensor.

Training and serving share it, so a file gives the same tensor on both sides: training scales
with `Preprocessor.preprocess`, and the served graph takes the resized uint8 pixels and applies
the same scaling inside itself (`PreprocessSpec.affine`). `Preprocessor` keeps the small surface
of keras-image-helper's preprocessors (`resize_image`, `preprocess`, `convert_to_tensor`) but is
the one path from a decoded image to a tensor: colour constancy included, and no download of
its own (images arrive through `serving/fetch.py`'s limits and `decode.py`'s checks). It resizes
bilinearly (the helper's nearest-neighbour aliases fine texture). Only numpy and Pillow are
needed: the serving side imports this without TensorFlow.
"""

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

RESAMPLING = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "nearest": Image.Resampling.NEAREST,
}

# torchvision's ImageNet statistics: the pretrained MobileNetV2 weights expect them.
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def _scale_torch(x: np.ndarray) -> np.ndarray:
    return (x / np.float32(255.0) - IMAGENET_MEAN) / IMAGENET_STD


def _scale_tf(x: np.ndarray) -> np.ndarray:
    return x / np.float32(127.5) - np.float32(1.0)


def _scale_lite(x: np.ndarray) -> np.ndarray:
    """(x - 127) / 128: Google's edge models (EfficientNet-Lite) were trained on this."""
    return (x - np.float32(127.0)) / np.float32(128.0)


def _scale_none(x: np.ndarray) -> np.ndarray:
    return x


SCALINGS = {"torch": _scale_torch, "tf": _scale_tf, "lite": _scale_lite, "none": _scale_none}


# Shades of Gray's norm: p = 6 is the value dermoscopy work settled on (Barata et al., IEEE JBHI 2015).
SHADES_OF_GRAY_POWER = 6


def shades_of_gray(pixels: np.ndarray) -> np.ndarray:
    """Colour constancy: divide out the light's colour, estimated per channel as the
    p-norm of the pixels (Finlayson & Trezzi, 2004), so that another device's or clinic's white
    balance (a gain per channel) gives the same pixels back, up to the light's overall strength
    (kept, as training's brightness jitter covers it). A 10 % cast costs a model without it
    up to 0.08 balanced accuracy (docs/training.md). uint8 HxWx3 in, uint8 out; a black image
    comes back unchanged. Histograms and lookup tables keep it to about 1 ms at 256x192."""
    levels = np.arange(256, dtype=np.float64)
    counts = np.stack([np.bincount(pixels[..., c].ravel(), minlength=256) for c in range(3)])
    light = (counts @ (levels / 255.0) ** SHADES_OF_GRAY_POWER / counts.sum(axis=1)) ** (
        1 / SHADES_OF_GRAY_POWER
    )
    if light.min() <= 0:
        return pixels
    gains = np.linalg.norm(light) / (light * np.sqrt(3.0))  # a grey light: gains of 1
    tables = np.clip(np.rint(gains[:, None] * levels), 0, 255).astype(np.uint8)
    return np.stack([tables[c][pixels[..., c]] for c in range(3)], axis=-1)


def _no_color_constancy(pixels: np.ndarray) -> np.ndarray:
    return pixels


COLOR_CONSTANCY = {"none": _no_color_constancy, "shades_of_gray": shades_of_gray}


def parse_size(text: str) -> tuple[int, int]:
    """'224' or '224x168' (width x height), as the command-line options write sizes."""
    width, _, height = text.lower().partition("x")
    return int(width), int(height or width)


@dataclass(frozen=True)
class PreprocessSpec:
    """What a model expects; stored in its model card."""

    input_size: tuple[int, int] = (224, 224)  # (width, height)
    resize: str = "bilinear"
    scaling: str = "torch"
    # The size of the images the model learnt from (HAM10000's copies: 200x150), when they share one.
    # A larger photo is first reduced to it, so a sharp 600x450 clinic photo reaches the model with
    # the detail of a training image rather than three times more (docs/results.md).
    source_size: tuple[int, int] | None = None
    # The JPEG quality the training images were stored at, when they share one (HAM10000's copies:
    # 75). A photo reduced to the source size is encoded and decoded once at it, so it carries the
    # compression every training image had: model 2.3 answered 18 % of the full-size photos
    # differently from their copies without it, 2 % with it (docs/results.md).
    source_jpeg_quality: int | None = None
    # Applied to the resized pixels, before the scaling: "shades_of_gray" or "none".
    color_constancy: str = "none"

    def __post_init__(self) -> None:
        if self.resize not in RESAMPLING:
            raise ValueError(f"unknown resize filter {self.resize!r}; one of {sorted(RESAMPLING)}")
        if self.scaling not in SCALINGS:
            raise ValueError(f"unknown scaling {self.scaling!r}; one of {sorted(SCALINGS)}")
        if self.color_constancy not in COLOR_CONSTANCY:
            raise ValueError(
                f"unknown colour constancy {self.color_constancy!r}; one of {sorted(COLOR_CONSTANCY)}"
            )
        if self.source_jpeg_quality is not None and not 1 <= self.source_jpeg_quality <= 100:
            raise ValueError(f"source JPEG quality must be in 1..100, got {self.source_jpeg_quality}")
        for name, size in (("input", self.input_size), ("source", self.source_size or (1, 1))):
            if len(size) != 2 or min(size) < 1:
                raise ValueError(f"{name} size must be two positive integers (width, height), got {size}")

    @property
    def decode_size(self) -> tuple[int, int]:
        """The smallest a JPEG is decoded to before the resize (`decode_image(min_size=...)`): twice
        the input, so the resize still averages 2x2 pixels or more. At the input size itself, a
        600x450 photo drafted to 300x225 changed 1 top-1 answer in 124 (docs/results.md); with
        this margin it is decoded whole, and a phone photo at 1/4 or 1/8 scale."""
        width, height = self.input_size
        return 2 * width, 2 * height

    def affine(self) -> tuple[np.ndarray, np.ndarray]:
        """The scaling as `pixels * scale + offset` per channel (every scaling here is affine):
        what the served graph applies to its uint8 input, derived from the one definition above."""
        scale_fn = SCALINGS[self.scaling]  # in float64: f(1) - f(0) cancels most of float32's digits
        offset = scale_fn(np.zeros((1, 3), np.float64))[0]
        return scale_fn(np.ones((1, 3), np.float64))[0] - offset, offset

    def reduces(self, size: tuple[int, int]) -> bool:
        """Whether an image of this size is first reduced to `source_size` (and compressed at
        `source_jpeg_quality`): only when it is larger and at least as large both ways. A smaller
        or narrower image keeps every pixel it has; one at the source size, a training image
        itself, already has the detail and the compression the model learnt."""
        if self.source_size is None or tuple(size) == tuple(self.source_size):
            return False
        return size[0] >= self.source_size[0] and size[1] >= self.source_size[1]

    def to_card(self) -> dict[str, Any]:
        card: dict[str, Any] = {
            "input_size": list(self.input_size),
            "resize": self.resize,
            "scaling": self.scaling,
        }
        if self.source_size is not None:
            card["source_size"] = list(self.source_size)
        if self.source_jpeg_quality is not None:
            card["source_jpeg_quality"] = self.source_jpeg_quality
        if self.color_constancy != "none":
            card["color_constancy"] = self.color_constancy
        return card

    @classmethod
    def from_card(cls, card: dict[str, Any]) -> "PreprocessSpec":
        width, height = card["input_size"]
        source = card.get("source_size")  # absent in cards written before it existed: no reduction
        return cls(
            input_size=(int(width), int(height)),
            resize=card["resize"],
            scaling=card["scaling"],
            source_size=None if source is None else (int(source[0]), int(source[1])),
            source_jpeg_quality=card.get("source_jpeg_quality"),  # absent before it existed: none
            color_constancy=card.get("color_constancy", "none"),  # absent in cards before it existed
        )


def jpeg_round_trip(img: Image.Image, quality: int) -> Image.Image:
    """The image through one JPEG encode and decode at `quality` (Pillow's 4:2:0 chroma), as
    the training copies went; about 0.3 ms at 200x150."""
    buffer = io.BytesIO()
    img.save(buffer, "JPEG", quality=quality)
    with Image.open(buffer) as decoded:
        return decoded.convert("RGB")


class Preprocessor:
    """A decoded RGB image -> the model's input, as a `PreprocessSpec` says."""

    def __init__(self, spec: PreprocessSpec) -> None:
        self.spec = spec

    def resize_image(self, img: Image.Image) -> Image.Image:
        """To the input size, through the training images' size and JPEG quality when the card
        has them and the image is larger."""
        if img.mode != "RGB":
            img = img.convert("RGB")
        if self.spec.reduces(img.size):
            img = img.resize(self.spec.source_size, RESAMPLING[self.spec.resize])
            if self.spec.source_jpeg_quality is not None:
                img = jpeg_round_trip(img, self.spec.source_jpeg_quality)
        return img.resize(self.spec.input_size, RESAMPLING[self.spec.resize])

    def resized_array(self, img: Image.Image) -> np.ndarray:
        """The resized image as uint8 HxWx3, colour-corrected if the card says so: what training
        caches before augmentation and scaling, and what the served graph takes."""
        return COLOR_CONSTANCY[self.spec.color_constancy](np.asarray(self.resize_image(img), dtype=np.uint8))

    def preprocess(self, x: np.ndarray) -> np.ndarray:
        """The card's scaling of uint8 pixels (any leading shape) to float32."""
        return SCALINGS[self.spec.scaling](np.asarray(x, dtype=np.float32)).astype(np.float32)

    def convert_to_tensor(self, img: Image.Image) -> np.ndarray:
        """A batch of one, (1, H, W, 3) float32: `preprocess(resized_array(img))`."""
        return self.preprocess(self.resized_array(img)[None])
