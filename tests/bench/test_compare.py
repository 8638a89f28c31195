"""bench/compare.py on the tiny model: its workers measure what they claim, and the report
says PASS/MISS from the figures it was given (the benchmark itself never asserts)."""

import json
from pathlib import Path

import numpy as np
import pytest

from bench.compare import (
    HANDLER,
    KERAS,
    ONNX,
    SHIPPED,
    check_targets,
    install_size,
    plot,
    render_markdown,
    run_job,
    worker,
)
from skinlesion.serving.model import ModelCard, card_path_for
from tests.support.images import jpeg


@pytest.fixture(scope="module")
def jpegs(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    folder = tmp_path_factory.mktemp("jpegs")
    paths = [folder / f"{seed}.jpg" for seed in range(3)]
    for seed, path in enumerate(paths):
        path.write_bytes(jpeg(600, 450, seed=seed))
    return [str(path) for path in paths]


def test_tflite_worker_times_every_round_and_scores_the_validation_images(
    tiny_model: Path, jpegs: list[str], tmp_path: Path
) -> None:
    spec = ModelCard.read(card_path_for(tiny_model)).preprocessing
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


def test_a_failing_job_is_reported_not_raised(tmp_path: Path) -> None:
    assert run_job({"runtime": "no-such-runtime", "model": "x", "images": [], "rounds": 1}, tmp_path) is None


def _report(keras_ms: float, onnx_ms: float | None, handler_ms: float) -> dict:
    def row(name: str, ms: float | None) -> dict:
        latency = (
            {} if ms is None else {"1": {"median": ms, "p95": ms * 1.5}, "2": {"median": ms / 2, "p95": ms}}
        )
        return {"name": name, "file_mb": 9.0, "latency_ms": latency, "peak_rss_mb": 80.0}

    shipped = row(SHIPPED, 10.0) | {"accuracy": {"balanced_accuracy": 0.7, "melanoma_recall": 0.5}}
    report = {
        "machine": {"cpus": 2, "thread_settings": [1, 2], "python": "3.11", "runtimes": {"onnxruntime": "1"}},
        "inputs": {"batch_sizes": [1, 4], "rounds": 5, "n_images": 3, "images": "imgs", "split": "split.csv"},
        "variants": [shipped, row(KERAS, keras_ms), row(ONNX, onnx_ms), row(HANDLER, handler_ms)],
        "handler_batches": {"1": {"1": 50.0, "4": 80.0}, "2": {"1": 90.0, "4": 150.0}},
        "serving_process": {
            "cold_start_median_ms": 300.0,
            "cold_start_max_ms": 350.0,
            "cold_runs": 5,
            "peak_rss_mb": 70.0,
            "rss_requests": 50,
        },
        "install_size": [{"environment": "litert", "distributions": ["a", "b"], "missing": [], "mb": 150.0}],
        "wall_time_s": 12.0,
    }
    report["targets"] = check_targets(report)
    return report


def test_targets_follow_the_figures() -> None:
    good = _report(keras_ms=40.0, onnx_ms=9.0, handler_ms=25.0)
    assert [t["passed"] for t in good["targets"]] == [True, True, True]
    assert good["targets"][0]["value"] == pytest.approx(4.0)
    bad = _report(keras_ms=20.0, onnx_ms=5.0, handler_ms=31.0)
    assert [t["passed"] for t in bad["targets"]] == [False, False, False]
    missing = _report(keras_ms=40.0, onnx_ms=None, handler_ms=25.0)
    assert [t["passed"] for t in missing["targets"]] == [True, None, True]


def test_markdown_holds_the_table_ratios_throughput_and_verdicts() -> None:
    text = render_markdown(_report(keras_ms=40.0, onnx_ms=None, handler_ms=31.0))
    lines = text.splitlines()
    keras_row = next(line for line in lines if line.startswith(f"| {KERAS} |"))
    assert "40.0 / 60.0" in keras_row and "| 4.00 |" in keras_row
    shipped_row = next(line for line in lines if line.startswith(f"| {SHIPPED} |"))
    assert "0.700" in shipped_row and "0.500" in shipped_row
    assert "| 4 | 80.0 | 150.0 |" in lines
    assert any(line.startswith("- PASS shipped TFLite >= 3x faster than Keras") for line in lines)
    assert any(line.startswith("- n/a shipped TFLite no slower than 1.2x onnxruntime") for line in lines)
    assert any(line.startswith("- MISS warm median <= 30 ms") for line in lines)
    json.dumps(_report(40.0, 9.0, 25.0))  # the report is what bench.json holds


def test_install_size_follows_requirements_and_names_what_is_missing() -> None:
    size = install_size(["keras-image-helper", "no-such-distribution"])
    assert {"keras-image-helper", "numpy", "pillow"} <= set(size["distributions"])
    assert size["missing"] == ["no-such-distribution"]
    assert size["mb"] > 10


def test_plot_is_written(tmp_path: Path) -> None:
    report = _report(keras_ms=40.0, onnx_ms=9.0, handler_ms=25.0)
    plot(report, tmp_path / "plot.png")
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
