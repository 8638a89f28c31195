"""What a patient's age, sex and body site would add to a model's answer, measured before any
request carries them.

Why: a dermatologist knows them for every lesion, HAM10000 records them, and they are
informative on their own (actinic keratoses on the face of the old, dermatofibromas on the legs,
nevi in the young). This fits p(diagnosis | age, sex, site) on the split's training rows alone (a
multinomial logistic regression that sees no pixels, so the image model's fit on those rows does
not leak into it) and adds it to the model's probabilities as independent evidence:

    log p(c | image, metadata) = log p(c | image) + w * (log p(c | metadata) - log p_train(c)) + const

for each weight w, scored against the model alone on the same validation lesions, paired. Prints
figures; asserts none. Examples, the shipped model and a run folder on its own split:

    python -m skinlesion.training.metadata_prior
    python -m skinlesion.training.metadata_prior runs/x --split runs/x/split.csv
"""

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from skinlesion.classes import CLASS_CODES
from skinlesion.paths import DEFAULT_MODEL_PATH
from skinlesion.training import data
from skinlesion.training.calibration import apply_temperature, logits_from_probabilities
from skinlesion.training.compare import add_validation_options, print_paired, probabilities, split_rows
from skinlesion.training.evaluate import balanced_accuracy, paired_difference

UNKNOWN = "unknown"  # HAM10000's word for a sex or site not recorded
AGE_CENTRE, AGE_SCALE = 50.0, 20.0  # years: keeps the age terms near 1 for the regression


class MetadataModel:
    """p(diagnosis | age, sex, site) and the training class frequencies it is read against."""

    def __init__(self, train_rows: pd.DataFrame) -> None:
        self.sites = sorted(set(train_rows["localization"]) - {UNKNOWN})
        y = data.labels(train_rows["dx"])
        self.prior = np.bincount(y, minlength=len(CLASS_CODES)) / len(y)
        self.regression = LogisticRegression(max_iter=5000).fit(self.features(train_rows), y)

    def features(self, rows: pd.DataFrame) -> np.ndarray:
        """Age (centred, and its square: risk is not linear in age), whether it is missing, sex
        and site one-hot; unknown or unseen values are all zeros, so they add no evidence."""
        age = (rows["age"].astype(float).to_numpy() - AGE_CENTRE) / AGE_SCALE
        missing = np.isnan(age)
        age = np.where(missing, 0.0, age)
        sex = [(rows["sex"] == value).to_numpy() for value in ("male", "female")]
        sites = [(rows["localization"] == site).to_numpy() for site in self.sites]
        return np.column_stack([age, age**2, missing, *sex, *sites]).astype(np.float64)

    def probabilities(self, rows: pd.DataFrame) -> np.ndarray:
        """p(diagnosis | metadata), columns in the model's class order."""
        probs = np.zeros((len(rows), len(CLASS_CODES)))
        probs[:, self.regression.classes_] = self.regression.predict_proba(self.features(rows))
        return probs


def fuse(image_probs: np.ndarray, metadata_probs: np.ndarray, prior: np.ndarray, weight: float) -> np.ndarray:
    """The image's probabilities times the metadata's likelihood ratio to the power `weight`,
    renormalised; weight 0 gives the image's probabilities back."""
    log_ratio = logits_from_probabilities(metadata_probs) - logits_from_probabilities(prior)
    return apply_temperature(logits_from_probabilities(image_probs) + weight * log_ratio, 1.0)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "model",
        type=Path,
        nargs="?",
        default=DEFAULT_MODEL_PATH,
        help=f"a .tflite (its .json card beside it) or a run folder (default: {DEFAULT_MODEL_PATH})",
    )
    add_validation_options(p)
    p.add_argument(
        "--weights",
        type=float,
        nargs="+",
        default=[0.5, 1.0],
        help="weights w of the metadata's evidence to score (default: 0.5 1.0; 1 is Bayes' rule if "
        "image and metadata were independent given the diagnosis)",
    )
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    rows = split_rows(args)
    train, val = rows[rows["split"] == "train"], rows[rows["split"] == "val"]
    metadata = MetadataModel(train)
    y_true, lesions = data.labels(val["dx"]), val["lesion_id"].to_numpy()
    image_probs = probabilities(args.model, val)
    metadata_probs = metadata.probabilities(val)
    alone = balanced_accuracy(y_true, metadata_probs / metadata.prior)  # the prior divided out
    report: dict = {"metadata_alone_balanced_accuracy": alone, "weights": {}}
    print(f"{args.model.name}; p(diagnosis | age, sex, site) fitted on {len(train)} training images")
    lesion_count = val["lesion_id"].nunique()
    print(f"{len(val)} validation images, {lesion_count} lesions; 95 % paired intervals by lesion")
    print(f"metadata alone (no image): balanced accuracy {alone:.3f}")
    for weight in args.weights:
        fused = fuse(image_probs, metadata_probs, metadata.prior, weight)
        result = paired_difference(y_true, image_probs, fused, lesions, n_boot=args.n_boot)
        report["weights"][str(weight)] = result
        print(f"\nw = {weight}: A = the image alone, B = image and metadata")
        print_paired(result)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
