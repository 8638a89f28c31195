"""Compare two converted models on the same validation images: B minus A, paired, by lesion.

Each model's own intervals (its card) are wide on ~1,500 validation lesions; scoring both on
the same bootstrap resamples shows whether one is really better. Example, the shipped model
against its predecessor from git history:

    git show d5d3f92:models/skin-lesion-class_v1.tflite > /tmp/v1.tflite
    python -m skinlesion.training.compare /tmp/v1.tflite models/skin-lesion-class_v2.tflite

Each model gets its own input (size and scaling from its own card), so a model trained at
another resolution or with another backbone compares as it is served.
"""

import argparse
import json
from pathlib import Path

import numpy as np

from skinlesion import paths
from skinlesion.image.preprocessing import Preprocessor
from skinlesion.paths import DEFAULT_MODEL_PATH
from skinlesion.serving.model import LesionModel
from skinlesion.training import data
from skinlesion.training.evaluate import paired_difference


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model_a", type=Path, help="the reference .tflite (e.g. the model shipped before)")
    p.add_argument("model_b", type=Path, help="the candidate .tflite (each model's .json card beside it)")
    p.add_argument(
        "--split",
        type=Path,
        default=DEFAULT_MODEL_PATH.with_name(DEFAULT_MODEL_PATH.stem + "_split.csv"),
        help="split CSV whose validation images both models are scored on",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=paths.default_data_dir(),
        help="HAM10000 folder (default: $HAM10000_DIR)",
    )
    p.add_argument("--n-boot", type=int, default=1000, help="lesion resamples")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    return p.parse_args()


def probabilities(model: Path, images: list[Path]) -> np.ndarray:
    """The model's validation probabilities, its images resized as its card says."""
    loaded = LesionModel.load(model, num_threads=2)
    return loaded.predict(data.load_images(images, Preprocessor(loaded.card.preprocessing), model.name))


def main() -> None:
    args = parse_args()
    meta = data.load_metadata(args.data_dir).merge(data.read_split(args.split), on="image_id")
    val = meta[meta["split"] == "val"]
    probs_a = probabilities(args.model_a, list(val["path"]))
    probs_b = probabilities(args.model_b, list(val["path"]))
    result = paired_difference(
        data.labels(val["dx"]), probs_a, probs_b, val["lesion_id"].to_numpy(), n_boot=args.n_boot
    )
    print(f"A = {args.model_a.name}, B = {args.model_b.name}; {len(val)} validation images, "
          f"{val['lesion_id'].nunique()} lesions, 95 % paired intervals by lesion")  # fmt: skip
    print(f"{'figure':46s}{'A':>7s}{'B':>7s}   B - A [95 % interval]")
    for name, r in result.items():
        low, high = r["interval"]
        print(f"{name:46s}{r['a']:7.3f}{r['b']:7.3f}   {r['difference']:+.3f} [{low:+.3f}, {high:+.3f}]")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
