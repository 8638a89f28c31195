"""MobileNetV2 from `keras.applications`, with ImageNet weights from Keras or from torchvision.

Keras' own weights expect inputs scaled to [-1, 1] and Keras' asymmetric stride-2 padding.
torchvision's weights (the offline copy) expect torch-normalised inputs and pad every
stride-2 layer by one pixel on each side; the same `keras.applications` graph is rebuilt
with that padding so the torch weights compute what they computed in torch. Whichever source
is used, the backbone reports the input scaling it needs; it goes into the model card.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from skinlesion.training.offline_weights import mobilenet_v2_pth
from skinlesion.training.torch_weights import load_legacy_state_dict

log = logging.getLogger(__name__)

TORCH_BN_EPSILON = 1e-5
N_BLOCKS = 16  # Keras block_1 .. block_16 are torchvision features.2 .. features.17


@dataclass
class Backbone:
    """A feature extractor (image -> pooled 1280-d vector) and the input scaling its weights need."""

    model: keras.Model
    scaling: str
    weights: str  # where the weights came from, for the model card


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


def _bn(state: dict[str, np.ndarray], prefix: str) -> list[np.ndarray]:
    """torch BatchNorm -> Keras [gamma, beta, mean, variance], epsilon difference folded into gamma."""
    gamma, beta = state[f"{prefix}.weight"], state[f"{prefix}.bias"]
    mean, var = state[f"{prefix}.running_mean"], state[f"{prefix}.running_var"]
    keras_eps = 1e-3
    gamma = gamma * np.sqrt(var + keras_eps) / np.sqrt(var + TORCH_BN_EPSILON)
    return [gamma, beta, mean, var]


def _conv(weight: np.ndarray) -> list[np.ndarray]:
    return [weight.transpose(2, 3, 1, 0)]  # [out, in, kh, kw] -> [kh, kw, in, out]


def _depthwise(weight: np.ndarray) -> list[np.ndarray]:
    return [weight.transpose(2, 3, 0, 1)]  # [C, 1, kh, kw] -> [kh, kw, C, 1]


def torch_to_keras_weights(state: dict[str, np.ndarray], include_top: bool) -> dict[str, list[np.ndarray]]:
    """torchvision MobileNetV2 state dict -> weights for each Keras MobileNetV2 layer, by name."""
    out = {
        "Conv1": _conv(state["features.0.0.weight"]),
        "bn_Conv1": _bn(state, "features.0.1"),
        "expanded_conv_depthwise": _depthwise(state["features.1.conv.0.0.weight"]),
        "expanded_conv_depthwise_BN": _bn(state, "features.1.conv.0.1"),
        "expanded_conv_project": _conv(state["features.1.conv.1.weight"]),
        "expanded_conv_project_BN": _bn(state, "features.1.conv.2"),
        "Conv_1": _conv(state["features.18.0.weight"]),
        "Conv_1_bn": _bn(state, "features.18.1"),
    }
    for block in range(1, N_BLOCKS + 1):
        torch_prefix, keras_prefix = f"features.{block + 1}.conv", f"block_{block}"
        out[f"{keras_prefix}_expand"] = _conv(state[f"{torch_prefix}.0.0.weight"])
        out[f"{keras_prefix}_expand_BN"] = _bn(state, f"{torch_prefix}.0.1")
        out[f"{keras_prefix}_depthwise"] = _depthwise(state[f"{torch_prefix}.1.0.weight"])
        out[f"{keras_prefix}_depthwise_BN"] = _bn(state, f"{torch_prefix}.1.1")
        out[f"{keras_prefix}_project"] = _conv(state[f"{torch_prefix}.2.weight"])
        out[f"{keras_prefix}_project_BN"] = _bn(state, f"{torch_prefix}.3")
    if include_top:
        out["predictions"] = [state["classifier.1.weight"].T, state["classifier.1.bias"]]
    return out


def load_torch_weights(model: keras.Model, pth: Path, include_top: bool = False) -> None:
    """Set every weight of a torch-padded Keras MobileNetV2 from a torchvision checkpoint."""
    mapped = torch_to_keras_weights(load_legacy_state_dict(pth), include_top)
    weighted = {layer.name for layer in model.layers if layer.weights}
    if weighted != set(mapped):
        raise ValueError(
            f"layers without torch weights: {sorted(weighted - set(mapped))}; "
            f"torch weights without a layer: {sorted(set(mapped) - weighted)}"
        )
    for name, weights in mapped.items():
        model.get_layer(name).set_weights(weights)


def _keras_imagenet(input_size: tuple[int, int]) -> keras.Model:
    width, height = input_size
    return keras.applications.MobileNetV2(
        input_shape=(height, width, 3), include_top=False, weights="imagenet", pooling="avg"
    )


def load_backbone(weights: str, input_size: tuple[int, int]) -> Backbone:
    """`weights`: "imagenet" (Keras' download, else the offline torchvision copy), "none", or a path.

    A path ending in `.pth` is read as a torchvision checkpoint; anything else as a Keras
    weights file for the standard (Keras-padded, [-1, 1]-scaled) MobileNetV2 without top.
    """
    if weights == "none":
        return Backbone(mobilenet_v2(input_size), scaling="torch", weights="none (random initialisation)")
    if weights == "imagenet":
        try:
            return Backbone(
                _keras_imagenet(input_size), scaling="tf", weights="ImageNet (Keras applications)"
            )
        except Exception as exc:
            log.warning(
                "Keras' ImageNet weights are unreachable (%s); using the offline torchvision copy", exc
            )
        weights = str(mobilenet_v2_pth())
    path = Path(weights)
    if path.suffix == ".pth":
        model = mobilenet_v2(input_size)
        load_torch_weights(model, path)
        return Backbone(
            model, scaling="torch", weights=f"ImageNet (torchvision MobileNet_V2 IMAGENET1K_V1, {path.name})"
        )
    model = mobilenet_v2(input_size, torch_padding=False)
    model.load_weights(path)
    return Backbone(model, scaling="tf", weights=f"Keras weights file {path.name}")
