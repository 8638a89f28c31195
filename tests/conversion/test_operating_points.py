"""Alert thresholds on synthetic scores: the rule as stated, counts checked directly, intervals by lesion."""

import json

import numpy as np
import pytest

from skinlesion.classes import CLASS_CODES
from skinlesion.conversion.operating_points import alert_points, malignant_probability, operating_point

MEL, BCC, AKIEC, NV = (CLASS_CODES.index(code) for code in ("mel", "bcc", "akiec", "nv"))


def scored_lesions(n_lesions: int = 150, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores, positive mask and lesion ids: a lesion's 1-3 images share its label and most of its score."""
    rng = np.random.default_rng(seed)
    lesions = np.repeat(np.arange(n_lesions), rng.integers(1, 4, n_lesions))
    lesion_positive = rng.random(n_lesions) < 0.3
    lesion_score = rng.normal(size=n_lesions) + 1.5 * lesion_positive
    scores = lesion_score[lesions] + 0.2 * rng.normal(size=len(lesions))
    return scores, lesion_positive[lesions], lesions


@pytest.fixture(scope="module")
def scored() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return scored_lesions()


def sensitivity_at(scores: np.ndarray, positive: np.ndarray, threshold: float) -> float:
    return float((scores[positive] >= threshold).mean())


@pytest.mark.parametrize("target", [0.5, 0.8, 0.9, 0.95, 1.0])
def test_the_threshold_is_the_highest_that_reaches_the_target(scored, target: float) -> None:
    scores, positive, lesions = scored
    point = operating_point(scores, positive, target, lesions, n_boot=0)
    threshold = point["threshold"]
    assert sensitivity_at(scores, positive, threshold) >= target
    assert sensitivity_at(scores, positive, np.nextafter(threshold, np.inf)) < target  # any higher misses
    assert point["sensitivity"] == sensitivity_at(scores, positive, threshold)
    assert point["specificity"] == float((scores[~positive] < threshold).mean())
    assert (point["n_positive"], point["n_negative"]) == (positive.sum(), (~positive).sum())
    assert point["target_sensitivity"] == target
    assert point["sensitivity_ci"] is None and point["specificity_ci"] is None


def test_a_hand_checked_threshold_with_ties() -> None:
    # ten positives; 90 % of them is nine, and the ninth-highest score, 0.3, is shared by two
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.35, 0.3, 0.3, 0.1, 0.95, 0.5, 0.2, 0.05])
    positive = np.array([True] * 10 + [False] * 4)
    point = operating_point(scores, positive, 0.9, np.arange(14), n_boot=0)
    assert point["threshold"] == 0.3
    assert point["sensitivity"] == 0.9
    assert point["specificity"] == 0.5  # 0.2 and 0.05 are not flagged; 0.95 and 0.5 are
    # 85 % needs nine too (8.5 rounds up), 80 % eight, which the tie at 0.3 also gives; 70 % seven
    for target, threshold in ((0.85, 0.3), (0.8, 0.3), (0.7, 0.35)):
        assert operating_point(scores, positive, target, np.arange(14), n_boot=0)["threshold"] == threshold
    assert operating_point(scores, positive, 1.0, np.arange(14), n_boot=0)["threshold"] == 0.1


def test_the_intervals_contain_the_point_estimates(scored) -> None:
    scores, positive, lesions = scored
    point = operating_point(scores, positive, 0.9, lesions)
    for figure in ("sensitivity", "specificity"):
        low, high = point[f"{figure}_ci"]
        assert 0 <= low <= point[figure] <= high <= 1
        assert high - low > 0.02  # 150 lesions cannot pin a rate down
    json.dumps(point)
    assert operating_point(scores, positive, 0.9, lesions) == point  # the seed fixes the resamples
    other_seed = operating_point(scores, positive, 0.9, lesions, seed=1)
    assert other_seed["sensitivity_ci"] != point["sensitivity_ci"]


def test_copies_within_a_lesion_add_no_evidence(scored) -> None:
    scores, positive, lesions = scored
    point = operating_point(scores, positive, 0.9, lesions)
    # every image photographed twice: the same lesions, so the same figures and intervals
    twice = operating_point(np.repeat(scores, 2), np.repeat(positive, 2), 0.9, np.repeat(lesions, 2))
    assert (twice["n_positive"], twice["n_negative"]) == (2 * point["n_positive"], 2 * point["n_negative"])
    for key in ("threshold", "sensitivity", "specificity", "sensitivity_ci", "specificity_ci"):
        assert twice[key] == point[key]
    # the same copies counted as separate lesions would claim more certainty than there is
    posing = operating_point(np.repeat(scores, 2), np.repeat(positive, 2), 0.9, np.arange(2 * len(scores)))
    assert posing["sensitivity"] == point["sensitivity"]
    for figure in ("sensitivity_ci", "specificity_ci"):
        assert np.diff(posing[figure]) < np.diff(point[figure])


