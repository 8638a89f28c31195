"""The loss, the epoch-seeded batches, mixup/CutMix and the class prior that the phases share."""

import json

import keras
import numpy as np
import pytest

from skinlesion.image.preprocessing import Preprocessor, PreprocessSpec
from skinlesion.training.fit import (
    ImageBatches,
    LogitAdjustedLoss,
    RandomChannelGain,
    RandomLowDetail,
    augmentation,
    distillation_targets,
    log_prior,
    log_prior_by_source,
    mix_batch,
    source_coded,
)

RNG = np.random.default_rng(0)
LOGITS = RNG.normal(size=(6, 7)).astype(np.float32)
Y = np.array([0, 1, 2, 5, 5, 6])


def cross_entropy(logits: np.ndarray, target: np.ndarray) -> np.ndarray:
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return -(target * log_p).sum(axis=1)


def test_log_prior_is_the_log_share_of_each_class() -> None:
    prior = np.exp(log_prior(np.array([5, 5, 5, 0])))
    np.testing.assert_allclose(prior[[0, 5]], [0.25, 0.75], rtol=1e-6)
    assert prior[3] == pytest.approx(0.25)  # an absent class counts as one image, never log(0)


def test_without_adjustment_or_smoothing_it_is_plain_cross_entropy() -> None:
    loss = LogitAdjustedLoss([0.0] * 7, tau=0.0)(Y, LOGITS)
    expected = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(Y, LOGITS)
    assert float(loss) == pytest.approx(float(expected), rel=1e-6)


def test_the_prior_shifts_the_logits_and_smoothing_spreads_the_target() -> None:
    prior = log_prior(np.repeat(np.arange(7), [30, 50, 100, 10, 100, 600, 10]))
    tau, smoothing = 1.5, 0.1
    target = np.eye(7)[Y] * (1 - smoothing) + smoothing / 7
    expected = cross_entropy(LOGITS + tau * prior, target).mean()
    loss = LogitAdjustedLoss(prior.tolist(), tau=tau, label_smoothing=smoothing)(Y, LOGITS)
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)


def test_adjusted_training_favours_rare_classes_at_inference() -> None:
    """Logits that minimise the adjusted loss on a skewed sample predict the rare class more often."""
    prior = log_prior(np.array([0] * 90 + [1] * 10))
    frequent_logits = np.zeros((1, 7), dtype=np.float32)
    # the adjusted loss of answering 'frequent' for a rare image is higher than unadjusted
    rare = np.array([1])
    plain = float(LogitAdjustedLoss(prior.tolist(), tau=0.0)(rare, frequent_logits))
    adjusted = float(LogitAdjustedLoss(prior.tolist(), tau=1.0)(rare, frequent_logits))
    assert adjusted > plain


def test_the_loss_survives_a_keras_save_round_trip() -> None:
    loss = LogitAdjustedLoss([-1.0, -2.0, -0.5, -3.0, -1.2, -0.3, -4.0], tau=0.7, label_smoothing=0.05)
    again = keras.losses.deserialize(json.loads(json.dumps(keras.losses.serialize(loss))))
    assert isinstance(again, LogitAdjustedLoss)
    assert float(again(Y, LOGITS)) == pytest.approx(float(loss(Y, LOGITS)))


def test_a_distribution_per_image_is_taken_as_the_target() -> None:
    """Distillation passes soft targets; a one-hot row gives exactly the integer label's loss."""
    prior = log_prior(np.repeat(np.arange(7), [30, 50, 100, 10, 100, 600, 10]))
    loss = LogitAdjustedLoss(prior.tolist(), tau=1.0, label_smoothing=0.1)
    one_hot = np.eye(7, dtype=np.float32)[Y]
    assert float(loss(one_hot, LOGITS)) == pytest.approx(float(loss(Y, LOGITS)), rel=1e-6)
    soft = RNG.dirichlet(np.ones(7), size=len(Y)).astype(np.float32)
    expected = cross_entropy(LOGITS + prior, soft * 0.9 + 0.1 / 7).mean()
    assert float(loss(soft, LOGITS)) == pytest.approx(float(expected), rel=1e-5)


def test_distillation_targets_mix_labels_with_the_teacher_in_the_losss_space() -> None:
    prior = log_prior(np.repeat(np.arange(7), [30, 50, 100, 10, 100, 600, 10]))
    teacher = RNG.dirichlet(np.ones(7), size=len(Y))
    np.testing.assert_array_equal(distillation_targets(Y, teacher, prior, 1.0, 0.0), np.eye(7)[Y])
    targets = distillation_targets(Y, teacher, prior, 1.0, 0.5)
    np.testing.assert_allclose(targets.sum(axis=1), 1, rtol=1e-6)
    shifted = teacher * np.exp(prior)  # balanced probabilities times the prior, renormalised
    expected = 0.5 * np.eye(7)[Y] + 0.5 * shifted / shifted.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(targets, expected, rtol=1e-5)
    # tau 0 (plain cross-entropy): the teacher's probabilities go in as they are
    np.testing.assert_allclose(distillation_targets(Y, teacher, prior, 0.0, 1.0), teacher, rtol=1e-5)
    with pytest.raises(ValueError, match="weight"):
        distillation_targets(Y, teacher, prior, 1.0, 1.5)
    with pytest.raises(ValueError, match="shape"):
        distillation_targets(Y, teacher[:3], prior, 1.0, 0.5)


