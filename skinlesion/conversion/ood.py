"""An "outside what I know" score: a linear detector of "not dermoscopy" on the pooled features.

A softmax always sums to one, so it answers "bkl 0.86" for a flower. The distance of the
features to the training classes (Mahalanobis, Lee et al. 2018; this project's score up to model
2.4.0) catches whole photos but misses a third of their crops: close-ups of petals, tiles or a
face land as near the lesions as lesions do. What separates them is being shown both sides, so
the detector is a logistic regression trained on the training dermoscopy (HAM10000, and other
clinics' images where given) against photos that are not dermoscopy and many crops of them
(`ood_negatives`). One Dense unit in the graph: the score is its logit, higher is further from
dermoscopy, and the threshold is set on validation dermoscopy.
"""

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression

# Inverse L2 strength. Chosen by leaving out whole source photos (5 folds of the negatives'
# sources, validation dermoscopy flagged at 4 %): 0.01, 0.1, 1 and 10 caught 0.961, 0.961, 0.972
# and 0.956 of the left-out sources' images, a 64-unit MLP 0.966 (docs/results.md).
REGULARISATION_C = 1.0


@dataclass(frozen=True)
class LinearDetector:
    """score(f) = f @ weights + bias (float32): the logit of "not dermoscopy", the features'
    standardisation folded in, so the graph computes it as one Dense unit."""

    weights: np.ndarray  # (d,)
    bias: float


def fit_detector(
    in_distribution: np.ndarray, outside: np.ndarray, c: float = REGULARISATION_C
) -> LinearDetector:
    """Logistic regression of outside (1) against in-distribution (0) features (n x d each).

    The features are standardised first, so one C suits every dimension; the classes are
    weighted equally whatever their counts, since there are far more dermoscopy images than
    negatives and the threshold is set afterwards on validation anyway.
    """
    inside, away = np.asarray(in_distribution, np.float64), np.asarray(outside, np.float64)
    if len(inside) < 2 or len(away) < 2:
        raise ValueError("the detector needs at least two in-distribution and two outside images")
    if inside.shape[1] != away.shape[1]:
        raise ValueError(f"features of {inside.shape[1]} and {away.shape[1]} dimensions cannot be compared")
    x = np.concatenate([inside, away])
    mean, std = x.mean(axis=0), x.std(axis=0)
    std = np.where(std > 0, std, 1.0)  # a dimension that never varies carries no weight
    y = np.r_[np.zeros(len(inside)), np.ones(len(away))]
    fit = LogisticRegression(C=c, class_weight="balanced", max_iter=5000).fit((x - mean) / std, y)
    weights = fit.coef_[0] / std
    return LinearDetector(weights=weights.astype(np.float32), bias=float(fit.intercept_[0] - weights @ mean))


def detector_score(features: np.ndarray, detector: LinearDetector) -> np.ndarray:
    """The score of each row of features (n x d), (n,): the reference the graph is checked against."""
    return np.asarray(features, np.float64) @ detector.weights.astype(np.float64) + detector.bias


def threshold_for_rate(scores_in_distribution: np.ndarray, flag_rate: float = 0.05) -> float:
    """The score above which (strictly) at most flag_rate of in-distribution images are flagged.

    An order statistic, not an interpolated quantile, so the bound holds exactly on these
    scores; ties at the threshold are never flagged, which can only lower the rate.
    """
    scores = np.sort(np.asarray(scores_in_distribution, dtype=np.float64).ravel())
    if scores.size == 0:
        raise ValueError("no in-distribution scores to set a threshold on")
    if not 0.0 <= flag_rate < 1.0:
        raise ValueError(f"flag_rate must be within [0, 1), not {flag_rate}")
    allowed = int(np.floor(flag_rate * scores.size))
    return float(scores[scores.size - allowed - 1])
