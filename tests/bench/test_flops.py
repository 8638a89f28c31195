"""bench/flops.py counts exact multiply-adds on layers of known shapes, and times one core."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from bench.flops import (
    TOTAL,
    blas_info,
    floor_ms,
    invoke_ms,
    other_op_elements,
    single_core_gflops,
    tflite_flops,
)
from skinlesion.conversion.tflite import keras_to_tflite
from skinlesion.model_card import ModelCard, card_path
from skinlesion.paths import DEFAULT_MODEL_PATH

# Multiply-adds of the layers below, by hand: output elements x products per element
CONV = 8 * 8 * 4 * (3 * 3 * 3)  # 'same' 3x3 conv, 3 -> 4 channels
DEPTHWISE = 6 * 6 * 8 * (3 * 3)  # 'valid' 3x3 depthwise, depth multiplier 2: 4 -> 8 channels
DENSE = (6 * 6 * 8) * 5  # flattened 288 -> 5
MATMUL = 4 * 3 * 6  # [4, 6] @ [6, 3]


@pytest.fixture(scope="module")
def model() -> keras.Model:
    """An image branch (conv, depthwise, dense) and two activation-by-activation products, one
    with its left operand transposed (the converter folds that into BATCH_MATMUL's adj_x)."""
    keras.utils.set_random_seed(0)
    image = keras.Input((8, 8, 3), name="image")
    x = keras.layers.Conv2D(4, 3, padding="same")(image)
    x = keras.layers.DepthwiseConv2D(3, depth_multiplier=2)(x)
    x = keras.layers.Dense(5)(keras.layers.Flatten()(x))
    a, a_t, b = keras.Input((4, 6)), keras.Input((6, 4)), keras.Input((6, 3))
    products = [keras.ops.matmul(a, b), keras.ops.matmul(keras.ops.transpose(a_t, (0, 2, 1)), b)]
    return keras.Model([image, a, a_t, b], [x, *products])


@pytest.fixture(scope="module")
def tflite(model: keras.Model) -> bytes:
    return keras_to_tflite(model)


def test_counts_exact_multiply_adds_per_op_type(tflite: bytes) -> None:
    assert tflite_flops(tflite) == {
        "CONV_2D": 2 * CONV,
        "DEPTHWISE_CONV_2D": 2 * DEPTHWISE,
        "FULLY_CONNECTED": 2 * DENSE,
        "BATCH_MATMUL": 2 * 2 * MATMUL,
        TOTAL: 2 * (CONV + DEPTHWISE + DENSE + 2 * MATMUL),
    }
    assert other_op_elements(tflite)["RESHAPE"] == 6 * 6 * 8  # the flatten, left out of the FLOPs


def test_count_and_invoke_hold_for_a_fully_quantized_graph_with_uint8_input(model: keras.Model) -> None:
    image_branch = keras.Model(model.inputs[0], model.outputs[0])
    converter = tf.lite.TFLiteConverter.from_keras_model(image_branch)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    samples = np.random.default_rng(0).normal(size=(8, 1, 8, 8, 3)).astype(np.float32)
    converter.representative_dataset = lambda: ([sample] for sample in samples)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.uint8
    quantized = converter.convert()
    assert Interpreter(model_content=quantized).get_input_details()[0]["dtype"] == np.uint8

    assert tflite_flops(quantized)[TOTAL] == 2 * (CONV + DEPTHWISE + DENSE)
    assert invoke_ms(quantized, invokes=3) > 0


def test_invoke_feeds_every_input(tflite: bytes) -> None:
    assert invoke_ms(tflite, invokes=3) > 0


# Published multiply-adds at 224x224: MobileNetV2 (Sandler et al. 2018), EfficientNet-Lite0
# (tensorflow/tpu's efficientnet/lite table); keyed by the start of the card's backbone description.
PUBLISHED_MACS_224 = {"MobileNetV2": 300e6, "EfficientNet-Lite0": 407e6}


def test_shipped_model_has_its_backbones_published_size() -> None:
    """The count scales with the input's pixels; the activation-map and Mahalanobis heads add well
    under 1 %, so the shipped graph lands within 3 % of the backbone's published figure."""
    card = ModelCard.read(card_path(DEFAULT_MODEL_PATH))
    (published,) = (
        m
        for name, m in PUBLISHED_MACS_224.items()
        if card.details["architecture"]["backbone"].startswith(name)
    )
    width, height = card.preprocessing.input_size
    expected = published * width * height / 224**2
    macs = tflite_flops(DEFAULT_MODEL_PATH.read_bytes())[TOTAL] / 2
    assert 0.97 * expected < macs < 1.03 * expected


def test_single_core_rate_and_floor() -> None:
    assert single_core_gflops(seconds=0.1, n=128) > 0.1
    assert not blas_info().startswith("no BLAS")  # threadpoolctl found the one it limits
    assert floor_ms(600_000_000, 100.0) == pytest.approx(6.0)