IMAGES = RNG.integers(0, 255, size=(10, 16, 16, 3), dtype=np.uint8)


def batches(epoch: int, mixup_alpha: float = 0.0, cutmix_alpha: float = 0.0) -> ImageBatches:
    pre = Preprocessor(PreprocessSpec(input_size=(16, 16), scaling="none"))
    return ImageBatches(
        IMAGES,
        pre,
        4,
        np.arange(10) % 7,
        augment=lambda s: augmentation(s, "strong"),
        seed=3,
        epoch=epoch,
        mixup_alpha=mixup_alpha,
        cutmix_alpha=cutmix_alpha,
    )


@pytest.mark.parametrize("alphas", [(0.0, 0.0), (0.4, 1.0)], ids=["plain", "mixup-or-cutmix"])
def test_an_epoch_is_drawn_from_the_seed_and_its_number_alone(alphas: tuple[float, float]) -> None:
    """A resumed run (set to epoch 2) sees exactly what an uninterrupted run sees in its third epoch."""
    fresh = batches(0, *alphas)
    resumed = batches(2, *alphas)
    first = fresh[0]
    fresh.on_epoch_end()
    fresh.on_epoch_end()
    for a, b in zip(fresh[0], resumed[0], strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], fresh[0][0])  # and epochs differ from one another


def test_augmentation_keeps_shape_and_range() -> None:
    x = RNG.uniform(0, 255, size=(4, 30, 40, 3)).astype(np.float32)
    for strength in ("light", "strong"):
        out = keras.ops.convert_to_numpy(augmentation(0, strength)(x, training=True))
        assert out.shape == x.shape
        assert not np.allclose(out, x)
    with pytest.raises(ValueError, match="strong"):
        augmentation(0, "extreme")


def test_sharpness_jitter_blurs_and_sharpens_within_its_range() -> None:
    """Across a batch, a step edge comes out softer in some images and crisper (overshooting)
    in others; the augmentation adds the layer only when asked and refuses a share above 0.5."""
    x = np.zeros((32, 24, 24, 3), np.float32)
    x[:, :, 12:] = 200.0  # a vertical step edge, left of it 0
    out = keras.ops.convert_to_numpy(
        keras.layers.RandomSharpness((0.25, 0.75), value_range=(0, 255), seed=3)(x, training=True)
    )
    just_right = out[:, 6, 12, 0]  # 200 in the input: a blur lowers it, sharpening overshoots
    assert (just_right < 199).any() and (just_right > 201).any()
    assert len(augmentation(0, "strong", 0.25).layers) == len(augmentation(0, "strong").layers) + 1
    for bad in (-0.1, 0.6):
        with pytest.raises(ValueError, match="sharpness"):
            augmentation(0, "strong", bad)


def test_colour_gain_jitter_scales_each_channel_on_its_own_within_its_range() -> None:
    """A grey image comes out with its three channels scaled by gains within 1 +- the share, not
    all by one gain, different between images, the same again from the same seed; the layer
    passes images through at inference, and the augmentation refuses a share above 0.5."""
    x = np.full((64, 8, 8, 3), 100.0, np.float32)
    out = keras.ops.convert_to_numpy(RandomChannelGain(0.15, seed=5)(x, training=True))
    gains = out[:, 0, 0, :] / 100.0
    np.testing.assert_allclose(out, np.broadcast_to(out[:, :1, :1, :], out.shape))  # one gain per channel
    assert gains.min() >= 0.85 - 1e-6 and gains.max() <= 1.15 + 1e-6
    assert gains.max() > 1.1 and gains.min() < 0.9  # the range is used
    assert np.ptp(gains, axis=1).mean() > 0.05  # the channels move apart: a cast, not a brightness change
    again = keras.ops.convert_to_numpy(RandomChannelGain(0.15, seed=5)(x, training=True))
    np.testing.assert_array_equal(out, again)
    bright = np.full((4, 8, 8, 3), 250.0, np.float32)
    assert keras.ops.convert_to_numpy(RandomChannelGain(0.15, seed=5)(bright, training=True)).max() <= 255
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(RandomChannelGain(0.15)(x, training=False)), x)
    assert len(augmentation(0, "strong", 0.0, 0.15).layers) == len(augmentation(0, "strong").layers) + 1
    for bad in (-0.1, 0.6):
        with pytest.raises(ValueError, match="colour gain"):
            augmentation(0, "strong", 0.0, bad)


