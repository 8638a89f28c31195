"""export: a temperature is served only where it helps lesions it was not fitted on; the metadata section."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from skinlesion.classes import CLASS_CODES
from skinlesion.conversion.calibration import calibration_split
from skinlesion.conversion.export import (
    CALIBRATION_FRACTION,
    METADATA_WEIGHT,
    calibration_section,
    metadata_section,
)
from skinlesion.metadata import FEATURES, MetadataEvidence

N, CLASSES = 400, 7


def under_confident(y: np.ndarray, top: float) -> np.ndarray:
    """Probabilities that give the label `top` and share the rest equally: always right, never sure."""
    probs = np.full((len(y), CLASSES), (1 - top) / (CLASSES - 1))
    probs[np.arange(len(y)), y] = top
    return probs


def test_a_temperature_that_helps_the_held_out_lesions_is_served(tmp_path: Path) -> None:
    y = np.arange(N) % CLASSES
    lesions = np.arange(N) // 2
    section = calibration_section(y, under_confident(y, 0.4), lesions, tmp_path / "reliability.png")
    assert section["applied"] and section["temperature"] == section["fitted_temperature"] < 1
    assert section["negative_log_likelihood_after"] < section["negative_log_likelihood_before"]
    assert (tmp_path / "reliability.png").is_file()


def test_a_temperature_that_hurts_the_held_out_lesions_is_not(tmp_path: Path) -> None:
    y = np.arange(N) % CLASSES
    lesions = np.arange(N) // 2
    fit = calibration_split(lesions, CALIBRATION_FRACTION, seed=0)
    # Always right on the fitting half (sharpen!), and as unsure but wrong half the time on the other.
    answered = np.where(fit | (np.arange(N) % 2 == 0), y, (y + 1) % CLASSES)
    section = calibration_section(y, under_confident(answered, 0.4), lesions, tmp_path / "r.png")
    assert section["fitted_temperature"] < 1 and not section["applied"]
    assert section["temperature"] == 1.0
    assert section["negative_log_likelihood_after"] > section["negative_log_likelihood_before"]


def test_the_metadata_section_fits_on_training_rows_and_measures_on_validation(tmp_path: Path) -> None:
    """Where the site gives the diagnosis away and the image says nothing, the fused answers are
    right, with their own temperature and alerts, and the paired gain is in the section."""
    sites = ["face", "back", "lower extremity", "trunk", "scalp", "hand", "ear"]  # one per class

    def rows(n: int, offset: int) -> pd.DataFrame:
        dx = [CLASS_CODES[i % CLASSES] for i in range(n)]
        return pd.DataFrame(
            {
                "dx": dx,
                "age": [50.0] * n,
                "sex": ["male", "female"] * (n // 2),
                "localization": [sites[CLASS_CODES.index(d)] for d in dx],
                "lesion_id": [f"L{offset + i // 2}" for i in range(n)],
            }
        )

    val = rows(280, 10_000)
    flat = np.full((len(val), CLASSES), 1 / CLASSES)
    section = metadata_section(rows(140, 0), val, flat, flat, tmp_path / "reliability_metadata.png")
    assert section["features"] == list(FEATURES) and section["weight"] == METADATA_WEIGHT
    assert np.asarray(section["coefficients"]).shape == (CLASSES, len(FEATURES))
    assert section["validation_metrics"]["balanced_accuracy"] == pytest.approx(1.0)
    assert section["paired_with_image_alone"]["balanced_accuracy"]["difference"] > 0.8
    assert set(section["alerts"]) == {"melanoma", "malignant"}
    assert section["calibration"]["temperature"] > 0 and (tmp_path / "reliability_metadata.png").is_file()
    MetadataEvidence.from_card(section)  # what serving will read
