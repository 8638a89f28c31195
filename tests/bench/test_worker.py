"""bench/worker.py on the tiny model: each job measures what it claims."""

from pathlib import Path

import numpy as np

from bench.worker import worker
from skinlesion.model_card import ModelCard, card_path


def test_tflite_worker_times_every_round_and_scores_the_validation_images(
    tiny_model: Path, jpegs: list[str], tmp_path: Path
) -> None:
    spec = ModelCard.read(card_path(tiny_model)).preprocessing
    width, height = spec.input_size
    images = np.random.default_rng(0).integers(0, 256, (5, height, width, 3), dtype=np.uint8)
    np.save(tmp_path / "val.npy", images)
    job = {
        "runtime": "tflite",
        "model": str(tiny_model),
        "threads": 1,
        "images": jpegs,
        "rounds": 4,
        "preprocessing": spec.to_card(),
        "label": "tiny",
        "val_images": str(tmp_path / "val.npy"),
        "probs": str(tmp_path / "probs.npy"),
    }
    result = worker(job)
    assert len(result["latency_ms"]) == 4 and all(ms > 0 for ms in result["latency_ms"])
    assert result["peak_rss_mb"] > 10
    probs = np.load(tmp_path / "probs.npy")
    assert probs.shape == (5, 7)
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-5)


def test_handler_worker_reports_images_per_second_for_each_batch_size(
    tiny_model: Path, jpegs: list[str]
) -> None:
    job = {"runtime": "handler", "model": str(tiny_model), "threads": 1, "images": jpegs, "rounds": 3}
    result = worker({**job, "batch_sizes": [1, 3]})
    assert len(result["latency_ms"]) == 3
    assert set(result["images_per_s"]) == {"1", "3"} and min(result["images_per_s"].values()) > 0
