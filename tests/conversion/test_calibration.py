"""Temperature scaling on synthetic logits whose true calibration is known, the lesion split, the report."""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from skinlesion.analysis.evaluate import expected_calibration_error, negative_log_likelihood
from skinlesion.conversion.calibration import (
    N_BINS,
    TEMPERATURE_BOUNDS,
    calibration_report,
    calibration_split,
    fit_temperature,
    plot_reliability,
    reliability_bins,
)
from skinlesion.temperature import log_probabilities, softmax

N_CLASSES = 7


def calibrated(n_lesions: int = 3000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Logits, labels and lesion ids where softmax(logits) is the true class distribution.

    Each lesion draws a logit vector and then its class from softmax of it, so these logits are
    calibrated by construction; a lesion's 1-3 images share both, as near-identical photographs.
    """
    rng = np.random.default_rng(seed)
    lesion_logits = 1.5 * np.eye(N_CLASSES)[rng.integers(0, N_CLASSES, n_lesions)]
    lesion_logits += rng.normal(size=(n_lesions, N_CLASSES))
    lesion_probs = softmax(lesion_logits, 1.0)
    lesion_class = (lesion_probs.cumsum(axis=1) < rng.random((n_lesions, 1))).sum(axis=1)
    lesions = np.repeat(np.arange(n_lesions), rng.integers(1, 4, n_lesions))
    return lesion_logits[lesions], lesion_class[lesions], lesions


@pytest.fixture(scope="module")
def calibrated_data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return calibrated()


def test_overconfident_logits_are_cooled_and_held_out_figures_improve(calibrated_data) -> None:
    logits, y, lesions = calibrated_data
    overconfident = 3 * logits
    fit = calibration_split(lesions)
    temperature = fit_temperature(overconfident[fit], y[fit])
    assert 2.5 < temperature < 3.5  # the 3 that was put in, up to sampling

    held_out = ~fit
    before = softmax(overconfident[held_out], 1.0)
    after = softmax(overconfident[held_out], temperature)
    report = calibration_report(y[held_out], before, after)
    assert report["after"]["negative_log_likelihood"] < report["before"]["negative_log_likelihood"]
    assert report["after"]["expected_calibration_error"] < report["before"]["expected_calibration_error"] / 2
    assert report["n_images"] == held_out.sum()


def test_calibrated_logits_keep_a_temperature_near_one(calibrated_data) -> None:
    logits, y, _ = calibrated_data
    assert fit_temperature(logits, y) == pytest.approx(1.0, abs=0.1)


def test_the_fit_is_deterministic_and_blind_to_per_image_shifts(calibrated_data) -> None:
    logits, y, _ = calibrated_data
    logits, y = 2 * logits[:2000], y[:2000]
    temperature = fit_temperature(logits, y)
    assert fit_temperature(logits, y) == temperature
    shifted = logits + np.random.default_rng(1).normal(scale=50, size=(len(logits), 1))
    assert fit_temperature(shifted, y) == pytest.approx(temperature, rel=1e-4)
    # what the exported models give: probabilities, whose logs are the logits up to a shift
    recovered = log_probabilities(softmax(logits, 1.0))
    assert fit_temperature(recovered, y) == pytest.approx(temperature, rel=1e-4)


def test_the_nll_at_the_fitted_temperature_is_a_minimum(calibrated_data) -> None:
    logits, y, _ = calibrated_data
    logits = 0.5 * logits  # under-confident: T < 1
    temperature = fit_temperature(logits, y)
    assert temperature < 1
    best = negative_log_likelihood(y, softmax(logits, temperature))
    for factor in (0.9, 0.99, 1.01, 1.1):
        assert best <= negative_log_likelihood(y, softmax(logits, temperature * factor))


def test_data_that_do_not_determine_t_warn() -> None:
    logits = 5 * np.eye(N_CLASSES)[np.arange(70) % N_CLASSES]  # every image right: NLL falls as T -> 0
    y = np.arange(70) % N_CLASSES
    with pytest.warns(UserWarning, match="do not determine T"):
        temperature = fit_temperature(logits, y)
    assert temperature == pytest.approx(TEMPERATURE_BOUNDS[0])


def test_bad_inputs_are_refused() -> None:
    logits = np.zeros((4, N_CLASSES))
    with pytest.raises(ValueError, match="labels"):
        fit_temperature(logits, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="class indices"):
        fit_temperature(logits, np.array([0, 1, 2, N_CLASSES]))
    with pytest.raises(ValueError, match="finite"):
        fit_temperature(np.full((4, N_CLASSES), -np.inf), np.array([0, 1, 2, 3]))
    with pytest.raises(ValueError, match="non-empty"):
        fit_temperature(np.zeros((0, N_CLASSES)), np.zeros(0, dtype=int))


def test_the_split_keeps_lesions_whole_and_is_deterministic() -> None:
    rng = np.random.default_rng(3)
    lesions = np.array([f"HAM_{i:07d}" for i in rng.integers(0, 200, 600)])
    mask = calibration_split(lesions, fraction=0.3, seed=5)
    for lesion in np.unique(lesions):
        assert len(set(mask[lesions == lesion])) == 1
    assert len(np.unique(lesions[mask])) == round(0.3 * len(np.unique(lesions)))
    np.testing.assert_array_equal(calibration_split(lesions, fraction=0.3, seed=5), mask)
    # the choice follows the lesion, whatever the order of its images
    order = rng.permutation(len(lesions))
    np.testing.assert_array_equal(calibration_split(lesions[order], fraction=0.3, seed=5), mask[order])
    assert not np.array_equal(calibration_split(lesions, fraction=0.3, seed=6), mask)


def test_the_split_leaves_a_lesion_on_each_side_or_refuses() -> None:
    lesions = np.array([0, 0, 1, 2, 2, 2])
    assert calibration_split(lesions, fraction=0.01).any()
    assert not calibration_split(lesions, fraction=0.99).all()
    for fraction in (0.0, 1.0, -0.5):
        with pytest.raises(ValueError, match="fraction"):
            calibration_split(lesions, fraction=fraction)
    with pytest.raises(ValueError, match="at least two"):
        calibration_split(np.array([7, 7, 7]))


def test_reliability_bins_on_a_hand_checked_example() -> None:
    # top-class confidences 0.95, 0.95, 0.5, 0.3 (bins 14, 14, 7, 4), the first and the last right
    probs = np.full((4, N_CLASSES), 0.0)
    probs[0, [0, 1]] = [0.95, 0.05]
    probs[1, [1, 2]] = [0.95, 0.05]
    probs[2, [2, 3, 4]] = [0.5, 0.3, 0.2]
    probs[3, [3, 4, 5, 6]] = [0.3, 0.25, 0.25, 0.2]
    bins = reliability_bins(np.array([0, 2, 3, 3]), probs)
    assert bins["count"] == [0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 2]
    assert bins["confidence"][14] == pytest.approx(0.95)
    assert bins["accuracy"][14] == pytest.approx(0.5)
    assert (bins["accuracy"][7], bins["accuracy"][4]) == (0.0, 1.0)
    assert bins["confidence"][0] is None and bins["accuracy"][0] is None


def test_the_report_is_the_gaps_that_ece_sums(calibrated_data) -> None:
    logits, y, _ = calibrated_data
    before, after = softmax(2 * logits, 1.0), softmax(2 * logits, 2.0)
    report = calibration_report(y, before, after)
    json.dumps(report)  # goes into run folders and the model card as it is
    assert len(report["bin_edges"]) == N_BINS + 1
    for side, probs in (("before", before), ("after", after)):
        figures = report[side]
        assert figures["expected_calibration_error"] == expected_calibration_error(y, probs)
        assert figures["negative_log_likelihood"] == negative_log_likelihood(y, probs)
        bins = figures["reliability"]
        assert sum(bins["count"]) == len(y)
        gaps = [
            n * abs(a - c)
            for n, a, c in zip(bins["count"], bins["accuracy"], bins["confidence"], strict=True)
            if n
        ]
        assert sum(gaps) / len(y) == pytest.approx(figures["expected_calibration_error"])
    with pytest.raises(ValueError, match="predictions"):
        calibration_report(y[:-1], before, after)


def test_plot_reliability_writes_a_png(calibrated_data, tmp_path: Path) -> None:
    logits, y, _ = calibrated_data
    logits, y = logits[:300], y[:300]  # few images: some bins empty
    report = calibration_report(y, softmax(3 * logits, 1.0), softmax(3 * logits, 3.0))
    assert None in report["before"]["reliability"]["confidence"]
    path = tmp_path / "reliability.png"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. matplotlib complaining about the empty bins
        plot_reliability(json.loads(json.dumps(report)), path)
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert path.stat().st_size > 1000
