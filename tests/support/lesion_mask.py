"""A rough lesion segmentation, to check that a class activation map looks at the lesion.

Pigmented lesions are darker than the skin around them, so the darker side of an Otsu split of
the grey levels, cleaned up and reduced to one connected region near the centre (dermoscopy
centres the lesion; the dark vignette corners of the lens are far from it), is a fair proxy.
It is no ground truth: it only has to be right often enough to compare map mass inside
against outside over many images.
"""

import numpy as np
from PIL import Image
from scipy import ndimage

# A grey closing this wide (a share of the longer side) erases hairs, which are thin and dark;
# the blur after it keeps skin texture from splitting the lesion or joining specks to it.
HAIR_WIDTH_FRACTION = 0.03
BLUR_SIGMA_FRACTION = 0.01
# A region smaller than this share of the image is a speck or a hair fragment, not the lesion.
MIN_REGION_FRACTION = 0.005


def otsu_threshold(grey: np.ndarray) -> float:
    """The grey level that maximises the between-class variance of the two sides (Otsu, 1979)."""
    counts, edges = np.histogram(grey, bins=256, range=(0.0, 256.0))
    centres = (edges[:-1] + edges[1:]) / 2
    weight_low = np.cumsum(counts)
    weight_high = weight_low[-1] - weight_low
    sum_low = np.cumsum(counts * centres)
    mean_low = sum_low / np.maximum(weight_low, 1)
    mean_high = (sum_low[-1] - sum_low) / np.maximum(weight_high, 1)
    between = weight_low * weight_high * (mean_low - mean_high) ** 2
    return float(edges[int(np.argmax(between)) + 1])


def lesion_mask(rgb: np.ndarray) -> np.ndarray:
    """Boolean (h, w) mask of the dark region nearest the image centre, holes filled."""
    height, width = rgb.shape[:2]
    grey = np.asarray(Image.fromarray(np.asarray(rgb, dtype=np.uint8)).convert("L"), dtype=np.float32)
    side = max(height, width)
    grey = ndimage.grey_closing(grey, size=max(3, round(HAIR_WIDTH_FRACTION * side)))
    grey = ndimage.gaussian_filter(grey, sigma=max(1.0, BLUR_SIGMA_FRACTION * side))
    dark = ndimage.binary_opening(grey < otsu_threshold(grey), iterations=2)
    labels, n_regions = ndimage.label(dark)
    sizes = np.bincount(labels.ravel(), minlength=n_regions + 1)[1:]
    # Distance from the centre to each region's nearest pixel: a lesion covering the centre scores 0.
    rows, cols = np.mgrid[0:height, 0:width]
    from_centre = np.hypot(rows - (height - 1) / 2, cols - (width - 1) / 2)
    nearest = ndimage.minimum(from_centre, labels, index=np.arange(1, n_regions + 1))
    nearest = np.where(sizes >= MIN_REGION_FRACTION * height * width, nearest, np.inf)
    if not np.isfinite(nearest).any():
        return np.zeros((height, width), dtype=bool)
    return ndimage.binary_fill_holes(labels == 1 + int(np.argmin(nearest)))


def cam_mass_on_lesion(grid01: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """(mean map value inside the mask, mean outside), the grid upsampled bilinearly to the mask.

    Means rather than sums, so a small lesion is not penalised for its size; a map that looks
    at the lesion has the first well above the second.
    """
    height, width = mask.shape
    coarse = Image.fromarray(np.asarray(grid01, dtype=np.float32))
    values = np.asarray(coarse.resize((width, height), Image.Resampling.BILINEAR))
    inside = float(values[mask].mean()) if mask.any() else float("nan")
    outside = float(values[~mask].mean()) if (~mask).any() else float("nan")
    return inside, outside
