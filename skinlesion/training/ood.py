"""An "outside what I know" score: Mahalanobis distance of pooled features to the nearest class.

A softmax always sums to one, so it can be confident about a photo of a cat; distance to the
training classes in feature space is a better signal (Lee et al., 2018). Each class is a
Gaussian with one covariance shared by all classes, estimated in a PCA subspace: 1280
dimensions from a few thousand images, with classes as small as ~100, would give a covariance
whose smallest eigenvalues are noise, and the inverse amplifies exactly those.

The parameters are folded so that the score is a squared Euclidean distance,
min_c || f @ projection + offset - class_means[c] ||^2: one Dense layer and a few ops when it
is put into the Keras / TFLite graph.
"""

from dataclasses import dataclass

import numpy as np

# Relative to the largest eigenvalue: below this the shared covariance cannot be inverted safely.
_MIN_EIGENVALUE_RATIO = 1e-10


@dataclass(frozen=True)
class MahalanobisParams:
    """score(f) = min_c || f @ projection + offset - class_means[c] ||^2, all float32.

    projection (d x k) is PCA then whitening in one matrix; offset (k,) is minus the feature mean
    through it; class_means (classes x k) are in the whitened space, one row per label in sorted
    order.
    """

    projection: np.ndarray
    offset: np.ndarray
    class_means: np.ndarray


def fit_mahalanobis(
    features: np.ndarray, y: np.ndarray, n_components: int = 128, shrinkage: float = 0.1
) -> MahalanobisParams:
    """Fit the class means and shared covariance on training features (n x d) with labels y.

    The pooled within-class covariance is shrunk towards its own diagonal,
    (1 - shrinkage) * S + shrinkage * diag(S): the per-dimension variances are well estimated,
    the correlations between dimensions much less so, and damping them keeps the smallest
    eigenvalues away from zero, so no direction of noise dominates the distance. 0.1 is a
    light touch; 0 gives the textbook estimate.
    """
    x = np.asarray(features, dtype=np.float64)
    labels = np.asarray(y)
    n, d = x.shape
    classes = np.unique(labels)
    if not 1 <= n_components <= min(n, d):
        raise ValueError(f"n_components must be within [1, {min(n, d)}], not {n_components}")
    if not 0.0 <= shrinkage <= 1.0:
        raise ValueError(f"shrinkage must be within [0, 1], not {shrinkage}")
    if n <= len(classes):
        raise ValueError(f"{n} samples cannot estimate a covariance shared by {len(classes)} classes")

    mean = x.mean(axis=0)
    _, _, components = np.linalg.svd(x - mean, full_matrices=False)
    pca = components[:n_components].T  # d x k, orthonormal columns
    z = (x - mean) @ pca

    means = np.stack([z[labels == c].mean(axis=0) for c in classes])
    residuals = z - means[np.searchsorted(classes, labels)]
    shared = residuals.T @ residuals / (n - len(classes))  # unbiased pooled estimate
    shared = (1.0 - shrinkage) * shared + shrinkage * np.diag(np.diag(shared))

    eigenvalues, eigenvectors = np.linalg.eigh(shared)
    if eigenvalues.min() <= _MIN_EIGENVALUE_RATIO * eigenvalues.max():
        raise ValueError("the shared covariance is singular: use fewer components or more shrinkage")
    # (z - m) S^-1 (z - m)^T = ||(z - m) W||^2 with W = U diag(1 / sqrt(eigenvalues)).
    whitening = eigenvectors / np.sqrt(eigenvalues)
    projection = pca @ whitening
    return MahalanobisParams(
        projection=projection.astype(np.float32),
        offset=(-mean @ projection).astype(np.float32),
        class_means=(means @ whitening).astype(np.float32),
    )


def mahalanobis_score(features: np.ndarray, params: MahalanobisParams) -> np.ndarray:
    """Squared Mahalanobis distance of each row of features (n x d) to its nearest class, (n,).

    The reference the in-graph version is checked against: exactly the formula of the params.
    """
    whitened = np.asarray(features, dtype=np.float64) @ params.projection + params.offset
    differences = whitened[:, None, :] - params.class_means[None, :, :].astype(np.float64)
    return np.einsum("nck,nck->nc", differences, differences).min(axis=1)


def threshold_for_rate(scores_in_distribution: np.ndarray, flag_rate: float = 0.05) -> float:
    """The score above which (strictly) at most flag_rate of in-distribution images are flagged.

    An order statistic, not an interpolated quantile, so the bound holds exactly on these
    scores; ties at the threshold are never flagged, which can only lower the rate.
    """
    scores = np.sort(np.asarray(scores_in_distribution, dtype=np.float64).ravel())
    if scores.size == 0:
        raise ValueError("no in-distribution scores to set a threshold on")
    if not 0.0 <= flag_rate < 1.0:
        raise ValueError(f"flag_rate must be within [0, 1), not {flag_rate}")
    allowed = int(np.floor(flag_rate * scores.size))
    return float(scores[scores.size - allowed - 1])
