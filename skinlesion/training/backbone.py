"""The feature extractor under the classifier: MobileNetV2 or EfficientNet-Lite0, with ImageNet weights.

MobileNetV2 comes from `keras.applications`, with weights from Keras or from torchvision.
Keras' own weights expect inputs scaled to [-1, 1] and Keras' asymmetric stride-2 padding.
torchvision's weights (the offline copy) expect torch-normalised inputs and pad every
stride-2 layer by one pixel on each side; the same `keras.applications` graph is rebuilt
with that padding so the torch weights compute what they computed in torch.
EfficientNet-Lite0 (`efficientnet_lite.py`) is stronger on ImageNet (75.1 % top-1 as published,
against 71.9 %) for the same 1280-d features; its only weights are Google's, from the offline copy.
Whichever backbone and source is used, it reports the input scaling its weights need; it goes
into the model card.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from skinlesion.image.preprocessing import PreprocessSpec
from skinlesion.training import efficientnet_lite
from skinlesion.training.offline_weights import efficientnet_lite0_pth, mobilenet_v2_pth
from skinlesion.training.torch_weights import (
    Checkpoint,
    assign_weights,
    batch_norm,
    conv_kernel,
    depthwise_kernel,
    load_legacy_state_dict,
)

log = logging.getLogger(__name__)

BACKBONES = ("mobilenet_v2", "efficientnet_lite0")
TORCH_BN_EPSILON = 1e-5
N_BLOCKS = 16  # Keras block_1 .. block_16 are torchvision features.2 .. features.17
MOBILENET_V2_DESCRIPTION = "MobileNetV2 (alpha 1.0), global average pooling"
EFFICIENTNET_LITE0_DESCRIPTION = "EfficientNet-Lite0 (no squeeze-excitation, ReLU6), global average pooling"


@dataclass
class Backbone:
    """A feature extractor (image -> pooled 1280-d vector) and the input scaling its weights need."""

    model: keras.Model
    scaling: str
    weights: str  # where the weights came from, for the model card
    description: str  # the architecture, for the model card
    feature_map_layer: str  # the layer whose output is the last convolutional feature map

    def preprocessing(self, input_size: tuple[int, int]) -> PreprocessSpec:
        """What a model on this backbone expects: the one definition, written into its card."""
        return PreprocessSpec(input_size=input_size, scaling=self.scaling)


def _symmetric_padding(layer: keras.layers.Layer) -> keras.layers.Layer:
    config = layer.get_config()
    if isinstance(layer, keras.layers.ZeroPadding2D):
        config["padding"] = ((1, 1), (1, 1))
    elif layer.name == "Conv1":
        config["padding"] = "valid"
    return layer.__class__.from_config(config)


def _pad_before_conv1(layer: keras.layers.Layer, *args, **kwargs):
    if layer.name == "Conv1":
        args = (keras.layers.ZeroPadding2D(1, name="Conv1_pad")(args[0]), *args[1:])
    return layer(*args, **kwargs)


def mobilenet_v2(
    input_size: tuple[int, int], include_top: bool = False, torch_padding: bool = True
) -> keras.Model:
    """MobileNetV2 (alpha 1.0), untrained, with torch-style symmetric stride-2 padding if asked.

    `input_size` is (width, height), as in `PreprocessSpec`. Without the top the output is the
    global-average-pooled 1280-d feature vector.
    """
    width, height = input_size
    base = keras.applications.MobileNetV2(
        input_shape=(height, width, 3),
        include_top=include_top,
        weights=None,
        pooling=None if include_top else "avg",
    )
    if not torch_padding:
        return base
    return keras.models.clone_model(base, clone_function=_symmetric_padding, call_function=_pad_before_conv1)


def torch_to_keras_weights(checkpoint: Checkpoint, include_top: bool) -> dict[str, list[np.ndarray]]:
    """torchvision MobileNetV2 state dict -> weights for each Keras MobileNetV2 layer, by name."""

    def bn(prefix: str) -> list[np.ndarray]:
        return batch_norm(checkpoint, prefix, TORCH_BN_EPSILON)

    out = {
        "Conv1": conv_kernel(checkpoint["features.0.0.weight"]),
        "bn_Conv1": bn("features.0.1"),
        "expanded_conv_depthwise": depthwise_kernel(checkpoint["features.1.conv.0.0.weight"]),
        "expanded_conv_depthwise_BN": bn("features.1.conv.0.1"),
        "expanded_conv_project": conv_kernel(checkpoint["features.1.conv.1.weight"]),
        "expanded_conv_project_BN": bn("features.1.conv.2"),
        "Conv_1": conv_kernel(checkpoint["features.18.0.weight"]),
        "Conv_1_bn": bn("features.18.1"),
    }
    for block in range(1, N_BLOCKS + 1):
        torch_prefix, keras_prefix = f"features.{block + 1}.conv", f"block_{block}"
        out[f"{keras_prefix}_expand"] = conv_kernel(checkpoint[f"{torch_prefix}.0.0.weight"])
        out[f"{keras_prefix}_expand_BN"] = bn(f"{torch_prefix}.0.1")
        out[f"{keras_prefix}_depthwise"] = depthwise_kernel(checkpoint[f"{torch_prefix}.1.0.weight"])
        out[f"{keras_prefix}_depthwise_BN"] = bn(f"{torch_prefix}.1.1")
        out[f"{keras_prefix}_project"] = conv_kernel(checkpoint[f"{torch_prefix}.2.weight"])
        out[f"{keras_prefix}_project_BN"] = bn(f"{torch_prefix}.3")
    if include_top:
        out["predictions"] = [checkpoint["classifier.1.weight"].T, checkpoint["classifier.1.bias"]]
    return out


def load_torch_weights(model: keras.Model, pth: Path, include_top: bool = False) -> None:
    """Set every weight of a torch-padded Keras MobileNetV2 from a torchvision checkpoint, or refuse."""
    checkpoint = Checkpoint(load_legacy_state_dict(pth))
    mapped = torch_to_keras_weights(checkpoint, include_top)
    assign_weights(model, mapped, checkpoint, unused_ok=() if include_top else ("classifier.",))


def _keras_imagenet(input_size: tuple[int, int]) -> keras.Model:
    width, height = input_size
    return keras.applications.MobileNetV2(
        input_shape=(height, width, 3), include_top=False, weights="imagenet", pooling="avg"
    )


def _mobilenet_v2_backbone(weights: str, input_size: tuple[int, int]) -> Backbone:
    def backbone(model: keras.Model, scaling: str, source: str) -> Backbone:
        return Backbone(model, scaling, source, MOBILENET_V2_DESCRIPTION, feature_map_layer="out_relu")

    if weights == "none":
        return backbone(mobilenet_v2(input_size), "torch", "none (random initialisation)")
    if weights == "imagenet":
        try:
            return backbone(_keras_imagenet(input_size), "tf", "ImageNet (Keras applications)")
        except Exception as exc:
            log.warning(
                "Keras' ImageNet weights are unreachable (%s); using the offline torchvision copy", exc
            )
        weights = str(mobilenet_v2_pth())
    path = Path(weights)
    if path.suffix == ".pth":
        model = mobilenet_v2(input_size)
        load_torch_weights(model, path)
        return backbone(model, "torch", f"ImageNet (torchvision MobileNet_V2 IMAGENET1K_V1, {path.name})")
    model = mobilenet_v2(input_size, torch_padding=False)
    model.load_weights(path)
    return backbone(model, "tf", f"Keras weights file {path.name}")


def _efficientnet_lite0_backbone(weights: str, input_size: tuple[int, int]) -> Backbone:
    model = efficientnet_lite.efficientnet_lite0(input_size)
    if weights == "none":
        source = "none (random initialisation)"
    else:
        path = efficientnet_lite0_pth() if weights == "imagenet" else Path(weights)
        if path.suffix != ".pth":
            raise ValueError(
                f"EfficientNet-Lite0 weights are 'imagenet', 'none' or a .pth file, got {weights!r}"
            )
        efficientnet_lite.load_torch_weights(model, path)
        source = f"ImageNet (Google's EfficientNet-Lite0 checkpoint in torch, {path.name})"
    return Backbone(
        model, "lite", source, EFFICIENTNET_LITE0_DESCRIPTION, efficientnet_lite.FEATURE_MAP_LAYER
    )


def load_backbone(weights: str, input_size: tuple[int, int], name: str = "mobilenet_v2") -> Backbone:
    """The backbone `name` (one of `BACKBONES`) for inputs of `input_size` (width, height).

    `weights`: "imagenet", "none" (random), or a path. For MobileNetV2, "imagenet" is Keras'
    download, else the offline torchvision copy; a path ending in `.pth` is read as a
    torchvision checkpoint, anything else as a Keras weights file for the standard
    (Keras-padded, [-1, 1]-scaled) MobileNetV2 without top. For EfficientNet-Lite0, "imagenet"
    is the offline copy of Google's weights, and a path must be such a `.pth` checkpoint.
    """
    if name == "mobilenet_v2":
        return _mobilenet_v2_backbone(weights, input_size)
    if name == "efficientnet_lite0":
        return _efficientnet_lite0_backbone(weights, input_size)
    raise ValueError(f"unknown backbone {name!r}; one of {BACKBONES}")
