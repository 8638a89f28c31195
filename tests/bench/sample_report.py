"""A made-up report with chosen latencies, so that the targets, table and plot can be checked
against figures known in advance."""

from bench.report import check_targets
from bench.variants import HANDLER, KERAS, ONNX, SHIPPED


def sample_report(
    keras_ms: float,
    onnx_ms: float | None,
    handler_ms: float,
    batch_rate: float = 120.0,
    cold_ms: float = 250.0,
    rss_mb: float = 90.0,
) -> dict:
    def row(name: str, ms: float | None) -> dict:
        latency = (
            {} if ms is None else {"1": {"median": ms, "p95": ms * 1.5}, "2": {"median": ms / 2, "p95": ms}}
        )
        return {"name": name, "file_mb": 9.0, "latency_ms": latency, "peak_rss_mb": 80.0}

    shipped = row(SHIPPED, 10.0) | {"accuracy": {"balanced_accuracy": 0.7, "melanoma_recall": 0.5}}
    report = {
        "machine": {"cpus": 2, "thread_settings": [1, 2], "python": "3.11", "runtimes": {"onnxruntime": "1"}},
        "inputs": {
            "batch_sizes": [1, 16],
            "rounds": 5,
            "n_images": 3,
            "images": "imgs",
            "split": "split.csv",
        },
        "variants": [shipped, row(KERAS, keras_ms), row(ONNX, onnx_ms), row(HANDLER, handler_ms)],
        "handler_batches": {"1": {"1": 50.0, "16": batch_rate}, "2": {"1": 90.0, "16": 150.0}},
        "serving_process": {
            "cold_start_median_ms": cold_ms,
            "cold_start_max_ms": 350.0,
            "cold_runs": 5,
            "peak_rss_mb": rss_mb,
            "rss_requests": 50,
        },
        "install_size": [{"environment": "litert", "distributions": ["a", "b"], "missing": [], "mb": 150.0}],
        "wall_time_s": 12.0,
    }
    report["targets"] = check_targets(report)
    return report
