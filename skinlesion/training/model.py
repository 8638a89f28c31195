"""The classifier: backbone features -> head -> 7 logits -> softmax probabilities, and fine-tuning.

The head's layers are built once and shared by three models: one on cached backbone features
(phase 1: epochs take seconds on a CPU), the image model that outputs logits (what phase 2
trains: losses on logits are exact where log-probabilities would be clipped), and the same
image model ending in softmax (what is checkpointed, converted and served). Training any of
them trains the weights of all three.
"""

from dataclasses import dataclass
from pathlib import Path

import keras

from skinlesion.classes import CLASS_CODES

FEATURE_DIM = 1280
FINE_TUNE_ALL = "all"


@dataclass
class Classifier:
    head: keras.Model | None  # features -> logits (None for a model restored for phase 2)
    logits: keras.Model  # preprocessed image -> logits
    full: keras.Model  # preprocessed image -> probabilities


def head_layers(inner_size: int, dropout: float) -> list[keras.layers.Layer]:
    """Dropout, an optional ReLU inner layer with its own dropout, and the 7 logits.

    `inner_size=0` gives a linear head on the pooled features, which makes class activation
    maps exact (the logit is the spatial mean of the per-position class scores).
    """
    layers: list[keras.layers.Layer] = [keras.layers.Dropout(dropout, name="head_dropout")]
    if inner_size > 0:
        layers += [
            keras.layers.Dense(inner_size, activation="relu", name="head_inner"),
            keras.layers.Dropout(dropout, name="head_inner_dropout"),
        ]
    layers.append(keras.layers.Dense(len(CLASS_CODES), name="logits"))
    return layers


def with_softmax(logits: keras.Model) -> keras.Model:
    """The probabilities model over the same weights (what is saved and served)."""
    probs = keras.layers.Softmax(name="probabilities")(logits.output)
    return keras.Model(logits.input, probs, name="skin_lesion_classifier")


def trained_classifier(path: Path) -> Classifier:
    """A model this project trained (`with_softmax`, .h5 or .keras), to fine-tune further: its logits
    model and the probabilities model over the same weights."""
    full = keras.models.load_model(path, compile=False)
    logits = keras.Model(full.input, full.get_layer("probabilities").input, name="skin_lesion_logits")
    return Classifier(head=None, logits=logits, full=full)


def build_classifier(backbone: keras.Model, inner_size: int, dropout: float) -> Classifier:
    layers = head_layers(inner_size, dropout)
    features = keras.Input((FEATURE_DIM,), name="features")
    x, y = features, backbone.output
    for layer in layers:
        x, y = layer(x), layer(y)
    logits = keras.Model(backbone.input, y, name="skin_lesion_logits")
    return Classifier(head=keras.Model(features, x, name="head"), logits=logits, full=with_softmax(logits))


def freeze_for_fine_tuning(model: keras.Model, fine_tune_from: str, train_batchnorm: bool = False) -> int:
    """Train from the first layer whose name starts with `fine_tune_from` on.

    Frozen BatchNorm (the default) keeps the ImageNet statistics (Keras runs a non-trainable
    BatchNorm in inference mode); `train_batchnorm` lets those layers learn dermoscopy's own
    statistics and scales too. "all" trains the whole network, whichever the backbone. Returns
    the number of trainable weight tensors.
    """
    names = [layer.name for layer in model.layers]
    if fine_tune_from == FINE_TUNE_ALL:
        start = 0
    else:
        start = next((i for i, name in enumerate(names) if name.startswith(fine_tune_from)), None)
    if start is None:
        raise ValueError(
            f"no layer named {fine_tune_from!r}...; 'all', or e.g. block_8, block_13 (MobileNetV2), "
            "block6, block10 (EfficientNet-Lite0)"
        )
    for i, layer in enumerate(model.layers):
        is_batchnorm = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = i >= start and (train_batchnorm or not is_batchnorm)
    return len(model.trainable_weights)
