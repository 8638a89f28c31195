"""The served graph: uint8 pixels in, the training scaling inside, and every answer of one invoke
(probabilities, texture statistics, pooled features or the detector's score, class activation maps) equal
to the Keras model's on the same images."""

import keras
import numpy as np
import pytest
from PIL import Image, ImageDraw

from skinlesion.classes import CLASS_CODES
from skinlesion.conversion.ood import detector_score, fit_detector
from skinlesion.conversion.serving_graph import ScalePixels, Texture, serving_model
from skinlesion.conversion.tflite import keras_to_tflite
from skinlesion.image.preprocessing import Preprocessor, PreprocessSpec
from skinlesion.inference import LesionModel
from skinlesion.model_card import ModelCard
from tests.support.images import lesion_like

SPEC = PreprocessSpec(input_size=(64, 48))
PRE = Preprocessor(SPEC)


def texture_of(image: Image.Image) -> np.ndarray:
    scaled = PRE.preprocess(PRE.resized_array(image)[None])
    return np.asarray(Texture()(scaled))[0]


def texture_reference(scaled: np.ndarray) -> tuple[float, float]:
    """The statistics written out in float64, for one (H, W, 3) scaled image."""
    grey = scaled.astype(np.float64).mean(axis=-1)
    contrast = grey.std()
    steps = np.abs(np.diff(grey, axis=0)).mean() + np.abs(np.diff(grey, axis=1)).mean()
    return contrast, steps / (contrast + 1e-6)


@pytest.mark.parametrize("scaling", ["torch", "tf", "lite", "none"])
def test_the_graph_scales_pixels_as_training_does(scaling: str) -> None:
    spec = PreprocessSpec(input_size=(8, 6), scaling=scaling)
    pixels = np.random.default_rng(0).integers(0, 256, (4, 6, 8, 3), dtype=np.uint8)
    in_graph = np.asarray(ScalePixels.for_spec(spec)(pixels))
    np.testing.assert_allclose(in_graph, Preprocessor(spec).preprocess(pixels), rtol=1e-6, atol=1e-6)


def test_a_flat_frame_has_no_contrast() -> None:
    assert texture_of(Image.new("RGB", (200, 150), (224, 172, 140)))[0] < 1e-4


def test_noise_is_rougher_than_a_lesion_and_a_smooth_graphic_smoother() -> None:
    lesion = texture_of(lesion_like(200, 150))
    noise = texture_of(
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (150, 200, 3), dtype=np.uint8))
    )
    frame = Image.new("RGB", (200, 150), (20, 20, 20))
    ImageDraw.Draw(frame).ellipse((20, 0, 180, 150), fill=(235, 235, 235))
    assert noise[1] > 3 * lesion[1] and texture_of(frame)[1] < lesion[1]


def test_texture_matches_its_definition() -> None:
    scaled = PRE.preprocess(PRE.resized_array(lesion_like(200, 150))[None])
    np.testing.assert_allclose(np.asarray(Texture()(scaled))[0], texture_reference(scaled[0]), rtol=1e-4)


@pytest.fixture(scope="module")
def small_classifier() -> keras.Model:
    """A tiny network shaped like the real one: a named feature map, pooling, a linear head."""
    keras.utils.set_random_seed(3)
    width, height = SPEC.input_size
    inputs = keras.Input((height, width, 3))
    x = keras.layers.Conv2D(8, 3, strides=4, activation="relu", name="feature_map")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.3)(x)
    x = keras.layers.Dense(len(CLASS_CODES), name="logits")(x)
    return keras.Model(inputs, keras.layers.Softmax(name="probabilities")(x))


def test_the_converted_graph_takes_uint8_and_answers_as_keras(small_classifier: keras.Model) -> None:
    tflite = keras_to_tflite(serving_model(small_classifier, "feature_map", SPEC))
    model = LesionModel(tflite, ModelCard(SPEC))
    assert model.interpreter.get_input_details()[0]["dtype"] == np.uint8
    pixels = np.stack([PRE.resized_array(lesion_like(200, 150, seed=s)) for s in range(4)])
    out = model.predict_outputs(pixels)
    scaled = PRE.preprocess(pixels)
    np.testing.assert_allclose(out["probabilities"], small_classifier.predict(scaled, verbose=0), atol=1e-5)
    np.testing.assert_allclose(out["texture"], [texture_reference(x) for x in scaled], rtol=1e-4)
    assert out["pooled_features"].shape == (4, 8)
    # the class activation maps average to the logits (a linear head), so their softmax is the answer
    logits = out["cam"].mean(axis=(1, 2)) + small_classifier.get_layer("logits").get_weights()[1]
    np.testing.assert_allclose(keras.ops.softmax(logits), out["probabilities"], atol=1e-5)


def test_the_served_score_is_the_detector_on_the_pooled_features(small_classifier: keras.Model) -> None:
    """The detector is fitted on the features graph's pooled features; the served graph computes
    its logit as one Dense unit on the same features, to float32 precision."""
    pixels = np.stack([PRE.resized_array(lesion_like(200, 150, seed=s)) for s in range(12)])
    features = LesionModel(
        keras_to_tflite(serving_model(small_classifier, "feature_map", SPEC)), ModelCard(SPEC)
    )
    pooled = features.predict_outputs(pixels)["pooled_features"]
    detector = fit_detector(pooled[:6], pooled[6:] + 1.0)
    served = LesionModel(
        keras_to_tflite(serving_model(small_classifier, "feature_map", SPEC, detector)), ModelCard(SPEC)
    )
    out = served.predict_outputs(pixels)
    assert "pooled_features" not in out
    np.testing.assert_allclose(out["ood_score"][:, 0], detector_score(pooled, detector), rtol=1e-4, atol=1e-4)
