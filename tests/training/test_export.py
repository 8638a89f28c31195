"""export.calibration_section: a temperature is served only where it helps lesions it was not fitted on."""

from pathlib import Path

import numpy as np

from skinlesion.training.calibration import calibration_split
from skinlesion.training.export import CALIBRATION_FRACTION, calibration_section

N, CLASSES = 400, 7


def under_confident(y: np.ndarray, top: float) -> np.ndarray:
    """Probabilities that give the label `top` and share the rest equally: always right, never sure."""
    probs = np.full((len(y), CLASSES), (1 - top) / (CLASSES - 1))
    probs[np.arange(len(y)), y] = top
    return probs


def test_a_temperature_that_helps_the_held_out_lesions_is_served(tmp_path: Path) -> None:
    y = np.arange(N) % CLASSES
    lesions = np.arange(N) // 2
    section = calibration_section(y, under_confident(y, 0.4), lesions, tmp_path)
    assert section["applied"] and section["temperature"] == section["fitted_temperature"] < 1
    assert section["negative_log_likelihood_after"] < section["negative_log_likelihood_before"]
    assert (tmp_path / "reliability.png").is_file()


def test_a_temperature_that_hurts_the_held_out_lesions_is_not(tmp_path: Path) -> None:
    y = np.arange(N) % CLASSES
    lesions = np.arange(N) // 2
    fit = calibration_split(lesions, CALIBRATION_FRACTION, seed=0)
    # Always right on the fitting half (sharpen!), and as unsure but wrong half the time on the other.
    answered = np.where(fit | (np.arange(N) % 2 == 0), y, (y + 1) % CLASSES)
    section = calibration_section(y, under_confident(answered, 0.4), lesions, tmp_path)
    assert section["fitted_temperature"] < 1 and not section["applied"]
    assert section["temperature"] == 1.0
    assert section["negative_log_likelihood_after"] > section["negative_log_likelihood_before"]
