"""Alert thresholds a clinician can act on: "flag when the score is at least t", chosen on validation.

A triage tool is judged by what it misses, so each threshold is set to catch a stated share of
the lesions that matter (melanoma; any malignancy), and the model card reports what that costs in
false alarms. Both figures come with 95 % bootstrap intervals that resample lesions, as
evaluate.py's do.
"""

from collections.abc import Sequence
from typing import Any

import numpy as np

from skinlesion.analysis.evaluate import percentile_interval, safe_ratio
from skinlesion.classes import CLASS_CODES, MALIGNANT_CODES

MALIGNANT = [CLASS_CODES.index(code) for code in MALIGNANT_CODES]
MELANOMA = CLASS_CODES.index("mel")
MELANOMA_TARGET_SENSITIVITY = 0.90
MALIGNANT_TARGET_SENSITIVITY = 0.95


def malignant_probability(probs: np.ndarray) -> np.ndarray:
    """P(mel) + P(bcc) + P(akiec): the probability that the lesion needs treatment, not only follow-up."""
    probs = np.asarray(probs, dtype=float)
    if probs.ndim != 2 or probs.shape[1] != len(CLASS_CODES):
        raise ValueError(f"probabilities must have shape (images, {len(CLASS_CODES)}), not {probs.shape}")
    return probs[:, MALIGNANT].sum(axis=1)


def operating_point(
    scores: np.ndarray,
    positive: np.ndarray,
    target_sensitivity: float,
    groups: Sequence[Any] | np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """The highest threshold whose sensitivity here is >= the target (flag: score >= threshold).

    Highest, because specificity only falls as the threshold drops: it is the score of the
    ceil(target x positives)-th highest-scoring positive. The 95 % intervals of sensitivity and
    specificity resample `groups` (lesions) whole, with the threshold held fixed: they cover the
    sampling of images at that threshold, not the choice of the threshold, which was made on these
    same images (on new images the sensitivity may well fall short of the target).
    `n_boot=0` skips them (None). Raises ValueError without positives or negatives.
    """
    scores, positive = np.asarray(scores, dtype=float), np.asarray(positive)
    if positive.dtype != bool:
        raise ValueError(f"positive must be a boolean mask, not {positive.dtype}")
    if not len(scores) == len(positive) == len(groups):
        raise ValueError(f"{len(scores)} scores, {len(positive)} labels and {len(groups)} groups")
    if not 0 < target_sensitivity <= 1:
        raise ValueError(f"target sensitivity must lie in (0, 1], not {target_sensitivity}")
    if not np.isfinite(scores).all():
        raise ValueError("scores must be finite")
    n_positive, n_negative = int(positive.sum()), int((~positive).sum())
    if n_positive == 0:
        raise ValueError("no positive images: sensitivity, and so the threshold, is undefined")
    if n_negative == 0:
        raise ValueError("no negative images: specificity is undefined")

    candidates = np.unique(scores[positive])  # a threshold between them flags the same positives
    caught = n_positive - np.searchsorted(np.sort(scores[positive]), candidates)  # positives >= each
    threshold = float(candidates[safe_ratio(caught, n_positive) >= target_sensitivity].max())
    flagged = scores >= threshold

    sensitivity_ci = specificity_ci = None
    if n_boot > 0:
        group_index = np.unique(np.asarray(groups), return_inverse=True)[1].reshape(-1)
        n_groups = int(group_index.max()) + 1
        per_image = np.column_stack([positive & flagged, positive, ~positive & ~flagged, ~positive])
        per_group = np.zeros((n_groups, 4))
        np.add.at(per_group, group_index, per_image)
        draws = np.random.default_rng(seed).multinomial(n_groups, np.full(n_groups, 1 / n_groups), n_boot)
        true_pos, pos, true_neg, neg = (draws @ per_group).T
        sensitivity_ci = percentile_interval(safe_ratio(true_pos, pos))  # NaN without positives: left out
        specificity_ci = percentile_interval(safe_ratio(true_neg, neg))

    return {
        "threshold": threshold,
        "sensitivity": float((flagged & positive).sum() / n_positive),
        "specificity": float((~flagged & ~positive).sum() / n_negative),
        "sensitivity_ci": sensitivity_ci,
        "specificity_ci": specificity_ci,
        "n_positive": n_positive,
        "n_negative": n_negative,
        "target_sensitivity": float(target_sensitivity),
    }


def alert_points(
    y: np.ndarray, probs: np.ndarray, groups: Sequence[Any] | np.ndarray, n_boot: int = 1000, seed: int = 0
) -> dict[str, dict[str, Any]]:
    """The model card's two alerts: P(mel) catching 90 % of melanomas, P(malignant) catching 95 % of
    melanomas, basal cell carcinomas and actinic keratoses. Choose them on validation images."""
    y, malignant = np.asarray(y), malignant_probability(probs)  # checks the shape of probs
    melanoma = np.asarray(probs, dtype=float)[:, MELANOMA]
    return {
        "melanoma": operating_point(
            melanoma, y == MELANOMA, MELANOMA_TARGET_SENSITIVITY, groups, n_boot, seed
        ),
        "malignant": operating_point(
            malignant, np.isin(y, MALIGNANT), MALIGNANT_TARGET_SENSITIVITY, groups, n_boot, seed
        ),
    }
