"""Two statistics of a model input that say whether it can be a dermoscopy image at all.

The backbone's features place a flat colour, noise or a page of text near the dermoscopy images
(they excite none of its filters strongly), so the Mahalanobis score cannot see them; their
pixels can. Contrast (grey-level spread) is zero for a blank frame; roughness (mean step between
neighbouring pixels, relative to the contrast) is extreme for noise and text and near zero for a
smooth graphic. Computed on the preprocessed tensor, so training and serving see the same values.
"""

import numpy as np


def texture(tensor: np.ndarray) -> tuple[float, float]:
    """(contrast, roughness) of one preprocessed (H, W, 3) or (1, H, W, 3) input."""
    grey = np.asarray(tensor, dtype=np.float32).reshape(tensor.shape[-3:]).mean(axis=-1)
    contrast = float(grey.std(dtype=np.float64))
    steps = np.abs(np.diff(grey, axis=0)).mean(dtype=np.float64) + np.abs(np.diff(grey, axis=1)).mean(
        dtype=np.float64
    )
    return contrast, float(steps / (contrast + 1e-6))
