"""Temperature scaling's arithmetic, the one home for both sides: log-probabilities, and softmax at
a temperature T.

The exported graphs output probabilities, not logits; log p is the logits up to a per-row constant,
which softmax ignores, so softmax(log p / T) rescales an answer without changing any ranking.
Conversion fits T (`conversion/calibration.py`), serving applies it (`inference.py`), and the
metadata rule (`metadata.py`) adds its evidence in the same log space.
"""

import numpy as np

EPSILON = 1e-12  # the floor under a probability before its log: a rounded-to-0 value stays finite


def log_probabilities(probs: np.ndarray, epsilon: float = EPSILON) -> np.ndarray:
    """log(p), clipped at `epsilon`."""
    return np.log(np.clip(np.asarray(probs, dtype=np.float64), epsilon, None))


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """softmax(logits / T) along the last axis, without overflow; T > 1 softens, T < 1 sharpens,
    neither reorders."""
    if not (np.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be finite and > 0, not {temperature}")
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    weights = np.exp(scaled - scaled.max(axis=-1, keepdims=True))
    return weights / weights.sum(axis=-1, keepdims=True)


def calibrate(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T): the same ranking of classes, probabilities that mean what they say."""
    return softmax(log_probabilities(probabilities), temperature)
