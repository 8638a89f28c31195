"""The classifier: backbone features -> small head -> 7 softmax probabilities, and fine-tuning.

The head's layers are built once and shared by two models: one on cached backbone features
(phase 1: epochs take seconds on a CPU) and the full image model (phase 2 and export), so
the head trained on features is exactly the head of the exported model.
"""

from dataclasses import dataclass

import keras

from skinlesion.classes import CLASS_CODES

FEATURE_DIM = 1280


@dataclass
class Classifier:
    head: keras.Model  # features -> probabilities
    full: keras.Model  # preprocessed image -> probabilities


def head_layers(inner_size: int, dropout: float) -> list[keras.layers.Layer]:
    """Dropout, an optional ReLU inner layer with its own dropout, and the softmax output."""
    layers: list[keras.layers.Layer] = [keras.layers.Dropout(dropout, name="head_dropout")]
    if inner_size > 0:
        layers += [
            keras.layers.Dense(inner_size, activation="relu", name="head_inner"),
            keras.layers.Dropout(dropout, name="head_inner_dropout"),
        ]
    layers.append(keras.layers.Dense(len(CLASS_CODES), activation="softmax", name="probabilities"))
    return layers


def build_classifier(backbone: keras.Model, inner_size: int, dropout: float) -> Classifier:
    layers = head_layers(inner_size, dropout)
    features = keras.Input((FEATURE_DIM,), name="features")
    x, y = features, backbone.output
    for layer in layers:
        x, y = layer(x), layer(y)
    return Classifier(
        head=keras.Model(features, x, name="head"),
        full=keras.Model(backbone.input, y, name="skin_lesion_classifier"),
    )


def freeze_for_fine_tuning(model: keras.Model, fine_tune_from: str) -> int:
    """Train from the first layer whose name starts with `fine_tune_from` on; BatchNorm stays frozen.

    Frozen BatchNorm keeps the ImageNet statistics (Keras runs a non-trainable BatchNorm in
    inference mode), which small CPU batches would otherwise destroy. Returns the number of
    trainable weight tensors.
    """
    names = [layer.name for layer in model.layers]
    start = next((i for i, name in enumerate(names) if name.startswith(fine_tune_from)), None)
    if start is None:
        raise ValueError(f"no layer named {fine_tune_from!r}...; e.g. block_13, block_10, Conv_1")
    for i, layer in enumerate(model.layers):
        layer.trainable = i >= start and not isinstance(layer, keras.layers.BatchNormalization)
    return len(model.trainable_weights)
