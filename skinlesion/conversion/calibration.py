"""Temperature scaling: one number that makes the model's probabilities readable as risks.

A network trained with cross-entropy is usually over-confident on new images, so "P(mel) = 0.9"
is not a 90 % risk. Dividing the logits by one temperature T > 0, fitted by likelihood on held-out
images, fixes most of that while leaving every ranking, and so every argmax, threshold order and
ROC AUC, unchanged. T is fitted on one share of the validation lesions and judged on the other,
so the before/after figures are not scored on the images that chose T.
"""

import warnings
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax

from skinlesion.analysis.evaluate import expected_calibration_error, negative_log_likelihood

N_BINS = 15  # as evaluate.expected_calibration_error
TEMPERATURE_BOUNDS = (0.05, 20.0)  # far beyond any useful T; reaching one means the data cannot fix T


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The T > 0 minimising the mean negative log-likelihood of softmax(logits / T) on these labels.

    The NLL is convex in 1/T, hence unimodal in log T, so a bounded scalar search on log T finds
    the minimum, deterministically. Searching log T treats halving and doubling alike. Where a bound
    of TEMPERATURE_BOUNDS does at least as well as any T inside them (e.g. every image already right,
    where the NLL falls as T -> 0), that bound is returned with a warning: such data do not determine T.
    """
    logits, y = _check_logits_and_labels(logits, y)
    rows = np.arange(len(y))

    def nll(log_t: float) -> float:
        return float(-log_softmax(logits / np.exp(log_t), axis=1)[rows, y].mean())

    low, high = np.log(TEMPERATURE_BOUNDS)
    result = minimize_scalar(nll, bounds=(low, high), method="bounded", options={"xatol": 1e-6})
    best_bound = min((low, high), key=nll)
    if nll(best_bound) <= result.fun:  # the minimum is not inside the bounds (or the NLL is flat to 0)
        warnings.warn(
            f"temperature fit reached the bound {np.exp(best_bound):.3g}: these data do not determine T",
            stacklevel=2,
        )
        return float(np.exp(best_bound))
    return float(np.exp(result.x))


def calibration_split(lesion_ids: np.ndarray, fraction: float = 0.5, seed: int = 0) -> np.ndarray:
    """A boolean mask over images: True for those whose lesion is among the share chosen to fit T.

    Lesions, not images, are split, so no lesion's near-identical photographs sit on both sides
    and flatter the held-out figures. `fraction` is the share of lesions (at least one lesion on
    each side); the choice depends only on the set of lesion ids and the seed, not on image order.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must lie strictly between 0 and 1, not {fraction}")
    lesions, index = np.unique(np.asarray(lesion_ids), return_inverse=True)
    if len(lesions) < 2:
        raise ValueError(f"{len(lesions)} lesion(s): a split needs at least two")
    n_fit = min(max(round(fraction * len(lesions)), 1), len(lesions) - 1)
    chosen = np.zeros(len(lesions), dtype=bool)
    chosen[np.random.default_rng(seed).permutation(len(lesions))[:n_fit]] = True
    return chosen[index.reshape(-1)]


def reliability_bins(y: np.ndarray, probs: np.ndarray, n_bins: int = N_BINS) -> dict[str, list[Any]]:
    """Per equal-width bin of top-class confidence, (k/n, (k+1)/n]: mean confidence, accuracy, count.

    The binning is evaluate.expected_calibration_error's, so the diagram shows the very gaps that
    ECE sums. An empty bin has None for confidence and accuracy (JSON has no NaN).
    """
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y
    bins = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    mean_confidence = np.bincount(bins, weights=confidence, minlength=n_bins)
    accuracy = np.bincount(bins, weights=correct, minlength=n_bins)
    return {
        "confidence": [float(s / c) if c else None for s, c in zip(mean_confidence, count, strict=True)],
        "accuracy": [float(s / c) if c else None for s, c in zip(accuracy, count, strict=True)],
        "count": [int(c) for c in count],
    }


def calibration_report(y: np.ndarray, probs_before: np.ndarray, probs_after: np.ndarray) -> dict[str, Any]:
    """ECE, NLL and reliability bins of the same images before and after scaling; JSON-serialisable.

    Pass the images that did not fit T (~calibration_split(...)): scored on the fitting images,
    the NLL could only have fallen.
    """
    y = np.asarray(y)
    if not len(y) == len(probs_before) == len(probs_after):
        raise ValueError(f"{len(y)} labels, {len(probs_before)} and {len(probs_after)} predictions")
    return {
        "n_images": len(y),
        "bin_edges": np.linspace(0, 1, N_BINS + 1).tolist(),
        **{
            side: {
                "expected_calibration_error": expected_calibration_error(y, probs),
                "negative_log_likelihood": negative_log_likelihood(y, probs),
                "reliability": reliability_bins(y, probs),
            }
            for side, probs in (("before", probs_before), ("after", probs_after))
        },
    }


def plot_reliability(report: dict[str, Any], path: Path, after_label: str = "after") -> None:
    """Accuracy against mean confidence per bin, before and after, beside the diagonal of a calibrated model.

    Bin counts are drawn faintly behind: a point far from the diagonal matters as much as the
    images in its bin.
    """
    before, after = (report[side]["expected_calibration_error"] for side in ("before", "after"))
    edges = np.array(report["bin_edges"])
    width = np.diff(edges)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    counts_ax = ax.twinx()
    ax.set_zorder(counts_ax.get_zorder() + 1)  # curves above the histogram
    ax.patch.set_visible(False)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="calibrated")
    labels = {"before": "before", "after": after_label}
    for side, color, shift in (("before", "tab:red", 0.0), ("after", "tab:blue", 0.5)):
        bins = report[side]["reliability"]
        confidence = np.array(bins["confidence"], dtype=float)  # None (empty bin) -> NaN: not drawn
        accuracy = np.array(bins["accuracy"], dtype=float)
        ece = report[side]["expected_calibration_error"]
        ax.plot(confidence, accuracy, marker="o", color=color, label=f"{labels[side]} (ECE {ece:.3f})")
        counts_ax.bar(
            edges[:-1] + shift * width, bins["count"], width / 2, align="edge", color=color, alpha=0.15
        )
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1),
        xlabel="mean top-class confidence",
        ylabel="accuracy",
        title=f"reliability, {report['n_images']} held-out images: ECE {before:.3f} -> {after:.3f}",
    )
    counts_ax.set_ylabel("images per bin")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _check_logits_and_labels(logits: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    logits, y = np.asarray(logits, dtype=float), np.asarray(y)
    if logits.ndim != 2 or len(logits) == 0:
        raise ValueError(f"logits must be a non-empty (images, classes) array, not shape {logits.shape}")
    if len(y) != len(logits):
        raise ValueError(f"{len(y)} labels for {len(logits)} rows of logits")
    if not np.isfinite(logits).all():
        raise ValueError("logits must be finite (from probabilities, use temperature.log_probabilities)")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= logits.shape[1]:
        raise ValueError(f"labels must be class indices in [0, {logits.shape[1]})")
    return logits, y
