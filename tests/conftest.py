"""Fixtures shared by every test: paths to the real data, a small real TFLite model, images."""

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from devtools.lambda_emulator import free_port, running
from skinlesion.classes import CLASS_CODES
from skinlesion.dataset import METADATA_FILE
from skinlesion.image.preprocessing import PreprocessSpec
from skinlesion.model_card import ModelCard, card_path
from skinlesion.paths import DEFAULT_MODEL_PATH, REPO_ROOT, SHARED_DATA_DIR, default_data_dir
from tests.support.datasets import write_tiny_dataset
from tests.support.image_server import ImageServer

REPO = REPO_ROOT
FULLRES_DIR = Path(os.environ.get("HAM10000_FULLRES_DIR", SHARED_DATA_DIR / "ham10000-fullres"))
SHIPPED_MODEL = DEFAULT_MODEL_PATH
REAL_DATA = default_data_dir()

TINY_INPUT = (64, 64)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small convolutional Keras model with random weights, converted to TFLite with the
    project's own converter and given a model card: the real serving path, in seconds."""
    import keras

    from skinlesion.conversion.tflite import keras_to_tflite

    keras.utils.set_random_seed(7)
    inputs = keras.Input((TINY_INPUT[1], TINY_INPUT[0], 3))
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(inputs)
    x = keras.layers.Conv2D(16, 3, strides=2, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(len(CLASS_CODES), activation="softmax")(x)
    model = keras.Model(inputs, outputs)

    folder = tmp_path_factory.mktemp("tiny-model")
    path = folder / "tiny.tflite"
    path.write_bytes(keras_to_tflite(model))
    ModelCard(PreprocessSpec(input_size=TINY_INPUT), name="tiny-test-model", version="0.0.1").write(
        card_path(path)
    )
    return path


def metadata_section(site_class: dict[str, str], temperature: float = 1.0) -> dict:
    """A card's metadata section whose only terms favour `site_class[site]` strongly at that site,
    with alert thresholds of its own (figures made up for the test, not measured)."""
    from skinlesion.metadata import FEATURES

    coefficients = [[0.0] * len(FEATURES) for _ in CLASS_CODES]
    for site, code in site_class.items():
        coefficients[CLASS_CODES.index(code)][FEATURES.index(f"site {site}")] = 4.0
    alert = {"sensitivity": 0.9, "specificity": 0.5}
    return {
        "weight": 0.5,
        "features": list(FEATURES),
        "coefficients": coefficients,
        "intercept": [0.0] * len(CLASS_CODES),
        "prior": [1 / len(CLASS_CODES)] * len(CLASS_CODES),
        "calibration": {"temperature": temperature},
        "alerts": {"melanoma": {**alert, "threshold": 0.2}, "malignant": {**alert, "threshold": 0.4}},
    }


@pytest.fixture(scope="session")
def tiny_model_with_metadata(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model with a card that takes age, sex and site: the face favours akiec, the back mel."""
    path = tmp_path_factory.mktemp("tiny-metadata") / "tiny.tflite"
    path.write_bytes(tiny_model.read_bytes())
    card = ModelCard.read(card_path(tiny_model))
    replace(card, metadata=metadata_section({"face": "akiec", "back": "mel"}, temperature=1.5)).write(
        card_path(path)
    )
    return path


@pytest.fixture(scope="session")
def image_server() -> ImageServer:
    with ImageServer() as server:
        yield server


@pytest.fixture(scope="session")
def fullres_images() -> list[Path]:
    images = sorted((FULLRES_DIR / "images").glob("*.jpg"))
    if not images:
        pytest.skip(f"the full-size HAM10000 images are not at {FULLRES_DIR} (set HAM10000_FULLRES_DIR)")
    return images


@pytest.fixture(scope="session")
def endpoint(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real handler under the Lambda Runtime Interface Emulator and awslambdaric, serving
    the tiny model, allowed to fetch from the loopback image server."""
    log = tmp_path_factory.mktemp("emulator") / "emulator.log"
    env = {"MODEL_PATH": str(tiny_model), "ALLOW_PRIVATE_URLS": "1", "FETCH_DEADLINE": "3"}
    with running(free_port(), env=env, log=log) as url:
        yield url


@pytest.fixture(scope="session")
def real_data_images() -> list[Path]:
    """50 HAM10000 images spread over the whole set (every 200th by name)."""
    images = sorted(default_data_dir().rglob("ISIC_*.jpg"))[::200]
    if not images:
        pytest.skip(f"the HAM10000 images are not under {default_data_dir()} (set HAM10000_DIR)")
    return images


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny HAM10000-shaped dataset: 7 classes x 5 lesions x 2 images."""
    return write_tiny_dataset(tmp_path_factory.mktemp("ham_tiny"))


@pytest.fixture
def real_data() -> Path:
    """The real HAM10000 folder; the test skips where it is absent (CI)."""
    if not (REAL_DATA / METADATA_FILE).exists():
        pytest.skip(f"the HAM10000 data folder {REAL_DATA} is absent")
    return REAL_DATA
