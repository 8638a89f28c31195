"""The out-of-distribution detector on synthetic features with known geometry, and its threshold."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from skinlesion.conversion.ood import detector_score, fit_detector, threshold_for_rate

DIM = 16


def features(n: int, shift: float, seed: int) -> np.ndarray:
    """Correlated features on very different scales, shifted along one direction: dermoscopy at
    shift 0, the other side further along it."""
    rng = np.random.default_rng(seed)
    mixing = np.random.default_rng(1).normal(size=(DIM, DIM)) * np.geomspace(30.0, 0.03, DIM)
    direction = np.random.default_rng(2).normal(size=DIM)
    return (rng.normal(size=(n, DIM)) @ mixing + shift * direction).astype(np.float32)


def test_the_folded_score_is_the_standardised_logistic_regression() -> None:
    """One Dense unit in the graph must give what the regression fitted on standardised features
    gives: the standardisation is folded into the weights and bias exactly."""
    inside, outside = features(300, 0.0, seed=3), features(120, 4.0, seed=4)
    detector = fit_detector(inside, outside, c=0.5)
    x = np.concatenate([inside, outside]).astype(np.float64)
    y = np.r_[np.zeros(len(inside)), np.ones(len(outside))]
    mean, std = x.mean(axis=0), x.std(axis=0)
    direct = LogisticRegression(C=0.5, class_weight="balanced", max_iter=5000).fit((x - mean) / std, y)
    queries = features(50, 2.0, seed=5)
    np.testing.assert_allclose(
        detector_score(queries, detector),
        direct.decision_function((queries - mean) / std),
        rtol=1e-4,
        atol=1e-4,
    )


def test_held_out_outside_images_score_above_held_out_inside_ones() -> None:
    detector = fit_detector(features(400, 0.0, seed=6), features(150, 3.0, seed=7))
    inside, outside = (
        detector_score(features(400, 0.0, seed=8), detector),
        detector_score(features(200, 3.0, seed=9), detector),
    )
    threshold = threshold_for_rate(inside, 0.05)
    assert (inside > threshold).mean() <= 0.05
    assert (outside > threshold).mean() > 0.9


def test_a_constant_feature_gets_no_weight() -> None:
    """Pooled ReLU features can be zero on every image; dividing by their spread must not blow up."""
    inside, outside = features(100, 0.0, seed=10), features(60, 3.0, seed=11)
    inside[:, 0] = outside[:, 0] = 0.0
    detector = fit_detector(inside, outside)
    assert np.isfinite(detector.weights).all() and detector.weights[0] == 0.0


@pytest.mark.parametrize("rate", [0.0, 0.01, 0.05, 0.2, 0.5])
def test_threshold_flags_at_most_the_rate(rate: float) -> None:
    scores = np.random.default_rng(11).gamma(4.0, size=997)
    flagged = (scores > threshold_for_rate(scores, rate)).mean()
    assert rate - 1 / len(scores) < flagged <= rate


def test_ties_at_the_threshold_are_not_flagged() -> None:
    scores = np.array([1.0] * 90 + [2.0] * 10)
    assert (scores > threshold_for_rate(scores, 0.05)).mean() == 0.0
    assert threshold_for_rate(np.array([3.0]), 0.05) == 3.0


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="at least two"):
        fit_detector(features(1, 0.0, seed=12), features(5, 3.0, seed=13))
    with pytest.raises(ValueError, match="dimensions"):
        fit_detector(features(5, 0.0, seed=12), features(5, 3.0, seed=13)[:, :4])
    with pytest.raises(ValueError, match="flag_rate"):
        threshold_for_rate(np.ones(5), 1.0)
    with pytest.raises(ValueError, match="no in-distribution"):
        threshold_for_rate(np.array([]))
