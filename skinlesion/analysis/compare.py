"""Compare two converted models on the same validation images: B minus A, paired, by lesion.

Each model's own intervals (its card) are wide on ~1,500 validation lesions; scoring both on
the same bootstrap resamples shows whether one is really better. Example, the shipped model
against its predecessor from git history:

    git show e4c1a11:models/skin-lesion-class_v2.tflite > /tmp/v2.tflite
    git show e4c1a11:models/skin-lesion-class_v2.json > /tmp/v2.json
    python -m skinlesion.analysis.compare /tmp/v2.tflite models/skin-lesion-class_v3.tflite

Each model gets its own input (size and scaling from its own card), so a model trained at
another resolution or with another backbone compares as it is served. A run folder of
`train.py` in place of a `.tflite` brings its best checkpoint's saved validation probabilities
(`val_probabilities.npy`, Keras as trained): two runs compare in seconds, before any conversion,
e.g. two backbones on a second split seed:

    python -m skinlesion.analysis.compare runs/a-seed7 runs/b-seed7 --split runs/a-seed7/split.csv

Several candidates after A are scored as one ensemble, the mean of their probabilities:

    python -m skinlesion.analysis.compare runs/a runs/a runs/b    # A against the ensemble of A and B

`--images DIR` scores both on a labelled folder instead (`labels.csv` and `images/`, as
`train.py --extra-data` takes), e.g. a clinic neither model trained on (`clinic_split`); a run
folder's best checkpoint then runs in Keras on those images. Such a folder has no lesion ids, so
its intervals resample images: narrower than they should be where a lesion has several.
"""

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from skinlesion import dataset, paths
from skinlesion.analysis.evaluate import paired_difference
from skinlesion.image.preprocessing import Preprocessor, PreprocessSpec
from skinlesion.inference import LesionModel
from skinlesion.paths import (
    DEFAULT_MODEL_PATH,
    RUN_BEST_MODEL_FILE,
    RUN_SPLIT_FILE,
    RUN_SUMMARY_FILE,
    RUN_VAL_PROBABILITIES_FILE,
)

PREDICT_CHUNK = 256  # images scaled to float32 at a time (256x192: 150 MB)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "model_a", type=Path, help="the reference: a .tflite (e.g. the model shipped before) or a run folder"
    )
    p.add_argument(
        "model_b",
        type=Path,
        nargs="+",
        help="the candidate: a .tflite (its .json card beside it) or a run folder; several: the mean of "
        "their probabilities (an ensemble)",
    )
    add_validation_options(p)
    p.add_argument(
        "--images",
        type=Path,
        default=None,
        help="score on this labelled folder (labels.csv: image,dx; the files in images/) instead of "
        "--split's validation images, e.g. runs/clinics/msk of `python -m skinlesion.analysis.clinic_split`",
    )
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    return p.parse_args()


def add_validation_options(p: argparse.ArgumentParser) -> None:
    """--split, --data-dir and --n-boot: which validation images models are scored on, and how
    many lesion resamples each interval takes (this module and `color_cast` share them)."""
    p.add_argument(
        "--split",
        type=Path,
        default=DEFAULT_MODEL_PATH.with_name(DEFAULT_MODEL_PATH.stem + "_split.csv"),
        help="split CSV whose validation images the models are scored on",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=paths.default_data_dir(),
        help="HAM10000 folder (default: $HAM10000_DIR)",
    )
    p.add_argument("--n-boot", type=int, default=1000, help="lesion resamples of each interval")


def split_rows(args: argparse.Namespace) -> pd.DataFrame:
    """The metadata rows of --split's images, each with its `split`, in metadata order."""
    return dataset.load_metadata(args.data_dir).merge(dataset.read_split(args.split), on="image_id")


def validation_rows(args: argparse.Namespace) -> pd.DataFrame:
    """The metadata rows of --split's validation images, in metadata order."""
    rows = split_rows(args)
    return rows[rows["split"] == "val"]


def probabilities(model: Path, val: pd.DataFrame, validation: bool = True) -> np.ndarray:
    """The model's probabilities on `val`'s images: a .tflite on them resized as its card says; a
    run folder's saved ones for `validation` images (refused unless the run was validated on
    exactly these), else its best checkpoint's."""
    if model.is_dir() and not validation:
        return checkpoint_probabilities(model, val)
    if model.is_dir():
        run_split = model / RUN_SPLIT_FILE
        if set(dataset.read_split(run_split).query("split == 'val'")["image_id"]) != set(val["image_id"]):
            raise SystemExit(f"{model} was validated on other images than --split's; try --split {run_split}")
        return np.load(model / RUN_VAL_PROBABILITIES_FILE)  # the run's validation rows, in metadata order
    loaded = LesionModel.load(model, num_threads=2)
    pixels = dataset.load_images(list(val["path"]), Preprocessor(loaded.card.preprocessing), model.name)
    return loaded.predict(pixels)


def checkpoint_probabilities(run: Path, rows: pd.DataFrame) -> np.ndarray:
    """A run's best checkpoint in Keras on `rows`' images, preprocessed as its summary says.
    TensorFlow is imported here only: comparing saved validation probabilities needs none."""
    import keras

    spec = PreprocessSpec.from_card(json.loads((run / RUN_SUMMARY_FILE).read_text())["preprocessing"])
    pre = Preprocessor(spec)
    pixels = dataset.load_images(list(rows["path"]), pre, run.name)
    model = keras.models.load_model(run / RUN_BEST_MODEL_FILE, compile=False)
    return np.concatenate(
        [
            model.predict(pre.preprocess(pixels[i : i + PREDICT_CHUNK]), verbose=0)
            for i in range(0, len(pixels), PREDICT_CHUNK)
        ]
    )


def print_paired(result: dict[str, dict]) -> None:
    """A `paired_difference` result as a table: each figure for A and B, and B - A with its interval."""
    print(f"{'figure':46s}{'A':>7s}{'B':>7s}   B - A [95 % interval]")
    for name, r in result.items():
        low, high = r["interval"]
        print(f"{name:46s}{r['a']:7.3f}{r['b']:7.3f}   {r['difference']:+.3f} [{low:+.3f}, {high:+.3f}]")


def main() -> None:
    args = parse_args()
    validation = args.images is None
    rows = validation_rows(args) if validation else dataset.load_extra(args.images)
    groups = rows["lesion_id"] if validation else rows["image_id"]
    probs_a = probabilities(args.model_a, rows, validation)
    probs_b = np.mean([probabilities(model, rows, validation) for model in args.model_b], axis=0)
    result = paired_difference(
        dataset.labels(rows["dx"]), probs_a, probs_b, groups.to_numpy(), n_boot=args.n_boot
    )
    name_b = " + ".join(model.name for model in args.model_b)
    if validation:
        where = f"{len(rows)} validation images, {groups.nunique()} lesions, 95 % paired intervals by lesion"
    else:
        present = ", ".join(f"{dx} {n}" for dx, n in rows["dx"].value_counts().items())
        where = f"{len(rows)} images of {args.images} ({present}), 95 % paired intervals by image"
    print(f"A = {args.model_a.name}, B = {name_b}; {where}")
    print_paired(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
