"""The reported figures on a hand-checked example."""

import numpy as np
import pytest

from skinlesion.classes import CLASS_CODES
from skinlesion.training.evaluate import evaluate, format_report

MEL, NV, BCC = CLASS_CODES.index("mel"), CLASS_CODES.index("nv"), CLASS_CODES.index("bcc")


def one_hot(indices: list[int]) -> np.ndarray:
    probs = np.full((len(indices), len(CLASS_CODES)), 0.01)
    probs[np.arange(len(indices)), indices] = 0.94
    return probs


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
