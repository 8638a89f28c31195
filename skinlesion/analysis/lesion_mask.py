"""A rough lesion segmentation, and how much of a heatmap falls on it: the judge of the maps.

Pigmented lesions are darker than the skin around them, so the darker side of an Otsu split of
the grey levels, cleaned up and reduced to one connected region near the centre (dermoscopy
centres the lesion; the dark vignette corners of the lens are far from it), is a fair proxy.
It is no ground truth: it only has to be right often enough to compare maps over many images,
which is why `judged` sets aside, by a fixed rule, the images where it plainly failed.
"""

import numpy as np
from PIL import Image
from scipy import ndimage

from skinlesion.serving.heatmap import upsample

# A grey closing this wide (a share of the longer side) erases hairs, which are thin and dark;
# the blur after it keeps skin texture from splitting the lesion or joining specks to it.
HAIR_WIDTH_FRACTION = 0.03
BLUR_SIGMA_FRACTION = 0.01
# A region smaller than this share of the image is a speck or a hair fragment, not the lesion.
MIN_REGION_FRACTION = 0.005
# When a mask is no lesion to judge a map by. Checked by eye on HAM10000 validation images
# (the first 48 of the 200 that docs/results.md uses, and the 32 whose masks reach the edge most):
# a mask over a quarter of the frame's edge followed the lens's dark vignette or took the skin
# with the lesion in all but a few large lesions; outside 2-90 % of the frame it is a speck or the skin.
JUDGED_COVERAGE = (0.02, 0.90)
MAX_EDGE_SHARE = 0.25
# The baseline a map must beat: a centred Gaussian whose sigma is this share of each side.
BLOB_SIGMA_FRACTION = 0.15


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
    """(mean map value inside the mask, mean outside), the grid upsampled as the overlay draws it.

    Means rather than sums, so a small lesion is not penalised for its size; a map that looks
    at the lesion has the first well above the second.
    """
    values = upsample(grid01, (mask.shape[1], mask.shape[0]))
    inside = float(values[mask].mean()) if mask.any() else float("nan")
    outside = float(values[~mask].mean()) if (~mask).any() else float("nan")
    return inside, outside


def edge_share(mask: np.ndarray) -> float:
    """The share of the frame's edge pixels that the mask covers."""
    edge = np.concatenate([mask[0], mask[-1], mask[1:-1, 0], mask[1:-1, -1]])
    return float(edge.mean())


def judged(mask: np.ndarray) -> bool:
    """Whether a mask is plausible enough to judge a map against: the rule fixed by eye on the
    masks alone (`JUDGED_COVERAGE`, `MAX_EDGE_SHARE`), never by how a map scores on them."""
    low, high = JUDGED_COVERAGE
    return low <= float(mask.mean()) <= high and edge_share(mask) <= MAX_EDGE_SHARE


def share_inside(heatmap: np.ndarray, mask: np.ndarray) -> float:
    """The share of a map's mass (non-negative values) that lies inside the mask: 1 when all of
    what it shows is on the lesion. The map is upsampled to the mask's size as the overlay draws
    it; a map already at that size is taken as it is. NaN for a map with no mass."""
    values = upsample(heatmap, (mask.shape[1], mask.shape[0])).clip(0.0, None).astype(np.float64)
    total = values.sum()
    return float(values[mask].sum() / total) if total > 0 else float("nan")


def centred_blob(height: int, width: int, sigma_fraction: float = BLOB_SIGMA_FRACTION) -> np.ndarray:
    """A Gaussian at the frame's centre, sigma a share of each side: a map that knows nothing
    but that dermoscopy centres the lesion, which any real map has to beat."""
    rows = (np.arange(height) - (height - 1) / 2) / (sigma_fraction * height)
    cols = (np.arange(width) - (width - 1) / 2) / (sigma_fraction * width)
    return np.exp(-0.5 * (rows[:, None] ** 2 + cols[None, :] ** 2)).astype(np.float32)
