"""bench/serving.py's fresh serving process: started (inside a cgroup when given), timed to its
first answer, its RESULT line read among the handler's own log lines, its failure explained."""

import json
import os
from pathlib import Path

import pytest

from bench.serving import cold_start, image_event, parse_result, run_child


def test_the_result_line_is_found_among_the_handlers_json_log_lines() -> None:
    result = {"timings_ms": [12.5, 13.0], "peak_rss_kb": 115_000, "cgroup": "1:cpu:/g\n"}
    lines = [
        '{"level": "INFO", "message": "request", "ms": 12.1}\n',
        "FIRST\n",
        "RSS_KB 115000\n",  # a line that is not the result, though it starts alike
        '{"level": "INFO", "message": "RESULT of the request"}\n',
        "RESULT " + json.dumps(result) + "\n",
    ]
    assert parse_result(lines) == result
    with pytest.raises(ValueError, match="RESULT"):
        parse_result(lines[:3])


def test_the_child_joins_the_group_answers_and_reports_its_timings(
    tiny_model: Path, jpegs: list[str], tmp_path: Path
) -> None:
    """The real child and handler on the tiny model; the group is a plain folder, so the shell's
    pid lands in a file rather than moving the process (no root needed)."""
    events = [image_event(Path(path).read_bytes()) for path in jpegs]
    env = {**os.environ, "MODEL_PATH": str(tiny_model), "TFLITE_NUM_THREADS": "1"}
    first_ms, result = run_child(tmp_path, env, {"events": events, "warmup": 1, "rounds": 3})
    assert first_ms > 0
    assert len(result["timings_ms"]) == 3 and all(ms > 0 for ms in result["timings_ms"])
    assert result["peak_rss_kb"] > 10_000
    assert int((tmp_path / "cgroup.procs").read_text()) > 0


def test_a_child_that_cannot_answer_fails_with_the_handlers_reason(jpegs: list[str], tmp_path: Path) -> None:
    env = {**os.environ, "MODEL_PATH": str(tmp_path / "missing.tflite")}
    job = {"events": [image_event(Path(jpegs[0]).read_bytes())], "warmup": 0, "rounds": 0}
    with pytest.raises(RuntimeError, match="model_unavailable"):
        run_child(tmp_path, env, job)


def test_cold_start_times_fresh_processes_and_reads_their_peak_memory(
    tiny_model: Path, jpegs: list[str]
) -> None:
    events = [image_event(Path(path).read_bytes()) for path in jpegs]
    starts, peak_kb = cold_start(tiny_model, events, runs=2)
    assert len(starts) == 2 and all(ms > 0 for ms in starts)
    assert peak_kb > 10_000
