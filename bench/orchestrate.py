"""In the parent: every measurement in order, each job in a fresh worker process, into the report.

Why a process per job: see bench/worker.py. The parent itself never imports a runtime.
"""

import argparse
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from bench.install_size import install_sizes
from bench.report import check_targets
from bench.serving import cold_start, image_event, summarise
from bench.variants import HANDLER, KERAS, ONNX, QUANTIZED, SHIPPED
from skinlesion.image.preprocessing import Preprocessor, PreprocessSpec
from skinlesion.paths import REPO_ROOT

ENTRY_POINT = "bench.compare"  # its hidden --worker option runs one job file
JOB_NUMBERS = itertools.count()


def run_job(job: dict[str, Any], folder: Path) -> dict[str, Any] | None:
    """Run one job in a fresh interpreter; None (with the reason on stderr) if it failed."""
    job_file = folder / f"job-{next(JOB_NUMBERS)}.json"
    job_file.write_text(json.dumps(job))
    result_file = job_file.with_suffix(".result.json")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [sys.executable, "-m", ENTRY_POINT, "--worker", str(job_file)]
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, check=False)
    if done.returncode != 0 or not result_file.exists():
        print(
            f"FAILED: {job.get('label', job['runtime'])} (exit {done.returncode}); see above", file=sys.stderr
        )
        return None
    return json.loads(result_file.read_text())


def validation_set(
    split: Path, data_dir: Path, spec: PreprocessSpec, folder: Path, limit: int
) -> tuple[Path, np.ndarray]:
    """The split's validation images, decoded and resized once (uint8 .npy), and their labels."""
    from skinlesion import dataset

    meta = dataset.load_metadata(data_dir).merge(dataset.read_split(split), on="image_id")
    rows = meta[meta["split"] == "val"]
    if 0 < limit < len(rows):
        rows = rows.sample(limit, random_state=0)
    path = folder / "validation.npy"
    np.save(path, dataset.load_images(list(rows["path"]), Preprocessor(spec), "validation"))
    return path, dataset.labels(rows["dx"])


def measure_variants(
    variants: list[tuple[str, str, Path]],
    common: dict[str, Any],
    thread_settings: list[int],
    validation: tuple[Path, np.ndarray] | None,
    folder: Path,
) -> list[dict[str, Any]]:
    """Latency of every variant at every thread setting; accuracy once each, on all cores."""
    from skinlesion.analysis.evaluate import evaluate

    rows, probabilities = [], {}
    for name, runtime, path in tqdm(variants, desc="variants", unit="variant"):
        row: dict[str, Any] = {"name": name, "runtime": runtime, "file": str(path), "latency_ms": {}}
        row["file_mb"] = path.stat().st_size / 1e6
        for threads in thread_settings:
            job = {**common, "runtime": runtime, "model": str(path), "threads": threads}
            job["label"] = f"{name}, {threads} thread(s)"
            score = validation is not None and threads == thread_settings[-1]
            if score:
                job.update(val_images=str(validation[0]), probs=str(folder / f"probs-{len(rows)}.npy"))
            result = run_job(job, folder)
            if result is None:
                continue
            row["latency_ms"][str(threads)] = summarise(result["latency_ms"])
            if threads == 1:
                row["peak_rss_mb"] = result["peak_rss_mb"]
            if score:
                probabilities[name] = np.load(job["probs"])
                row["accuracy"] = evaluate(validation[1], probabilities[name])
        rows.append(row)
    for row in rows:
        if row["name"] in probabilities and KERAS in probabilities:
            same = probabilities[row["name"]].argmax(1) == probabilities[KERAS].argmax(1)
            row["top1_agreement_with_keras"] = float(same.mean())
    return rows


