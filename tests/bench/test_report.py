"""bench/report.py says PASS/MISS from the figures it was given (the benchmark itself never
asserts), and its Markdown holds the table, ratios, throughput and verdicts."""

import json

import pytest

from bench.report import render_markdown
from bench.variants import KERAS, SHIPPED
from tests.bench.sample_report import sample_report


def test_targets_follow_the_figures() -> None:
    good = sample_report(keras_ms=40.0, onnx_ms=11.0, handler_ms=6.0)
    assert [t["passed"] for t in good["targets"]] == [True, True, True, True, True, True, True]
    assert good["targets"][6]["value"] == pytest.approx(4.0)
    assert good["targets"][3]["value"] == pytest.approx(2.4) and "batch of 16" in good["targets"][3]["target"]
    bad = sample_report(
        keras_ms=20.0, onnx_ms=5.0, handler_ms=9.0, batch_rate=90.0, cold_ms=400.0, rss_mb=120.0
    )
    assert [t["passed"] for t in bad["targets"]] == [False, False, False, False, False, False, False]
    missing = sample_report(keras_ms=40.0, onnx_ms=None, handler_ms=6.0)
    assert [t["passed"] for t in missing["targets"]][2] is None


def test_markdown_holds_the_table_ratios_throughput_and_verdicts() -> None:
    text = render_markdown(sample_report(keras_ms=40.0, onnx_ms=None, handler_ms=31.0))
    lines = text.splitlines()
    keras_row = next(line for line in lines if line.startswith(f"| {KERAS} |"))
    assert "40.0 / 60.0" in keras_row and "| 4.00 |" in keras_row
    shipped_row = next(line for line in lines if line.startswith(f"| {SHIPPED} |"))
    assert "0.700" in shipped_row and "0.500" in shipped_row
    assert "| 16 | 120.0 | 150.0 |" in lines
    assert any(line.startswith("- PASS shipped TFLite >= 3x faster than Keras") for line in lines)
    assert any(line.startswith("- n/a shipped TFLite no slower than onnxruntime") for line in lines)
    assert any(line.startswith("- MISS whole handler median <= 8 ms") for line in lines)
    json.dumps(sample_report(40.0, 9.0, 25.0))  # the report is what bench.json holds