def test_low_detail_takes_the_fine_detail_of_its_share_of_images_and_leaves_the_rest() -> None:
    """A 1-pixel checkerboard reduced to 12x12 and back is flat grey; a smooth image is kept; the
    share drawn follows the probability; inference and probability 0 pass images through."""
    checker = (np.indices((48, 64)).sum(axis=0) % 2 * 200.0 + 20)[None, :, :, None]
    x = np.repeat(np.repeat(checker, 3, axis=3), 200, axis=0).astype(np.float32)
    out = keras.ops.convert_to_numpy(RandomLowDetail(0.3, (12, 12), seed=2)(x, training=True))
    reduced = out.std(axis=(1, 2, 3)) < 10  # the fine pattern gone, the mean kept
    assert 0.2 < reduced.mean() < 0.4
    np.testing.assert_allclose(out[reduced].mean(axis=(1, 2, 3)), 120.0, atol=2.0)
    np.testing.assert_array_equal(out[~reduced], x[~reduced])
    smooth = np.full((8, 48, 64, 3), 90.0, np.float32)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(RandomLowDetail(1.0, (12, 12))(smooth, training=True)), smooth, atol=1e-3
    )
    for layer, training in ((RandomLowDetail(1.0), False), (RandomLowDetail(0.0), True)):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x[:4], training=training)), x[:4])
    assert len(augmentation(0, "strong", low_detail=0.25).layers) == len(augmentation(0, "strong").layers) + 1
    with pytest.raises(ValueError, match="low-detail"):
        augmentation(0, "strong", low_detail=1.5)


def constant_images(labels: np.ndarray) -> np.ndarray:
    """Image i is flat at 10 x its label, so a mixed image's mean reveals its true mixture."""
    return np.broadcast_to(10.0 * labels[:, None, None, None], (len(labels), 12, 16, 3)).astype(np.float32)


@pytest.mark.parametrize("mixup_alpha, cutmix_alpha", [(0.4, 0.0), (0.0, 1.0)], ids=["mixup", "cutmix"])
def test_a_mixed_image_holds_its_classes_in_the_shares_of_its_target(
    mixup_alpha: float, cutmix_alpha: float
) -> None:
    labels = np.arange(7)
    mixed_any = False
    for seed in range(20):
        x, target = mix_batch(
            constant_images(labels), labels, np.random.default_rng(seed), mixup_alpha, cutmix_alpha
        )
        assert x.shape == (7, 12, 16, 3) and target.shape == (7, 7)
        np.testing.assert_allclose(target.sum(axis=1), 1.0, rtol=1e-6)
        np.testing.assert_allclose(x.mean(axis=(1, 2, 3)), target @ (10.0 * labels), rtol=1e-5)
        mixed_any |= bool((target.max(axis=1) < 0.999).any())
        if cutmix_alpha > 0:  # pasted, not blended: every pixel is one of the two images' values
            assert np.isin(x, 10.0 * labels).all()
    assert mixed_any


def test_both_alphas_take_mixup_on_some_batches_and_cutmix_on_others() -> None:
    labels = np.arange(7)
    kinds = set()
    for seed in range(20):
        x, target = mix_batch(constant_images(labels), labels, np.random.default_rng(seed), 0.4, 1.0)
        if (target.max(axis=1) < 0.999).any():
            kinds.add("cutmix" if np.isin(x, 10.0 * labels).all() else "mixup")
    assert kinds == {"mixup", "cutmix"}


def test_mixing_keeps_teacher_distributions_normalised() -> None:
    soft = np.full((4, 7), 1 / 7, dtype=np.float32)
    soft[:, 0] += 0.3
    soft /= soft.sum(axis=1, keepdims=True)
    _, target = mix_batch(constant_images(np.zeros(4, int)), soft, np.random.default_rng(0), 0.4, 0.0)
    np.testing.assert_allclose(target.sum(axis=1), 1.0, rtol=1e-6)


def test_training_batches_carry_mixed_targets_only_when_asked() -> None:
    assert batches(0)[0][1].shape == (4,)
    x, y = batches(0, mixup_alpha=0.4)[0]
    assert x.shape == (4, 16, 16, 3) and y.shape == (4, 7)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-6)


def test_a_prior_per_source_shifts_each_image_by_its_own_source() -> None:
    """Source-coded labels with one prior row per source give each image the loss it would have
    under its own source's prior alone."""
    y = np.array([5, 4, 4, 0, 5, 1])
    source = np.array([0, 0, 1, 1, 1, 0])
    by_source = log_prior_by_source(y, source)
    np.testing.assert_allclose(by_source[1], log_prior(y[source == 1]))
    loss = LogitAdjustedLoss(by_source.tolist(), tau=1.0)
    per_image = cross_entropy(LOGITS + by_source[source], np.eye(7)[y])
    assert float(loss(source_coded(y, source), LOGITS)) == pytest.approx(per_image.mean(), rel=1e-5)
    one_source = LogitAdjustedLoss(by_source[:1].tolist(), tau=1.0)
    plain = LogitAdjustedLoss(by_source[0].tolist(), tau=1.0)
    assert float(one_source(y, LOGITS)) == pytest.approx(float(plain(y, LOGITS)), rel=1e-6)
