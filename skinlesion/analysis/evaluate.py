"""Metrics that mean something on HAM10000 (67 % nevi), with their uncertainty, and the plots of a run.

Accuracy alone rewards answering `nv`; balanced accuracy (mean per-class recall), melanoma
recall and macro ROC AUC are reported beside the majority-class baseline. A validation split of
about 2,000 images leaves each figure uncertain by several points, so each comes with a 95 %
bootstrap interval that resamples lesions, not images: the images of one lesion are near
copies, and counting them as independent evidence would make the intervals too narrow.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn import metrics as skm

from skinlesion.classes import CLASS_CODES
from skinlesion.temperature import log_probabilities

MELANOMA = CLASS_CODES.index("mel")
LEVEL = 0.95
TARGET_SPECIFICITIES = (0.80, 0.90)
_CELLS_PER_CHUNK = 4_000_000  # resamples x images weighted at once in the AUC: bounds memory to ~32 MB


def balanced_accuracy(y_true: np.ndarray, probs: np.ndarray) -> float:
    return float(skm.balanced_accuracy_score(y_true, probs.argmax(axis=1)))


def expected_calibration_error(y_true: np.ndarray, probs: np.ndarray, n_bins: int = 15) -> float:
    """|accuracy - top-label confidence| per equal-width confidence bin, weighted by the bin's images.

    A probability can only be read as a risk when this is small; temperature scaling reduces it.
    """
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y_true
    bins = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)  # (k/n, (k+1)/n]
    gap = np.bincount(bins, weights=correct - confidence, minlength=n_bins)  # bin size x (acc - conf)
    return float(np.abs(gap).sum() / len(y_true))


def negative_log_likelihood(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Mean -log P(true class): unlike accuracy, it punishes confident mistakes."""
    return float(-log_probabilities(probs[np.arange(len(y_true)), y_true]).mean())


def evaluate(
    y_true: np.ndarray,
    probs: np.ndarray,
    groups: Sequence[Any] | np.ndarray | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """All reported figures for one set of predictions, with 95 % intervals; JSON-serialisable.

    `groups` gives each image's lesion_id: the bootstrap draws whole lesions, so an interval
    reflects how many lesions were seen, not how many photographs (None: each image is its own
    group). `n_boot=0` skips the intervals: `confidence_intervals` and `sensitivity_ci` are None.
    """
    labels = list(range(len(CLASS_CODES)))
    y_pred = probs.argmax(axis=1)
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    is_mel, said_mel = y_true == MELANOMA, y_pred == MELANOMA
    present = [c for c in labels if (y_true == c).any()]
    majority = int(np.bincount(y_true, minlength=len(labels)).argmax())
    unit = "image" if groups is None else "lesion"
    if groups is None:
        groups = np.arange(len(y_true))
    elif len(groups) != len(y_true):
        raise ValueError(f"{len(groups)} groups for {len(y_true)} images")
    group_index = np.unique(np.asarray(groups), return_inverse=True)[1]
    n_groups = int(group_index.max()) + 1

    thresholds = np.array([_melanoma_threshold(probs[:, MELANOMA], ~is_mel, t) for t in TARGET_SPECIFICITIES])
    operating_points = {}
    for target, threshold in zip(TARGET_SPECIFICITIES, thresholds, strict=True):
        flagged = probs[:, MELANOMA] >= threshold
        operating_points[f"{target:.2f}"] = {
            "threshold": float(threshold),
            "sensitivity": _number(safe_ratio((flagged & is_mel).sum(), is_mel.sum())),
            "specificity": _number(safe_ratio((~flagged & ~is_mel).sum(), (~is_mel).sum())),
            "sensitivity_ci": None,
        }
    intervals = None
    if n_boot > 0:
        draws = np.random.default_rng(seed).multinomial(
            n_groups, np.full(n_groups, 1 / n_groups), size=n_boot
        )
        resampled = _resampled_metrics(y_true, probs, group_index, draws, thresholds)
        intervals = _confidence_intervals(resampled)
        for point, samples in zip(
            operating_points.values(), resampled["sensitivity_at_threshold"].T, strict=True
        ):
            point["sensitivity_ci"] = percentile_interval(samples)

    return {
        "n_images": len(y_true),
        "balanced_accuracy": float(skm.balanced_accuracy_score(y_true, y_pred)),
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1[present].mean()),
        "macro_roc_auc": _macro_roc_auc(y_true, probs),
        "melanoma_recall": float((said_mel & is_mel).sum() / max(is_mel.sum(), 1)),
        "melanoma_specificity": float((~said_mel & ~is_mel).sum() / max((~is_mel).sum(), 1)),
        "majority_baseline": {
            "class": CLASS_CODES[majority],
            "accuracy": float((y_true == majority).mean()),
            "balanced_accuracy": 1.0 / len(present),
        },
        "per_class": {
            code: {"precision": float(precision[c]), "recall": float(recall[c]), "support": int(support[c])}
            for c, code in enumerate(CLASS_CODES)
        },
        "confusion_matrix": skm.confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "melanoma_at_specificity": operating_points,
        "expected_calibration_error": expected_calibration_error(y_true, probs),
        "negative_log_likelihood": negative_log_likelihood(y_true, probs),
        "confidence_intervals": intervals,
        "bootstrap": {
            "n_boot": n_boot,
            "unit": unit,
            "n_groups": n_groups,
            "seed": seed,
            "level": LEVEL,
            "method": "percentile",
        },
    }


