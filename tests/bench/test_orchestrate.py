"""bench/orchestrate.py: a job runs in a fresh process through bench/compare.py --worker, and a
failed one is reported, not raised."""

from pathlib import Path

from bench.orchestrate import run_job


def test_a_job_comes_back_from_its_fresh_process(tiny_model: Path, jpegs: list[str], tmp_path: Path) -> None:
    job = {"runtime": "handler", "model": str(tiny_model), "threads": 1, "images": jpegs, "rounds": 2}
    result = run_job({**job, "batch_sizes": [1]}, tmp_path)
    assert result is not None and len(result["latency_ms"]) == 2 and set(result["images_per_s"]) == {"1"}


def test_a_failing_job_is_reported_not_raised(tmp_path: Path) -> None:
    assert run_job({"runtime": "no-such-runtime", "model": "x", "images": [], "rounds": 1}, tmp_path) is None
