"""Training and serving must turn the same file into the same tensor."""

from pathlib import Path

import numpy as np

from skinlesion.dataset import load_images, load_metadata
from skinlesion.image.decode import decode_image
from skinlesion.image.preprocessing import Preprocessor, PreprocessSpec
from skinlesion.training.fit import ImageBatches


def test_training_batches_equal_the_serving_tensor(tiny_dataset: Path) -> None:
    path = load_metadata(tiny_dataset)["path"].iloc[3]
    preprocessor = Preprocessor(PreprocessSpec(input_size=(224, 224), resize="bilinear", scaling="torch"))

    cached = load_images([path], preprocessor)  # what train.py holds in memory
    (training_batch,) = ImageBatches(cached, preprocessor, batch_size=1)[0]  # what the model is fed
    serving = Preprocessor(preprocessor.spec).convert_to_tensor(decode_image(path.read_bytes()))

    assert training_batch.dtype == serving.dtype == np.float32
    assert training_batch.shape == serving.shape == (1, 224, 224, 3)
    np.testing.assert_array_equal(training_batch, serving)