def test_lesions_are_resampled_whole() -> None:
    # each lesion has one positive caught and one missed, one negative flagged and one not: any
    # resample of whole lesions has sensitivity and specificity exactly 0.5; one of images would not
    n = 40
    g = np.arange(n)
    scores = np.concatenate([10 + g, -100 - g, 20 + g, -200 - g])
    positive = np.r_[np.ones(2 * n, bool), np.zeros(2 * n, bool)]
    lesions = np.tile(g, 4)
    point = operating_point(scores, positive, 0.5, lesions)
    assert point["threshold"] == 10
    assert point["sensitivity_ci"] == [0.5, 0.5]
    assert point["specificity_ci"] == [0.5, 0.5]
    by_image = operating_point(scores, positive, 0.5, np.arange(4 * n))
    assert np.diff(by_image["sensitivity_ci"]) > 0


def test_string_lesion_ids_work_as_groups(scored) -> None:
    scores, positive, lesions = scored
    named = np.array([f"HAM_{i:07d}" for i in lesions])
    assert operating_point(scores, positive, 0.9, named) == operating_point(scores, positive, 0.9, lesions)


def test_unusable_inputs_are_refused_clearly() -> None:
    scores, groups = np.array([0.1, 0.5, 0.9]), np.arange(3)
    with pytest.raises(ValueError, match="no positive"):
        operating_point(scores, np.zeros(3, bool), 0.9, groups)
    with pytest.raises(ValueError, match="no negative"):
        operating_point(scores, np.ones(3, bool), 0.9, groups)
    positive = np.array([False, True, True])
    for target in (0.0, 1.2, -0.1):
        with pytest.raises(ValueError, match="target sensitivity"):
            operating_point(scores, positive, target, groups)
    with pytest.raises(ValueError, match="boolean"):
        operating_point(scores, np.array([0, 1, 1]), 0.9, groups)
    with pytest.raises(ValueError, match="groups"):
        operating_point(scores, positive, 0.9, np.arange(2))
    with pytest.raises(ValueError, match="finite"):
        operating_point(np.array([0.1, np.nan, 0.9]), positive, 0.9, groups)


def test_malignant_probability_adds_the_malignant_classes_by_code() -> None:
    eye = np.eye(len(CLASS_CODES))
    expected = [1.0 if code in ("mel", "bcc", "akiec") else 0.0 for code in CLASS_CODES]
    np.testing.assert_array_equal(malignant_probability(eye), expected)
    probs = np.random.default_rng(4).dirichlet(np.ones(len(CLASS_CODES)), 50)
    np.testing.assert_allclose(malignant_probability(probs), probs[:, [MEL, BCC, AKIEC]].sum(axis=1))
    with pytest.raises(ValueError, match="shape"):
        malignant_probability(probs[:, :6])


def test_alert_points_are_the_two_operating_points_of_the_model_card() -> None:
    rng = np.random.default_rng(5)
    lesions = np.repeat(np.arange(200), rng.integers(1, 3, 200))
    y = rng.integers(0, len(CLASS_CODES), 200)[lesions]
    probs = rng.dirichlet(np.ones(len(CLASS_CODES)), len(y)) + 2 * np.eye(len(CLASS_CODES))[y]
    probs /= probs.sum(axis=1, keepdims=True)
    points = alert_points(y, probs, lesions, n_boot=200)
    assert set(points) == {"melanoma", "malignant"}
    assert points["melanoma"] == operating_point(probs[:, MEL], y == MEL, 0.90, lesions, n_boot=200)
    malignant = (y == MEL) | (y == BCC) | (y == AKIEC)
    assert points["malignant"] == operating_point(
        probs[:, [MEL, BCC, AKIEC]].sum(axis=1), malignant, 0.95, lesions, n_boot=200
    )
    assert points["malignant"]["n_positive"] == malignant.sum()
    assert points["melanoma"]["sensitivity"] >= 0.90 and points["malignant"]["sensitivity"] >= 0.95
