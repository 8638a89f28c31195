"""The head is shared by the feature model and the image model; fine-tuning freezes what it should."""

import keras
import numpy as np

from skinlesion.training.backbone import mobilenet_v2
from skinlesion.training.model import build_classifier, freeze_for_fine_tuning


def test_head_trained_on_features_is_the_head_of_the_image_model() -> None:
    backbone = mobilenet_v2((32, 32))
    clf = build_classifier(backbone, inner_size=16, dropout=0.2)
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype(np.float32)
    clf.head.get_layer("probabilities").kernel.assign(np.ones((16, 7), dtype=np.float32))
    via_features = clf.head.predict(backbone.predict(x, verbose=0), verbose=0)
    np.testing.assert_allclose(clf.full.predict(x, verbose=0), via_features, atol=1e-5)


def test_fine_tuning_trains_only_the_top_and_never_batchnorm() -> None:
    clf = build_classifier(mobilenet_v2((32, 32)), inner_size=0, dropout=0.2)
    freeze_for_fine_tuning(clf.full, "block_16")
    trainable = {layer.name for layer in clf.full.layers if layer.trainable and layer.weights}
    assert trainable == {
        "block_16_expand",
        "block_16_depthwise",
        "block_16_project",
        "Conv_1",
        "probabilities",
    }
    assert not any(
        isinstance(layer, keras.layers.BatchNormalization) and layer.trainable for layer in clf.full.layers
    )
