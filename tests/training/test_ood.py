"""The Mahalanobis out-of-distribution score on synthetic Gaussian clusters with known geometry."""

import numpy as np
import pytest

from skinlesion.training.ood import fit_mahalanobis, mahalanobis_score, threshold_for_rate

DIM = 16
N_CLASSES = 4


def clusters(n_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Well-separated classes sharing one correlated, anisotropic covariance."""
    rng = np.random.default_rng(seed)
    means = np.random.default_rng(0).normal(0.0, 6.0, size=(N_CLASSES, DIM))
    mixing = np.random.default_rng(1).normal(size=(DIM, DIM)) * np.geomspace(3.0, 0.3, DIM)
    y = np.repeat(np.arange(N_CLASSES), n_per_class)
    x = means[y] + rng.normal(size=(len(y), DIM)) @ mixing
    return x.astype(np.float32), y


def test_full_rank_unshrunk_score_is_the_direct_mahalanobis_distance() -> None:
    x, y = clusters(200, seed=2)
    params = fit_mahalanobis(x, y, n_components=DIM, shrinkage=0.0)

    x64 = x.astype(np.float64)
    means = np.stack([x64[y == c].mean(axis=0) for c in range(N_CLASSES)])
    residuals = x64 - means[y]
    precision = np.linalg.inv(residuals.T @ residuals / (len(x) - N_CLASSES))
    queries, _ = clusters(20, seed=3)
    queries = np.concatenate([queries, queries[:5] * 3.0])  # some far outside too
    differences = queries.astype(np.float64)[:, None, :] - means[None]
    direct = np.einsum("nci,ij,ncj->nc", differences, precision, differences).min(axis=1)

    np.testing.assert_allclose(mahalanobis_score(queries, params), direct, rtol=1e-4, atol=1e-3)


def test_params_are_float32_and_shaped_for_one_dense_layer() -> None:
    x, y = clusters(100, seed=4)
    params = fit_mahalanobis(x, y, n_components=8)
    assert params.projection.shape == (DIM, 8)
    assert params.offset.shape == (8,)
    assert params.class_means.shape == (N_CLASSES, 8)
    assert {a.dtype for a in (params.projection, params.offset, params.class_means)} == {np.dtype("float32")}


@pytest.mark.parametrize("n_components", [DIM, 6])
def test_points_far_from_every_cluster_score_higher_than_held_out_ones(n_components: int) -> None:
    x, y = clusters(300, seed=5)
    params = fit_mahalanobis(x, y, n_components=n_components)
    held_out, _ = clusters(50, seed=6)
    far = np.random.default_rng(7).normal(0.0, 40.0, size=(200, DIM)).astype(np.float32)

    inside, outside = mahalanobis_score(held_out, params), mahalanobis_score(far, params)
    assert np.median(outside) > 10 * np.median(inside)
    assert (outside > threshold_for_rate(inside, 0.05)).mean() > 0.95


def test_held_out_points_score_like_a_chi_square_with_k_degrees_of_freedom() -> None:
    """Whitening makes each in-class squared distance a chi-square(k), of mean k."""
    x, y = clusters(2000, seed=8)
    params = fit_mahalanobis(x, y, n_components=DIM, shrinkage=0.0)
    held_out, _ = clusters(500, seed=9)
    assert mahalanobis_score(held_out, params).mean() == pytest.approx(DIM, rel=0.1)


def test_shrinkage_makes_a_rank_deficient_covariance_invertible() -> None:
    """10 dimensions but 9 degrees of freedom within classes: singular as estimated, invertible shrunk."""
    rng = np.random.default_rng(10)
    x = rng.normal(size=(12, 40)).astype(np.float32)
    y = np.repeat(np.arange(3), 4)
    with pytest.raises(ValueError, match="singular"):
        fit_mahalanobis(x, y, n_components=10, shrinkage=0.0)
    assert np.isfinite(mahalanobis_score(x, fit_mahalanobis(x, y, n_components=10, shrinkage=0.5))).all()


@pytest.mark.parametrize("rate", [0.0, 0.01, 0.05, 0.2, 0.5])
def test_threshold_flags_at_most_the_rate(rate: float) -> None:
    scores = np.random.default_rng(11).gamma(4.0, size=997)
    flagged = (scores > threshold_for_rate(scores, rate)).mean()
    assert rate - 1 / len(scores) < flagged <= rate


def test_ties_at_the_threshold_are_not_flagged() -> None:
    scores = np.array([1.0] * 90 + [2.0] * 10)
    assert (scores > threshold_for_rate(scores, 0.05)).mean() == 0.0
    assert threshold_for_rate(np.array([3.0]), 0.05) == 3.0


def test_bad_arguments_are_refused() -> None:
    x, y = clusters(10, seed=12)
    with pytest.raises(ValueError, match="n_components"):
        fit_mahalanobis(x, y, n_components=DIM + 1)
    with pytest.raises(ValueError, match="flag_rate"):
        threshold_for_rate(np.ones(5), 1.0)
    with pytest.raises(ValueError, match="no in-distribution"):
        threshold_for_rate(np.array([]))