def _confidence_intervals(resampled: dict[str, np.ndarray]) -> dict[str, Any]:
    """The `confidence_intervals` entry: overall figures, then precision and recall per class."""
    overall = (
        "balanced_accuracy",
        "macro_roc_auc",
        "melanoma_sensitivity",
        "melanoma_specificity",
        "accuracy",
    )
    intervals: dict[str, Any] = {name: percentile_interval(resampled[name]) for name in overall}
    intervals["per_class"] = {
        code: {
            "precision": percentile_interval(resampled["precision"][:, c]),
            "recall": percentile_interval(resampled["recall"][:, c]),
        }
        for c, code in enumerate(CLASS_CODES)
    }
    return intervals


def _melanoma_threshold(scores: np.ndarray, negative: np.ndarray, specificity: float) -> float:
    """The lowest P(mel) threshold (rule: flag when P(mel) >= it) that keeps at least this specificity here.

    Lowest, because sensitivity only falls as the threshold rises. The candidates are the observed
    scores, which give every reachable (sensitivity, specificity), and one above them all.
    """
    candidates = np.append(np.unique(scores), np.nextafter(scores.max(), np.inf))
    true_negatives = np.searchsorted(np.sort(scores[negative]), candidates)  # negatives below each
    return float(candidates[np.argmax(safe_ratio(true_negatives, negative.sum()) >= specificity)])


def _resampled_metrics(
    y_true: np.ndarray, probs: np.ndarray, group_index: np.ndarray, draws: np.ndarray, thresholds: np.ndarray
) -> dict[str, np.ndarray]:
    """Every interval's figure on every resample at once; draws[r, g]: times group g is drawn in resample r.

    A resample weights each image by its group's draw count, so counts are summed per group once
    and every figure is a ratio of weighted counts. A figure that needs a class the resample lacks
    is NaN there (the interval leaves that resample out), and the averages over classes (balanced
    accuracy, macro AUC) use the classes present in that resample.
    """
    n_classes = probs.shape[1]
    is_mel = y_true == MELANOMA
    per_image = np.column_stack(
        [
            np.eye(n_classes**2)[y_true * n_classes + probs.argmax(axis=1)],
            is_mel[:, None] & (probs[:, [MELANOMA]] >= thresholds),
        ]
    )
    per_group = np.zeros((draws.shape[1], per_image.shape[1]))
    np.add.at(per_group, group_index, per_image)
    counts = draws @ per_group
    confusion = counts[:, : n_classes**2].reshape(-1, n_classes, n_classes)
    support, predicted = confusion.sum(axis=2), confusion.sum(axis=1)
    hits = confusion.diagonal(axis1=1, axis2=2)
    recall = safe_ratio(hits, support)
    negatives = support.sum(axis=1) - support[:, MELANOMA]
    return {
        "balanced_accuracy": _mean_over_classes(recall),
        "accuracy": hits.sum(axis=1) / support.sum(axis=1),
        "macro_roc_auc": _mean_over_classes(_resampled_auc(y_true, probs, group_index, draws)),
        "melanoma_sensitivity": recall[:, MELANOMA],
        "melanoma_specificity": safe_ratio(negatives - predicted[:, MELANOMA] + hits[:, MELANOMA], negatives),
        "recall": recall,
        "precision": safe_ratio(hits, predicted),
        "sensitivity_at_threshold": safe_ratio(counts[:, n_classes**2 :], support[:, [MELANOMA]]),
    }


