"""bench/plot.py writes the latency-against-accuracy PNG."""

from pathlib import Path

from bench.plot import plot
from tests.bench.sample_report import sample_report


def test_plot_is_written(tmp_path: Path) -> None:
    report = sample_report(keras_ms=40.0, onnx_ms=9.0, handler_ms=25.0)
    plot(report, tmp_path / "plot.png")
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