def measure_handler(
    model: Path, common: dict[str, Any], thread_settings: list[int], sizes: list[int], folder: Path
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The whole handler's row of the table, and its batch throughput per thread setting."""
    row: dict[str, Any] = {"name": HANDLER, "runtime": "tflite", "file": str(model), "latency_ms": {}}
    batches = {}
    for threads in thread_settings:
        job = {**common, "runtime": "handler", "model": str(model), "threads": threads, "batch_sizes": sizes}
        result = run_job(job, folder)
        if result:
            row["latency_ms"][str(threads)] = summarise(result["latency_ms"])
            batches[str(threads)] = result["images_per_s"]
    return row, batches


def serving_process(model: Path, images: list[Path], runs: int, requests: int) -> dict[str, Any]:
    """Cold start and peak RSS of the real entry point, by bench/serving.py's measurement."""
    events = [image_event(p.read_bytes()) for p in images[:requests]]
    print(f"cold start: {runs} fresh serving processes", file=sys.stderr)
    starts, peak_kb = cold_start(model, events, runs)
    return {
        "cold_start_median_ms": statistics.median(starts),
        "cold_start_max_ms": max(starts),
        "cold_start_ms": starts,
        "cold_runs": runs,
        "peak_rss_mb": peak_kb / 1024,
        "rss_requests": len(events),
    }


def installed_versions(names: Iterable[str]) -> dict[str, str]:
    """Versions of the runtimes present, for the record: figures depend on them."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every measurement, in order; returns the report (JSON-serialisable)."""
    from skinlesion.model_card import ModelCard, card_path

    models = (args.tflite, args.quantized)
    for path in (*models, *map(card_path, models), args.h5):
        if not path.is_file():
            sys.exit(f"missing {path}: train and convert first, or point the options at other models")
    images = sorted(args.images.glob("*.jpg"))
    if not images:
        sys.exit(f"no JPEGs in {args.images}")
    started = time.perf_counter()
    spec = ModelCard.read(card_path(args.tflite)).preprocessing
    cpus = os.cpu_count() or 1
    thread_settings = sorted({1, cpus})
    runtimes = installed_versions(("ai-edge-litert", "tensorflow-cpu", "keras", "onnxruntime", "tf2onnx"))
    print(f"{len(images)} JPEGs, {cpus} CPUs, {runtimes}", file=sys.stderr)
    report: dict[str, Any] = {
        "machine": {
            "cpus": cpus,
            "thread_settings": thread_settings,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "runtimes": runtimes,
        },
        "inputs": {
            **{name: str(getattr(args, name)) for name in ("tflite", "quantized", "h5", "split", "images")},
            "n_images": len(images),
            "rounds": args.rounds,
            "batch_sizes": args.batch_sizes,
        },
    }
    with tempfile.TemporaryDirectory(prefix="bench-compare-") as tmp:
        folder = Path(tmp)
        validation = None
        if args.split.is_file():
            validation = validation_set(args.split, args.data_dir, spec, folder, args.val_limit)
            report["inputs"]["n_validation"] = len(validation[1])
        else:
            print(f"no split at {args.split}: accuracy is skipped", file=sys.stderr)
        onnx = folder / "model.onnx"
        convert = {"runtime": "convert-onnx", "model": str(args.h5), "out": str(onnx), "label": "tf2onnx"}
        report["onnx_conversion"] = run_job({**convert, "input_size": list(spec.input_size)}, folder)
        variants = [(SHIPPED, "tflite", args.tflite), (QUANTIZED, "tflite", args.quantized)]
        variants += [(KERAS, "keras", args.h5)] + (
            [(ONNX, "onnx", onnx)] if report["onnx_conversion"] else []
        )
        common = {"images": [str(p) for p in images], "rounds": args.rounds, "preprocessing": spec.to_card()}
        report["variants"] = measure_variants(variants, common, thread_settings, validation, folder)
        handler, report["handler_batches"] = measure_handler(
            args.tflite, common, thread_settings, args.batch_sizes, folder
        )
    report["serving_process"] = serving_process(args.tflite, images, args.cold_runs, args.rss_requests)
    handler["peak_rss_mb"] = report["serving_process"]["peak_rss_mb"]
    report["variants"].append(handler)
    report["install_size"] = install_sizes(REPO_ROOT / "Pipfile", REPO_ROOT / "Pipfile.lock")
    report["targets"] = check_targets(report)
    report["wall_time_s"] = time.perf_counter() - started
    return report