def _resampled_auc(
    y_true: np.ndarray, probs: np.ndarray, group_index: np.ndarray, draws: np.ndarray
) -> np.ndarray:
    """One-vs-rest ROC AUC per resample and class, NaN where the resample lacks positives or negatives.

    AUC is P(a positive scores above a negative), ties counting half: with the images sorted by
    score once per class, it is one cumulative sum of negative weight per resample, where
    scikit-learn would need a call per class and resample.
    """
    n_images, n_classes = probs.shape
    auc = np.empty((len(draws), n_classes))
    chunk = max(1, _CELLS_PER_CHUNK // n_images)
    for c in range(n_classes):
        order = np.argsort(probs[:, c], kind="stable")
        scores = probs[order, c]
        tie_starts = np.flatnonzero(np.r_[True, scores[1:] != scores[:-1]])
        positive = y_true[order] == c
        for start in range(0, len(draws), chunk):
            weights = draws[start : start + chunk][:, group_index[order]].astype(float)
            pos = np.add.reduceat(weights * positive, tie_starts, axis=1)
            neg = np.add.reduceat(weights, tie_starts, axis=1) - pos
            below = np.cumsum(neg, axis=1) - neg  # negative weight scored strictly lower
            auc[start : start + chunk, c] = safe_ratio(
                (pos * (below + neg / 2)).sum(axis=1), pos.sum(axis=1) * neg.sum(axis=1)
            )
    return auc


def safe_ratio(numerator: Any, denominator: Any) -> np.ndarray:
    """numerator / denominator, NaN where the denominator is 0 (the figure is undefined there)."""
    numerator, denominator = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    out = np.full(np.broadcast_shapes(numerator.shape, denominator.shape), np.nan)
    return np.divide(numerator, denominator, out=out, where=denominator > 0)


def _mean_over_classes(values: np.ndarray) -> np.ndarray:
    """Row means over the defined (non-NaN) entries."""
    defined = ~np.isnan(values)
    return safe_ratio(np.where(defined, values, 0).sum(axis=1), defined.sum(axis=1))


def percentile_interval(samples: np.ndarray) -> list[float] | None:
    """Percentile interval over the resamples where the figure is defined; None if it never is."""
    defined = samples[~np.isnan(samples)]
    if defined.size == 0:
        return None
    tail = 100 * (1 - LEVEL) / 2
    return [float(q) for q in np.percentile(defined, [tail, 100 - tail])]


def _number(value: np.ndarray) -> float | None:
    return None if np.isnan(value) else float(value)


def format_report(m: dict[str, Any]) -> str:
    """The figures as text, each followed by its 95 % interval in brackets when there is one."""
    base, boot = m["majority_baseline"], m["bootstrap"]
    ci = m["confidence_intervals"] or {}
    per_class_ci = ci.get("per_class", {})
    resampling = f"; {boot['level']:.0%} intervals from {boot['n_boot']} {boot['unit']} resamples"
    lines = [
        f"images: {m['n_images']} ({boot['n_groups']} {boot['unit']}s{resampling if ci else ''})",
        f"balanced accuracy {_with_interval(m['balanced_accuracy'], ci.get('balanced_accuracy'))}  "
        f"(majority baseline {base['balanced_accuracy']:.3f})",
        f"accuracy          {_with_interval(m['accuracy'], ci.get('accuracy'))}  "
        f"(always '{base['class']}': {base['accuracy']:.3f})",
        f"macro F1          {m['macro_f1']:.3f}",
        f"macro ROC AUC     {_with_interval(m['macro_roc_auc'], ci.get('macro_roc_auc'))}",
        f"melanoma recall   {_with_interval(m['melanoma_recall'], ci.get('melanoma_sensitivity'))}  "
        f"specificity {_with_interval(m['melanoma_specificity'], ci.get('melanoma_specificity'))}",
    ]
    lines += [
        f"melanoma sensitivity at specificity >= {target}: "
        f"{_with_interval(point['sensitivity'], point['sensitivity_ci'])}  "
        f"(P(mel) >= {point['threshold']:.4f}, specificity {_with_interval(point['specificity'])})"
        for target, point in m["melanoma_at_specificity"].items()
    ]
    lines += [
        f"calibration: ECE {m['expected_calibration_error']:.3f}  NLL {m['negative_log_likelihood']:.3f}",
        f"class   {'precision':22s}{'recall':22s}support",
    ]
    lines += [
        f"{code:6s}  {_with_interval(pc['precision'], per_class_ci.get(code, {}).get('precision')):22s}"
        f"{_with_interval(pc['recall'], per_class_ci.get(code, {}).get('recall')):22s}{pc['support']:7d}"
        for code, pc in m["per_class"].items()
    ]
    return "\n".join(lines)


def _with_interval(value: float | None, interval: list[float] | None = None) -> str:
    """`0.648 [0.620, 0.676]`; just the figure when it has no interval, `n/a` when it is undefined."""
    if value is None:
        return "n/a"
    return f"{value:.3f}" + (f" [{interval[0]:.3f}, {interval[1]:.3f}]" if interval else "")


def plot_confusion(m: dict[str, Any], path: Path, images: str = "validation") -> None:
    """Row-normalised confusion matrix (recall on the diagonal) with the raw counts."""
    counts = np.array(m["confusion_matrix"])
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for (i, j), n in np.ndenumerate(counts):
        ax.text(
            j,
            i,
            f"{rates[i, j]:.2f}\n{n}",
            ha="center",
            va="center",
            fontsize=7,
            color="white" if rates[i, j] > 0.5 else "black",
        )
    ax.set(
        xticks=range(len(CLASS_CODES)),
        yticks=range(len(CLASS_CODES)),
        xticklabels=CLASS_CODES,
        yticklabels=CLASS_CODES,
        xlabel="predicted",
        ylabel="true",
        title=f"{images}, balanced accuracy {m['balanced_accuracy']:.3f}",
    )
    fig.colorbar(image, ax=ax, label="fraction of the true class")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_history(history: list[dict[str, float]], path: Path) -> None:
    """Loss and validation balanced accuracy per epoch, both phases on one axis of epochs."""
    epochs = [h["epoch"] for h in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.plot(epochs, [h["loss"] for h in history], label="train loss")
    left.set(xlabel="epoch", ylabel="loss")
    right.plot(epochs, [h["val_balanced_accuracy"] for h in history], label="validation balanced accuracy")
    right.set(xlabel="epoch", ylabel="balanced accuracy", ylim=(0, 1))
    for ax in (left, right):
        for h in history:
            if h.get("phase_start"):
                ax.axvline(h["epoch"] - 0.5, color="grey", linestyle=":")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def paired_difference(
    y_true: np.ndarray,
    probs_a: np.ndarray,
    probs_b: np.ndarray,
    groups: Sequence[Any] | np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
    only: Sequence[str] | None = None,
) -> dict[str, dict[str, float | list[float]]]:
    """Model B minus model A on the same images, each figure with a 95 % interval by lesion.

    Both models are scored on the same resample each time, so what the two splits' noise has in
    common cancels: a difference can be clear even where the two intervals of `evaluate`
    overlap. This is how two candidates are compared on one validation split. `only` names the
    figures wanted (the ROC figures cost most of the time); default: all.
    """
    figures = {
        "balanced_accuracy": lambda y, p: skm.balanced_accuracy_score(y, p.argmax(axis=1)),
        "macro_roc_auc": _macro_roc_auc,
        "melanoma_roc_auc": lambda y, p: skm.roc_auc_score(y == MELANOMA, p[:, MELANOMA]),
        **{
            f"melanoma_sensitivity_at_specificity_{target:.2f}": _sensitivity_at(target)
            for target in TARGET_SPECIFICITIES
        },
    }
    if only is not None:
        figures = {name: figures[name] for name in only}
    group_index = np.unique(np.asarray(groups), return_inverse=True)[1]
    n_groups = int(group_index.max()) + 1
    rng = np.random.default_rng(seed)
    samples: dict[str, list[float]] = {name: [] for name in figures}
    for _ in range(n_boot):
        counts = np.bincount(rng.integers(0, n_groups, n_groups), minlength=n_groups)[group_index]
        idx = np.repeat(np.arange(len(y_true)), counts)
        if (y_true[idx] == MELANOMA).all() or not (y_true[idx] == MELANOMA).any():
            continue
        for name, figure in figures.items():
            samples[name].append(figure(y_true[idx], probs_b[idx]) - figure(y_true[idx], probs_a[idx]))
    return {
        name: {
            "a": float(figure(y_true, probs_a)),
            "b": float(figure(y_true, probs_b)),
            "difference": float(figure(y_true, probs_b) - figure(y_true, probs_a)),
            "interval": percentile_interval(np.array(samples[name])),
        }
        for name, figure in figures.items()
    }


def _macro_roc_auc(y_true: np.ndarray, probs: np.ndarray) -> float:
    """One-vs-rest ROC AUC averaged over the classes present (with both positives and negatives)."""
    return float(
        np.mean(
            [skm.roc_auc_score(y_true == c, probs[:, c]) for c in np.unique(y_true) if (y_true != c).any()]
        )
    )


def _sensitivity_at(specificity: float):
    """Melanoma sensitivity where the threshold keeps `specificity` on these very images."""

    def figure(y: np.ndarray, p: np.ndarray) -> float:
        is_mel = y == MELANOMA
        threshold = _melanoma_threshold(p[:, MELANOMA], ~is_mel, specificity)
        return float((p[is_mel, MELANOMA] >= threshold).mean())

    return figure
