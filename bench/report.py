"""The report: the figures read back from it, the targets judged on them, and its Markdown.

The report is the JSON-serialisable dict bench/compare.py writes to bench.json; every reader here
tolerates a missing figure (a failed variant) and shows it as '-' or n/a.
"""

from collections.abc import Iterable
from typing import Any

from bench.serving import WARMUP
from bench.variants import HANDLER, KERAS, ONNX, SHIPPED


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """None when either figure is missing, so a failed variant shows as '-' rather than crashing."""
    return numerator / denominator if numerator and denominator else None


def median_ms(report: dict[str, Any], name: str, threads: int) -> float | None:
    """A variant's median latency at a thread setting, None if it was not measured."""
    row = next((v for v in report["variants"] if v["name"] == name), None)
    stats = row and row["latency_ms"].get(str(threads))
    return stats["median"] if stats else None


def _target(name: str, value: float | None, unit: str, passed: bool | None) -> dict[str, Any]:
    return {"target": name, "value": value, "unit": unit, "passed": None if value is None else passed}


def p95_ms(report: dict[str, Any], name: str, threads: int) -> float | None:
    row = next((v for v in report["variants"] if v["name"] == name), None)
    stats = row and row["latency_ms"].get(str(threads))
    return stats["p95"] if stats else None


def batch_gain(report: dict[str, Any], threads: int = 1) -> tuple[str, float | None]:
    """(largest batch size, its images/s over single-image requests') through the handler."""
    rates = report.get("handler_batches", {}).get(str(threads), {})
    largest = max(rates, key=int, default="1")
    return largest, ratio(rates.get(largest), rates.get("1"))


def check_targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The serving targets with this run's value; `passed` is None where a figure is missing."""
    shipped = median_ms(report, SHIPPED, 1)
    keras = ratio(median_ms(report, KERAS, 1), shipped)
    onnx = ratio(shipped, median_ms(report, ONNX, 1))
    handler, handler_p95 = median_ms(report, HANDLER, 1), p95_ms(report, HANDLER, 1)
    batch, gain = batch_gain(report)
    process = report.get("serving_process", {})
    cold, rss = process.get("cold_start_median_ms"), process.get("peak_rss_mb")
    return [
        _target("whole handler median <= 8 ms, 600x450 JPEG, 1 thread", handler, " ms", (handler or 0) <= 8),
        _target("whole handler p95 <= 10 ms, 1 thread", handler_p95, " ms", (handler_p95 or 0) <= 10),
        _target(
            "shipped TFLite no slower than onnxruntime (<= 1.0x), 1 thread", onnx, "x", (onnx or 0) <= 1.0
        ),
        _target(
            f"batch of {batch}: >= 2x the images/s of single images, 1 thread", gain, "x", (gain or 0) >= 2
        ),
        _target("cold start (process start to first answer) <= 300 ms", cold, " ms", (cold or 0) <= 300),
        _target("peak RSS of the serving process <= 100 MB", rss, " MB", (rss or 0) <= 100),
        _target("shipped TFLite >= 3x faster than Keras, 1 image, 1 thread", keras, "x", (keras or 0) >= 3),
    ]


def _cell(value: float | None, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


def _row(cells: Iterable[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _variant_table(report: dict[str, Any]) -> list[str]:
    threads = report["machine"]["thread_settings"]
    head = ["variant", "file MB"]
    for n in threads:
        head += [f"{n} thread{'s' * (n > 1)}: median / p95 ms", "x shipped"]
    head += ["peak RSS MB", "balanced acc.", "melanoma recall", "top-1 = Keras"]
    lines = [_row(head), _row(["---"] * len(head))]
    for row in report["variants"]:
        cells = [row["name"], _cell(row.get("file_mb"), "{:.1f}")]
        for n in threads:
            stats = row["latency_ms"].get(str(n)) or {}
            cells.append(f"{_cell(stats.get('median'), '{:.1f}')} / {_cell(stats.get('p95'), '{:.1f}')}")
            shipped = median_ms(report, SHIPPED, n)
            cells.append(_cell(ratio(median_ms(report, row["name"], n), shipped), "{:.2f}"))
        accuracy = row.get("accuracy") or {}
        cells += [
            _cell(row.get("peak_rss_mb"), "{:.0f}"),
            _cell(accuracy.get("balanced_accuracy"), "{:.3f}"),
            _cell(accuracy.get("melanoma_recall"), "{:.3f}"),
            _cell(row.get("top1_agreement_with_keras"), "{:.4f}"),
        ]
        lines.append(_row(cells))
    return lines


def _batch_table(report: dict[str, Any]) -> list[str]:
    threads, batches = report["machine"]["thread_settings"], report["handler_batches"]
    lines = [_row(["images per request", *(f"{n} thread{'s' * (n > 1)}: images/s" for n in threads)])]
    lines.append(_row(["---"] * (len(threads) + 1)))
    for size in report["inputs"]["batch_sizes"]:
        per_thread = [(batches.get(str(n)) or {}).get(str(size)) for n in threads]
        lines.append(_row([str(size), *(_cell(value, "{:.1f}") for value in per_thread)]))
    return lines


def render_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: the side-by-side table, batch throughput, sizes and targets."""
    machine, inputs, cold = report["machine"], report["inputs"], report["serving_process"]
    lines = _variant_table(report)
    lines += ["", 'Batch requests through the handler (`{"instances": [...]}`, float32):', ""]
    lines += _batch_table(report)
    lines += [
        "",
        f"Serving process (lambda_function, float32, runtime's default threads): cold start to the first "
        f"answer {_cell(cold['cold_start_median_ms'], '{:.0f}')} ms median "
        f"(max {_cell(cold['cold_start_max_ms'], '{:.0f}')}) over {cold['cold_runs']} fresh processes; "
        f"peak RSS {_cell(cold['peak_rss_mb'], '{:.0f}')} MB after {cold['rss_requests']} requests.",
        "",
        _row(["installed size (files in RECORD)", "distributions", "MB"]),
        _row(["---"] * 3),
    ]
    for env in report["install_size"]:
        note = f" (not installed: {', '.join(env['missing'])})" if env["missing"] else ""
        lines.append(_row([env["environment"] + note, str(len(env["distributions"])), f"{env['mb']:.0f}"]))
    lines += ["", "Targets:", ""]
    for target in report["targets"]:
        verdict = {True: "PASS", False: "MISS", None: "n/a"}[target["passed"]]
        lines.append(f"- {verdict} {target['target']}: {_cell(target['value'], '{:.2f}')}{target['unit']}")
    onnx = (report.get("onnx_conversion") or {}).get("method", "conversion failed")
    lines += [
        "",
        f"Latency: JPEG bytes to probabilities (decode, resize, preprocess, inference), one image per "
        f"call, {inputs['rounds']} calls over {inputs['n_images']} JPEGs of {inputs['images']} after "
        f"{WARMUP} warm-up, each variant in a fresh process; the handler row adds base64, event "
        f"parsing and the response. Accuracy: {inputs.get('n_validation', 'no')} validation images "
        f"of {inputs['split']}. ONNX: {onnx}. {machine['cpus']} CPUs, Python {machine['python']}, "
        f"{', '.join(f'{k} {v}' for k, v in machine['runtimes'].items())}. "
        f"Took {report['wall_time_s']:.0f} s.",
    ]
    return "\n".join(lines) + "\n"
