"""The head is shared by the feature, logits and probabilities models; fine-tuning freezes what it should."""

import keras
import numpy as np

from skinlesion.training.backbone import mobilenet_v2
from skinlesion.training.model import build_classifier, freeze_for_fine_tuning


def test_head_trained_on_features_is_the_head_of_the_image_model() -> None:
    backbone = mobilenet_v2((32, 32))
    clf = build_classifier(backbone, inner_size=16, dropout=0.2)
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype(np.float32)
    clf.head.get_layer("logits").bias.assign(np.arange(7, dtype=np.float32) * 0.3)
    clf.head.get_layer("logits").kernel.assign(np.linspace(-1, 1, 16 * 7, dtype=np.float32).reshape(16, 7))
    via_features = clf.head.predict(backbone.predict(x, verbose=0), verbose=0)
    logits = clf.logits.predict(x, verbose=0)
    np.testing.assert_allclose(logits, via_features, atol=1e-5)
    probs = clf.full.predict(x, verbose=0)
    np.testing.assert_allclose(probs, keras.ops.convert_to_numpy(keras.ops.softmax(logits)), atol=1e-6)
    assert np.ptp(probs, axis=1).min() > 0.1  # the bias makes the classes differ


def test_fine_tuning_trains_only_the_top_and_never_batchnorm() -> None:
    clf = build_classifier(mobilenet_v2((32, 32)), inner_size=0, dropout=0.2)
    freeze_for_fine_tuning(clf.logits, "block_16")
    trainable = {layer.name for layer in clf.full.layers if layer.trainable and layer.weights}
    assert trainable == {
        "block_16_expand",
        "block_16_depthwise",
        "block_16_project",
        "Conv_1",
        "logits",
    }
    assert not any(
        isinstance(layer, keras.layers.BatchNormalization) and layer.trainable for layer in clf.full.layers
    )


def test_all_fine_tunes_every_convolution() -> None:
    clf = build_classifier(mobilenet_v2((32, 32)), inner_size=0, dropout=0.2)
    n = freeze_for_fine_tuning(clf.logits, "all")
    convolutions = [
        layer
        for layer in clf.logits.layers
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D))
    ]
    assert all(layer.trainable for layer in convolutions)
    assert n == sum(len(layer.weights) for layer in convolutions) + 2  # + the head's kernel and bias
