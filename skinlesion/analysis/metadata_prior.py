"""What a patient's age, sex and body site add to a model's answer, for each weight of their
evidence; conversion fits the served one with `fit_metadata_model`.

Why: a dermatologist knows them for every lesion, HAM10000 records them, and they are
informative on their own (actinic keratoses on the face of the old, dermatofibromas on the legs,
nevi in the young). This fits p(diagnosis | age, sex, site) on the split's training rows alone (a
multinomial logistic regression that sees no pixels) and adds it to the model's probabilities as
evidence by the rule of `skinlesion.metadata`, for each weight w, scored against the model alone
on the same validation lesions, paired. Prints figures; asserts none. Examples, the shipped model
and a run folder on its own split:

    python -m skinlesion.analysis.metadata_prior
    python -m skinlesion.analysis.metadata_prior runs/x --split runs/x/split.csv
"""

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from skinlesion import dataset
from skinlesion.analysis.compare import add_validation_options, print_paired, probabilities, split_rows
from skinlesion.analysis.evaluate import balanced_accuracy, paired_difference
from skinlesion.classes import CLASS_CODES
from skinlesion.metadata import MetadataEvidence, Patient, features, parse_sex, parse_site
from skinlesion.paths import DEFAULT_MODEL_PATH

ABSENT_CLASS_LOGIT = -30.0  # a class with no training row (tiny test sets): p(c | patient) ~ 0


def patients(rows: pd.DataFrame) -> list[Patient]:
    """HAM10000 metadata rows (`age`, `sex`, `localization`) as the service reads a request's."""
    return [
        Patient(
            None if pd.isna(age) else float(age),
            parse_sex(sex) if isinstance(sex, str) else None,
            parse_site(site) if isinstance(site, str) else None,
        )
        for age, sex, site in zip(rows["age"], rows["sex"], rows["localization"], strict=True)
    ]


def fit_metadata_model(train_rows: pd.DataFrame, weight: float, temperature: float = 1.0) -> MetadataEvidence:
    """p(diagnosis | age, sex, site) fitted on training rows alone (no pixels, so the image model's
    fit on those rows does not leak into it), as the card carries it."""
    y = dataset.labels(train_rows["dx"])
    prior = np.bincount(y, minlength=len(CLASS_CODES)) / len(y)
    regression = LogisticRegression(max_iter=5000).fit(features(patients(train_rows)), y)
    coefficients = np.zeros((len(CLASS_CODES), regression.coef_.shape[1]))
    intercept = np.full(len(CLASS_CODES), ABSENT_CLASS_LOGIT)
    if len(regression.classes_) == 2:  # sklearn keeps one row for two classes: p(second) = sigmoid
        coefficients[regression.classes_[1]], intercept[regression.classes_] = (
            regression.coef_[0],
            [
                0.0,
                regression.intercept_[0],
            ],
        )
    else:
        coefficients[regression.classes_], intercept[regression.classes_] = (
            regression.coef_,
            regression.intercept_,
        )
    return MetadataEvidence(coefficients, intercept, prior, weight, temperature)


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
    y_true, lesions = dataset.labels(val["dx"]), val["lesion_id"].to_numpy()
    image_probs = probabilities(args.model, val)
    metadata = fit_metadata_model(train, weight=1.0)
    val_patients = patients(val)
    alone = balanced_accuracy(
        y_true, metadata.probabilities(val_patients) / metadata.prior
    )  # prior divided out
    report: dict = {"metadata_alone_balanced_accuracy": alone, "weights": {}}
    print(f"{args.model.name}; p(diagnosis | age, sex, site) fitted on {len(train)} training images")
    lesion_count = val["lesion_id"].nunique()
    print(f"{len(val)} validation images, {lesion_count} lesions; 95 % paired intervals by lesion")
    print(f"metadata alone (no image): balanced accuracy {alone:.3f}")
    for weight in args.weights:
        fused = replace(metadata, weight=weight).fuse(image_probs, val_patients)
        result = paired_difference(y_true, image_probs, fused, lesions, n_boot=args.n_boot)
        report["weights"][str(weight)] = result
        print(f"\nw = {weight}: A = the image alone, B = image and metadata")
        print_paired(result)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
