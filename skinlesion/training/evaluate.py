"""Metrics that mean something on HAM10000 (67 % nevi), and the plots of a run.

Accuracy alone rewards answering `nv`; balanced accuracy (mean per-class recall), melanoma
recall and macro ROC AUC are reported beside the majority-class baseline.
"""

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn import metrics as skm

from skinlesion.classes import CLASS_CODES

MELANOMA = CLASS_CODES.index("mel")


def balanced_accuracy(y_true: np.ndarray, probs: np.ndarray) -> float:
    return float(skm.balanced_accuracy_score(y_true, probs.argmax(axis=1)))


def evaluate(y_true: np.ndarray, probs: np.ndarray) -> dict[str, Any]:
    """All reported figures for one set of predictions; JSON-serialisable."""
    labels = list(range(len(CLASS_CODES)))
    y_pred = probs.argmax(axis=1)
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    is_mel, said_mel = y_true == MELANOMA, y_pred == MELANOMA
    present = [c for c in labels if (y_true == c).any()]
    majority = int(np.bincount(y_true, minlength=len(labels)).argmax())
    return {
        "n_images": len(y_true),
        "balanced_accuracy": float(skm.balanced_accuracy_score(y_true, y_pred)),
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1[present].mean()),
        "macro_roc_auc": float(
            np.mean([skm.roc_auc_score(y_true == c, probs[:, c]) for c in present if (y_true != c).any()])
        ),
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
    }


def format_report(m: dict[str, Any]) -> str:
    base = m["majority_baseline"]
    lines = [
        f"images: {m['n_images']}",
        f"balanced accuracy {m['balanced_accuracy']:.3f}  "
        f"(majority baseline {base['balanced_accuracy']:.3f})",
        f"accuracy          {m['accuracy']:.3f}  (always '{base['class']}': {base['accuracy']:.3f})",
        f"macro F1          {m['macro_f1']:.3f}",
        f"macro ROC AUC     {m['macro_roc_auc']:.3f}",
        f"melanoma recall   {m['melanoma_recall']:.3f}  specificity {m['melanoma_specificity']:.3f}",
        "class   precision  recall  support",
    ]
    lines += [
        f"{code:6s}  {pc['precision']:9.3f}  {pc['recall']:6.3f}  {pc['support']:7d}"
        for code, pc in m["per_class"].items()
    ]
    return "\n".join(lines)


def plot_confusion(m: dict[str, Any], path: Path) -> None:
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
        title=f"validation, balanced accuracy {m['balanced_accuracy']:.3f}",
    )
    fig.colorbar(image, ax=ax, label="fraction of the true class")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_history(history: list[dict[str, float]], path: Path) -> None:
    """Loss and validation balanced accuracy per epoch, both phases on one axis of epochs."""
    epochs = [h["epoch"] for h in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.plot(epochs, [h["loss"] for h in history], label="train loss (class-weighted)")
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
