"""How a converted model's answers hold up when the light or the camera's white balance differs.

Why: HAM10000 comes from two clinics' cameras; a clinic elsewhere has its own light and white
balance, which reaches the model as a gain on each colour channel. This scores the validation
images as they are and under such casts (each image's channels scaled before the resize, as a
camera would), through the served numeric path (the card's resize and colour constancy, the
`.tflite`): balanced accuracy and its change with a 95 % interval by lesion, melanoma recall, and
how many answers stay the same. Prints figures; asserts none. Example, the shipped model against
a candidate:

    python -m skinlesion.analysis.color_cast models/skin-lesion-class_v3.tflite runs/x/candidate.tflite
"""

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from skinlesion import dataset
from skinlesion.analysis.compare import add_validation_options, validation_rows
from skinlesion.analysis.evaluate import MELANOMA, paired_difference
from skinlesion.image.decode import decode_image
from skinlesion.image.preprocessing import Preprocessor
from skinlesion.inference import LesionModel
from skinlesion.paths import DEFAULT_MODEL_PATH

# Gains on (red, green, blue): a warmer and a cooler light, a green and a magenta tint, by 10 %,
# and a strong warm cast; 10 % is within what white balance differs by between cameras.
CASTS: dict[str, tuple[float, float, float]] = {
    "none": (1.0, 1.0, 1.0),
    "warm 10 %": (1.1, 1.0, 0.9),
    "cool 10 %": (0.9, 1.0, 1.1),
    "green 10 %": (1.0, 1.1, 1.0),
    "magenta 10 %": (1.0, 0.9, 1.0),
    "warm 15 %": (1.15, 1.0, 0.85),
}


def cast(image: Image.Image, gains: tuple[float, float, float]) -> Image.Image:
    """The image with each channel scaled by its gain, clipped to 8 bits."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32) * np.asarray(gains, dtype=np.float32)
    return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8))


def cast_probabilities(
    model: LesionModel, images: list[Image.Image], casts: dict[str, tuple[float, float, float]]
) -> dict[str, np.ndarray]:
    """The model's probabilities for every image under each cast, preprocessed as its card says."""
    preprocessor = Preprocessor(model.card.preprocessing)
    return {
        name: model.predict(np.stack([preprocessor.resized_array(cast(image, gains)) for image in images]))
        for name, gains in tqdm(casts.items(), desc="casts", unit="cast")
    }


def cast_figures(
    probabilities: dict[str, np.ndarray], y_true: np.ndarray, lesions: np.ndarray, n_boot: int
) -> dict[str, dict[str, float | list[float] | None]]:
    """Per cast: balanced accuracy, its change from no cast (paired by lesion), melanoma recall and
    the share of top-1 answers that stay as without a cast."""
    plain = probabilities["none"]
    figures = {}
    for name, probs in probabilities.items():
        change = paired_difference(y_true, plain, probs, lesions, n_boot, only=["balanced_accuracy"])[
            "balanced_accuracy"
        ]
        figures[name] = {
            "balanced_accuracy": change["b"],
            "change": change["difference"],
            "interval": change["interval"],
            "melanoma_recall": float((probs[y_true == MELANOMA].argmax(axis=1) == MELANOMA).mean()),
            "top1_unchanged": float((probs.argmax(axis=1) == plain.argmax(axis=1)).mean()),
        }
    return figures


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "models",
        type=Path,
        nargs="*",
        default=[DEFAULT_MODEL_PATH],
        help=f".tflite files, each with its .json card beside it (default: {DEFAULT_MODEL_PATH})",
    )
    add_validation_options(p)
    p.add_argument("--json", type=Path, default=None, help="also write the figures here, by model and cast")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    val = validation_rows(args)
    images = [
        decode_image(Path(path).read_bytes())
        for path in tqdm(val["path"], desc="decoding validation", unit="img")
    ]
    y_true, lesions = dataset.labels(val["dx"]), val["lesion_id"].to_numpy()
    results, constancies = {}, {}
    for path in args.models:
        model = LesionModel.load(path, num_threads=2)
        constancies[str(path)] = model.card.preprocessing.color_constancy
        results[str(path)] = cast_figures(
            cast_probabilities(model, images, CASTS), y_true, lesions, args.n_boot
        )
    print(f"{len(val)} validation images, {val['lesion_id'].nunique()} lesions; 95 % intervals by lesion")
    for path, figures in results.items():
        print(f"\n{path} (colour constancy: {constancies[path]})")
        print(
            f"{'cast':16s}{'bal. acc.':>10s}   change [95 % interval]{'mel recall':>12s}{'top-1 same':>12s}"
        )
        for name, f in figures.items():
            low, high = f["interval"] or (float("nan"), float("nan"))
            print(
                f"{name:16s}{f['balanced_accuracy']:10.3f}   {f['change']:+.3f} [{low:+.3f}, {high:+.3f}]"
                f"{f['melanoma_recall']:12.3f}{f['top1_unchanged']:12.1%}"
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
