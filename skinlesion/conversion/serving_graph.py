"""The graph that is shipped: resized uint8 pixels in; one TFLite invoke gives the probabilities,
the class activation maps, the out-of-distribution score and the texture statistics, so
explaining or flagging an image costs no second pass and serving does no float work of its own.

For a global-average-pooled backbone and a linear head, a class's logit is the spatial mean of
`feature_map @ W[:, c]` plus its bias: that per-position score is the class activation map, exact
rather than approximated, computed here as a 1x1 convolution with the head's own weights.
"""

import keras
import numpy as np

from skinlesion.conversion.ood import LinearDetector
from skinlesion.image.preprocessing import PreprocessSpec

# Output names, in the order the TFLite graph lists them; serving finds each by its shape.
PROBABILITIES, CAM, POOLED, OOD_SCORE, TEXTURE = (
    "probabilities",
    "cam",
    "pooled_features",
    "ood_score",
    "texture",
)


@keras.saving.register_keras_serializable(package="skinlesion")
class ScalePixels(keras.layers.Layer):
    """uint8 pixels -> the backbone's input, `x * scale + offset` per channel, inside the graph:
    the served model takes what the resize gives, so serving cannot scale differently from training."""

    def __init__(self, scale: list[float], offset: list[float], **kwargs) -> None:
        super().__init__(**kwargs)
        self.scale, self.offset = [float(v) for v in scale], [float(v) for v in offset]

    @classmethod
    def for_spec(cls, spec: PreprocessSpec) -> "ScalePixels":
        scale, offset = spec.affine()
        return cls(scale.tolist(), offset.tolist(), name="scale_pixels")

    def call(self, pixels):
        x = keras.ops.cast(pixels, "float32")
        return x * keras.ops.convert_to_tensor(self.scale) + keras.ops.convert_to_tensor(self.offset)

    def get_config(self) -> dict:
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


@keras.saving.register_keras_serializable(package="skinlesion")
class Texture(keras.layers.Layer):
    """(contrast, roughness) of the scaled input: whether it can be a dermoscopy image at all.

    The backbone's features place a flat colour, noise or a page of text near the dermoscopy
    images (they excite none of its filters strongly), so the detector's score may not see them;
    their pixels can. Contrast (the grey level's standard deviation) is zero for a blank frame;
    roughness (the mean step between neighbouring pixels, relative to the contrast) is extreme
    for noise and text and near zero for a smooth graphic.
    """

    def call(self, x):
        grey = keras.ops.mean(x, axis=-1)
        contrast = keras.ops.std(grey, axis=(1, 2))
        steps = keras.ops.mean(keras.ops.abs(grey[:, 1:, :] - grey[:, :-1, :]), axis=(1, 2)) + keras.ops.mean(
            keras.ops.abs(grey[:, :, 1:] - grey[:, :, :-1]), axis=(1, 2)
        )
        return keras.ops.stack([contrast, steps / (contrast + 1e-6)], axis=-1)


def _pooling_layer(model: keras.Model) -> keras.layers.Layer:
    pools = [layer for layer in model.layers if isinstance(layer, keras.layers.GlobalAveragePooling2D)]
    if len(pools) != 1:
        raise ValueError("CAM needs exactly one global average pooling before a linear head")
    return pools[0]


def _linear_head_kernel(model: keras.Model) -> np.ndarray | None:
    """The linear head's kernel (features x classes); None for a head with an inner layer, for
    which a CAM would not be exact (such a model is served without maps)."""
    pool = _pooling_layer(model)
    after = [type(layer).__name__ for layer in model.layers[model.layers.index(pool) + 1 :]]
    if after not in (["Dropout", "Dense", "Softmax"], ["Dense", "Softmax"]):
        return None
    return model.get_layer("logits").get_weights()[0]


def feature_model(model: keras.Model, feature_map_layer: str) -> keras.Model:
    """Image -> [probabilities, pooled features, CAM grid (h, w, classes) for a linear head] over
    the trained weights."""
    outputs = [model.output, _pooling_layer(model).output]
    kernel = _linear_head_kernel(model)
    if kernel is not None:
        cam_layer = keras.layers.Conv2D(kernel.shape[1], 1, use_bias=False, name=CAM)
        outputs.append(cam_layer(model.get_layer(feature_map_layer).output))
        cam_layer.set_weights([kernel[None, None]])
    return keras.Model(model.input, outputs, name="skin_lesion_features")


def serving_model(
    model: keras.Model, feature_map_layer: str, spec: PreprocessSpec, ood: LinearDetector | None = None
) -> keras.Model:
    """uint8 pixels -> [probabilities, out-of-distribution score, texture, CAM grid]: what is
    converted and served. Without `ood`, the pooled features stand where the score goes: the
    graph the detector is fitted on."""
    width, height = spec.input_size
    pixels = keras.Input((height, width, 3), dtype="uint8", name="pixels")
    scaled = ScalePixels.for_spec(spec)(pixels)
    probabilities, pooled, *cam = feature_model(model, feature_map_layer)(scaled)
    second = pooled
    if ood is not None:  # the detector's logit: one Dense unit (ood.py)
        score_layer = keras.layers.Dense(1, name=OOD_SCORE)
        second = score_layer(pooled)
        score_layer.set_weights([ood.weights[:, None], np.array([ood.bias], dtype=np.float32)])
    texture = Texture(name=TEXTURE)(scaled)
    return keras.Model(pixels, [probabilities, second, texture, *cam], name="skin_lesion_classifier")
