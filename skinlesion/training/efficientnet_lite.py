"""EfficientNet-Lite0 as a Keras functional graph, with Google's ImageNet weights mapped from torch.

EfficientNet-Lite is EfficientNet-B0's layout without squeeze-and-excitation, with ReLU6 for
swish and a fixed 32-channel stem and 1280-channel head: only Conv, DepthwiseConv, BatchNorm,
ReLU6 and Add, which TFLite runs and quantizes well. The offline weights are Google's TF
checkpoint copied unchanged into a torch state dict (EfficientNet-PyTorch's names), so they
still expect what TF trained them with: TF "SAME" padding (Keras' `padding="same"`, the odd
pixel after), BatchNorm epsilon 1e-3, and inputs scaled as (x - 127) / 128.
"""

from collections.abc import Iterator
from pathlib import Path

import keras
import numpy as np
from keras import layers

from skinlesion.training.torch_weights import (
    Checkpoint,
    assign_weights,
    batch_norm,
    conv_kernel,
    depthwise_kernel,
    load_legacy_state_dict,
)

TORCH_BN_EPSILON = 1e-3  # TF's, kept by the converted checkpoint; Keras' too, so the fold is 1
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
# EfficientNet-B0's stages: expansion, output channels, repeats, first stride, kernel size
STAGES = (
    (1, 16, 1, 1, 3),
    (6, 24, 2, 2, 3),
    (6, 40, 2, 2, 5),
    (6, 80, 3, 2, 3),
    (6, 112, 3, 1, 5),
    (6, 192, 4, 2, 5),
    (6, 320, 1, 1, 3),
)
FEATURE_MAP_LAYER = "top_relu"  # the last convolutional feature map (class activation maps)


def blocks() -> Iterator[tuple[int, int, int, int, int]]:
    """(index, expansion, channels, stride, kernel) of the 16 blocks, numbered as torch's `_blocks`."""
    index = 0
    for expansion, channels, repeats, stride, kernel in STAGES:
        for repeat in range(repeats):
            yield index, expansion, channels, stride if repeat == 0 else 1, kernel
            index += 1


def _bn_relu6(x: keras.KerasTensor, name: str) -> keras.KerasTensor:
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.ReLU(6.0, name=f"{name}_relu")(x)


def _block(
    x: keras.KerasTensor, index: int, expansion: int, channels: int, stride: int, kernel: int
) -> keras.KerasTensor:
    """Inverted residual: 1x1 expand, depthwise, linear 1x1 project; a skip where shapes allow."""
    name, inputs = f"block{index}", x
    if expansion != 1:
        x = layers.Conv2D(x.shape[-1] * expansion, 1, use_bias=False, name=f"{name}_expand_conv")(x)
        x = _bn_relu6(x, f"{name}_expand")
    x = layers.DepthwiseConv2D(kernel, stride, padding="same", use_bias=False, name=f"{name}_dwconv")(x)
    x = _bn_relu6(x, f"{name}_dwconv")
    x = layers.Conv2D(channels, 1, use_bias=False, name=f"{name}_project_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_project_bn")(x)
    if stride == 1 and inputs.shape[-1] == channels:
        x = layers.Add(name=f"{name}_add")([inputs, x])
    return x


def efficientnet_lite0(input_size: tuple[int, int], include_top: bool = False) -> keras.Model:
    """EfficientNet-Lite0, untrained. `input_size` is (width, height), as in `PreprocessSpec`.

    Without the top the output is the global-average-pooled 1280-d feature vector; with it,
    the 1000 ImageNet class probabilities.
    """
    width, height = input_size
    inputs = keras.Input((height, width, 3), name="image")
    x = layers.Conv2D(STEM_CHANNELS, 3, 2, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = _bn_relu6(x, "stem")
    for index, expansion, channels, stride, kernel in blocks():
        x = _block(x, index, expansion, channels, stride, kernel)
    x = layers.Conv2D(HEAD_CHANNELS, 1, use_bias=False, name="top_conv")(x)
    x = _bn_relu6(x, "top")
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if include_top:
        x = layers.Dense(1000, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, x, name="efficientnet_lite0")


def torch_to_keras_weights(checkpoint: Checkpoint, include_top: bool) -> dict[str, list[np.ndarray]]:
    """EfficientNet-PyTorch Lite0 state dict -> weights for each Keras layer, by name."""

    def bn(prefix: str) -> list[np.ndarray]:
        return batch_norm(checkpoint, prefix, TORCH_BN_EPSILON)

    out = {
        "stem_conv": conv_kernel(checkpoint["_conv_stem.weight"]),
        "stem_bn": bn("_bn0"),
        "top_conv": conv_kernel(checkpoint["_conv_head.weight"]),
        "top_bn": bn("_bn1"),
    }
    for index, expansion, *_ in blocks():
        torch_prefix, keras_prefix = f"_blocks.{index}", f"block{index}"
        if expansion != 1:
            out[f"{keras_prefix}_expand_conv"] = conv_kernel(
                checkpoint[f"{torch_prefix}._expand_conv.weight"]
            )
            out[f"{keras_prefix}_expand_bn"] = bn(f"{torch_prefix}._bn0")
        out[f"{keras_prefix}_dwconv"] = depthwise_kernel(checkpoint[f"{torch_prefix}._depthwise_conv.weight"])
        out[f"{keras_prefix}_dwconv_bn"] = bn(f"{torch_prefix}._bn1")
        out[f"{keras_prefix}_project_conv"] = conv_kernel(checkpoint[f"{torch_prefix}._project_conv.weight"])
        out[f"{keras_prefix}_project_bn"] = bn(f"{torch_prefix}._bn2")
    if include_top:
        out["predictions"] = [checkpoint["_fc.weight"].T, checkpoint["_fc.bias"]]
    return out


def load_torch_weights(model: keras.Model, pth: Path, include_top: bool = False) -> None:
    """Set every weight of `efficientnet_lite0(...)` from the torch checkpoint, or refuse."""
    checkpoint = Checkpoint(load_legacy_state_dict(pth))
    mapped = torch_to_keras_weights(checkpoint, include_top)
    assign_weights(model, mapped, checkpoint, unused_ok=() if include_top else ("_fc.",))
