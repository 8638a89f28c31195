"""The reported figures on a hand-checked example, and their bootstrap intervals on synthetic lesions."""

import json

import numpy as np
import pytest

from skinlesion.analysis.evaluate import (
    _resampled_metrics,
    evaluate,
    expected_calibration_error,
    format_report,
    negative_log_likelihood,
    paired_difference,
)
from skinlesion.classes import CLASS_CODES

MEL, NV, BCC = CLASS_CODES.index("mel"), CLASS_CODES.index("nv"), CLASS_CODES.index("bcc")
DF = CLASS_CODES.index("df")


def one_hot(indices: list[int] | np.ndarray) -> np.ndarray:
    probs = np.full((len(indices), len(CLASS_CODES)), 0.01)
    probs[np.arange(len(indices)), indices] = 0.94
    return probs


def with_confidence(top: float, y_pred: list[int]) -> np.ndarray:
    """Probabilities whose top label is `y_pred` at confidence `top`, the rest shared evenly."""
    probs = np.full((len(y_pred), len(CLASS_CODES)), (1 - top) / (len(CLASS_CODES) - 1))
    probs[np.arange(len(y_pred)), y_pred] = top
    return probs


def lesions(
    n_lesions: int = 120, n_images: int = 300, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, probabilities and lesion ids: a lesion's images share its class and most of its error,
    as photographs of one lesion do, so they are not independent evidence."""
    rng = np.random.default_rng(seed)
    groups = np.sort(np.r_[np.arange(n_lesions), rng.integers(0, n_lesions, n_images - n_lesions)])
    lesion_class = rng.permutation(np.arange(n_lesions) % len(CLASS_CODES))
    lesion_error = rng.normal(size=(n_lesions, len(CLASS_CODES)))
    y_true = lesion_class[groups]
    logits = 1.5 * np.eye(len(CLASS_CODES))[y_true] + lesion_error[groups]
    logits += 0.3 * rng.normal(size=logits.shape)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y_true, probs, groups


def width(interval: list[float]) -> float:
    return interval[1] - interval[0]


def test_metrics_on_a_small_example() -> None:
    y_true = np.array([NV, NV, NV, NV, MEL, MEL, BCC, BCC])
    y_pred = [NV, NV, NV, MEL, MEL, NV, BCC, BCC]
    m = evaluate(y_true, one_hot(y_pred))
    assert m["accuracy"] == pytest.approx(6 / 8)
    assert m["balanced_accuracy"] == pytest.approx((3 / 4 + 1 / 2 + 1) / 3)
    assert m["melanoma_recall"] == pytest.approx(1 / 2)
    assert m["melanoma_specificity"] == pytest.approx(5 / 6)
    assert m["majority_baseline"] == {
        "class": "nv",
        "accuracy": 0.5,
        "balanced_accuracy": pytest.approx(1 / 3),
    }
    assert m["per_class"]["mel"] == {"precision": 0.5, "recall": 0.5, "support": 2}
    assert m["per_class"]["df"]["support"] == 0
    assert "balanced accuracy 0.750" in format_report(m)


def test_intervals_are_ordered_and_contain_their_figure() -> None:
    y_true, probs, groups = lesions()
    m = evaluate(y_true, probs, groups)
    ci = m["confidence_intervals"]
    points = {
        "balanced_accuracy": m["balanced_accuracy"],
        "accuracy": m["accuracy"],
        "macro_roc_auc": m["macro_roc_auc"],
        "melanoma_sensitivity": m["melanoma_recall"],
        "melanoma_specificity": m["melanoma_specificity"],
    }
    pairs = [(ci[name], point) for name, point in points.items()]
    pairs += [
        (ci["per_class"][code][figure], m["per_class"][code][figure])
        for code in CLASS_CODES
        for figure in ("precision", "recall")
    ]
    pairs += [(p["sensitivity_ci"], p["sensitivity"]) for p in m["melanoma_at_specificity"].values()]
    for (low, high), point in pairs:
        assert 0 <= low < point < high <= 1  # 120 lesions leave every figure uncertain
    assert m["bootstrap"] == {
        "n_boot": 1000,
        "unit": "lesion",
        "n_groups": 120,
        "seed": 0,
        "level": 0.95,
        "method": "percentile",
    }
    assert json.loads(json.dumps(m)) == m
    assert f"balanced accuracy {m['balanced_accuracy']:.3f} [{ci['balanced_accuracy'][0]:.3f}, " in (
        format_report(m)
    )
    assert evaluate(y_true, probs, groups)["confidence_intervals"] == ci  # the seed fixes the draws


def test_a_lesions_images_are_resampled_together() -> None:
    y_true, probs, groups = lesions()
    twice = [np.repeat(a, 2, axis=0) for a in (y_true, probs, groups)]
    single = evaluate(y_true, probs, groups)["confidence_intervals"]
    duplicated = evaluate(*twice)["confidence_intervals"]
    as_independent = evaluate(*twice[:2])["confidence_intervals"]
    for name in ("balanced_accuracy", "macro_roc_auc", "melanoma_sensitivity", "accuracy"):
        assert width(duplicated[name]) == pytest.approx(width(single[name]), rel=1e-6)
        assert width(as_independent[name]) < 0.85 * width(single[name])


def test_resampling_every_lesion_once_reproduces_the_figures() -> None:
    y_true, probs, groups = lesions()
    m = evaluate(y_true, probs, groups, n_boot=0)
    thresholds = np.array([p["threshold"] for p in m["melanoma_at_specificity"].values()])
    once = _resampled_metrics(y_true, probs, groups, np.ones((1, 120)), thresholds)
    for name in ("balanced_accuracy", "accuracy", "macro_roc_auc", "melanoma_specificity"):
        assert once[name][0] == pytest.approx(m[name])
    assert once["melanoma_sensitivity"][0] == pytest.approx(m["melanoma_recall"])
    for c, code in enumerate(CLASS_CODES):
        assert once["recall"][0, c] == pytest.approx(m["per_class"][code]["recall"])
        assert once["precision"][0, c] == pytest.approx(m["per_class"][code]["precision"])
    sensitivities = [p["sensitivity"] for p in m["melanoma_at_specificity"].values()]
    assert once["sensitivity_at_threshold"][0] == pytest.approx(sensitivities)


def test_perfect_predictions_have_no_uncertainty_left() -> None:
    y_true, _, groups = lesions()
    m = evaluate(y_true, one_hot(y_true), groups)
    ci = m["confidence_intervals"]
    assert m["balanced_accuracy"] == 1.0
    for name in ("balanced_accuracy", "accuracy", "macro_roc_auc", "melanoma_sensitivity"):
        assert ci[name] == [1.0, 1.0]
    assert all(ci["per_class"][code]["recall"] == [1.0, 1.0] for code in CLASS_CODES)


def test_calibration_error_is_zero_when_confidence_matches_accuracy() -> None:
    y_pred = [NV] * 10 + [BCC] * 4
    y_true = np.array([NV] * 8 + [MEL] * 2 + [BCC] * 2 + [NV] * 2)  # 80 % right at 0.8, 50 % at 0.5
    probs = np.concatenate([with_confidence(0.8, y_pred[:10]), with_confidence(0.5, y_pred[10:])])
    assert expected_calibration_error(y_true, probs) == pytest.approx(0.0, abs=1e-12)
    overconfident = with_confidence(0.99, [NV] * 10)
    assert expected_calibration_error(np.array([NV] * 5 + [MEL] * 5), overconfident) == pytest.approx(0.49)


def test_calibration_error_does_not_let_bins_cancel() -> None:
    y_true = np.array([NV] * 10)
    probs = np.concatenate([with_confidence(0.9, [NV] * 5), with_confidence(0.6, [MEL] * 5)])
    # right at 0.9 (gap 0.1) and wrong at 0.6 (gap 0.6); one bin would see 50 % right at 0.75
    assert expected_calibration_error(y_true, probs) == pytest.approx(0.35)
    assert expected_calibration_error(y_true, probs, n_bins=1) == pytest.approx(0.25)


def test_negative_log_likelihood() -> None:
    y_true = np.array([NV, MEL])
    assert negative_log_likelihood(y_true, one_hot([NV, NV])) == pytest.approx(
        -(np.log(0.94) + np.log(0.01)) / 2
    )
    certain_and_wrong = np.eye(len(CLASS_CODES))[[NV]]
    assert negative_log_likelihood(np.array([MEL]), certain_and_wrong) == pytest.approx(-np.log(1e-12))


def test_melanoma_threshold_is_the_lowest_that_reaches_the_specificity() -> None:
    y_true, probs, groups = lesions()
    scores, is_mel = probs[:, MEL], y_true == MEL
    m = evaluate(y_true, probs, groups)
    points = m["melanoma_at_specificity"]
    assert list(points) == ["0.80", "0.90"]
    for target, point in points.items():
        threshold = point["threshold"]
        assert (scores[~is_mel] < threshold).mean() == point["specificity"] >= float(target)
        assert (scores[is_mel] >= threshold).mean() == point["sensitivity"]
        next_lower = scores[scores < threshold].max()
        assert (scores[~is_mel] < next_lower).mean() < float(target)
    assert points["0.90"]["threshold"] > points["0.80"]["threshold"]
    assert points["0.90"]["sensitivity"] <= points["0.80"]["sensitivity"]
    assert "melanoma sensitivity at specificity >= 0.90" in format_report(m)


def test_no_bootstrap_gives_the_figures_without_intervals() -> None:
    y_true, probs, groups = lesions()
    m = evaluate(y_true, probs, groups, n_boot=0)
    assert m["confidence_intervals"] is None
    assert all(p["sensitivity_ci"] is None for p in m["melanoma_at_specificity"].values())
    assert m["bootstrap"]["n_boot"] == 0
    assert "[" not in format_report(m)
    with_intervals = evaluate(y_true, probs, groups)
    for name in ("balanced_accuracy", "macro_roc_auc", "expected_calibration_error", "per_class"):
        assert m[name] == with_intervals[name]  # the bootstrap only adds intervals
    for target, point in m["melanoma_at_specificity"].items():
        assert point == {**with_intervals["melanoma_at_specificity"][target], "sensitivity_ci": None}


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_absent_and_rare_classes_do_not_break_the_intervals() -> None:
    y_true, probs, groups = lesions()
    df_lesions = np.unique(groups[y_true == DF])
    keep = (y_true != MEL) & ((y_true != DF) | (groups == df_lesions[0]))  # no melanoma, one df lesion
    m = evaluate(y_true[keep], probs[keep], groups[keep])
    ci = m["confidence_intervals"]
    assert ci["melanoma_sensitivity"] is None and ci["per_class"]["mel"]["recall"] is None
    assert ci["per_class"]["df"]["recall"] is not None  # from the resamples that drew the df lesion
    low, high = ci["balanced_accuracy"]
    assert 0 <= low <= m["balanced_accuracy"] <= high <= 1
    for point in m["melanoma_at_specificity"].values():
        assert point["sensitivity"] is None and point["sensitivity_ci"] is None
        assert point["specificity"] >= 0.8
    assert "n/a" in format_report(m)


def test_groups_must_match_the_images() -> None:
    y_true, probs, groups = lesions()
    with pytest.raises(ValueError, match="groups"):
        evaluate(y_true, probs, groups[:-1])


def test_paired_difference_finds_a_better_melanoma_model_and_no_difference_with_itself() -> None:
    y, probs, groups = lesions(n_lesions=200, n_images=500)
    sharper = probs.copy()
    sharper[:, MEL] += np.where(y == MEL, 0.3, 0.0)  # B ranks melanomas higher, nothing else changes
    sharper /= sharper.sum(axis=1, keepdims=True)
    better = paired_difference(y, probs, sharper, groups, n_boot=300)
    assert better["melanoma_roc_auc"]["difference"] > 0
    assert better["melanoma_roc_auc"]["interval"][0] > 0  # clear, though both are estimated on 200 lesions
    same = paired_difference(y, probs, probs, groups, n_boot=100)
    assert all(v["difference"] == 0 and v["interval"] == [0.0, 0.0] for v in same.values())
