"""The serving variants side by side: what each costs and how well it sees.

Why: the service ships a float32 TFLite model run by ai-edge-litert, without TensorFlow, for a
small image and fast cold starts. This puts figures beside that choice: the dynamic-range
quantized TFLite, the same network in Keras (`model(x)`), and in onnxruntime (converted from
the `.h5` here by tf2onnx's `from_keras`; ONNX is never part of the product).

Every variant turns the same JPEG bytes into probabilities the same way (the service's decode,
resize and preprocessing, then its own inference), each in a fresh process that imports only
its own runtime: one runtime's thread pools cannot slow another, and TensorFlow's thread count
is set before it starts. Prints one table and writes it to --out as Markdown and JSON, with a
plot of latency against balanced accuracy. Prints figures and PASS/MISS; never asserts them.

  python bench/compare.py [--tflite ...] [--quantized ...] [--h5 ...] [--out bench/results]
"""

import argparse
import base64
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.serving import DEFAULT_IMAGES, cold_start, peak_rss_kb, percentile, warm_latency  # noqa: E402
from skinlesion.classes import CLASS_CODES  # noqa: E402
from skinlesion.preprocessing import Preprocessor, PreprocessSpec  # noqa: E402
from skinlesion.serving.config import DEFAULT_MODEL_PATH  # noqa: E402
from skinlesion.serving.decode import decode_image  # noqa: E402

SHIPPED, QUANTIZED, KERAS, ONNX = (
    "TFLite float32 (shipped)",
    "TFLite dynamic-range",
    "Keras model(x)",
    "onnxruntime",
)
HANDLER = "whole handler, float32"
ONNX_OPSET = 17
WARMUP = 5
THROUGHPUT_IMAGES = 64  # images timed per batch size
Predict = Callable[[np.ndarray], np.ndarray]
JOB_NUMBERS = itertools.count()


# ---- in a worker process: one runtime, one thread setting -------------------------------------


def load_predictor(runtime: str, path: Path, threads: int) -> Predict:
    """Preprocessed (N, H, W, 3) images -> (N, 7) probabilities in CLASS_CODES order."""
    if runtime == "tflite":
        from skinlesion.serving.model import LesionModel

        model = LesionModel(path, num_threads=threads)

        def tflite(x: np.ndarray) -> np.ndarray:  # one image per invoke, as the handler runs it
            rows = [model.probabilities(image[None]) for image in x]
            return np.array([[row[code] for code in CLASS_CODES] for row in rows])

        return tflite
    if runtime == "keras":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        import keras

        network = keras.models.load_model(path, compile=False)
        return lambda x: np.asarray(network(x, training=False))
    if runtime == "onnx":
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda x: session.run(None, {name: np.ascontiguousarray(x, dtype=np.float32)})[0]
    raise ValueError(f"unknown runtime {runtime!r}")


def warm_timings(
    predict: Predict, preprocessor: Preprocessor, blobs: list[bytes], rounds: int, label: str
) -> list[float]:
    """Milliseconds from JPEG bytes to probabilities, one image at a time, after a warm-up."""

    def answer(data: bytes) -> np.ndarray:
        return predict(preprocessor.convert_to_tensor(decode_image(data)))

    for data in blobs[:WARMUP]:
        answer(data)
    timings = []
    for i in tqdm(range(rounds), desc=label, unit="img", leave=False):
        started = time.perf_counter()
        answer(blobs[i % len(blobs)])
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def predict_all(predict: Predict, preprocessor: Preprocessor, images: np.ndarray, label: str) -> np.ndarray:
    """Probabilities for the resized uint8 validation images, in chunks of 32."""
    starts = range(0, len(images), 32)
    chunks = [
        predict(preprocessor.preprocess(images[i : i + 32])) for i in tqdm(starts, desc=label, leave=False)
    ]
    return np.concatenate(chunks)


def handler_figures(
    model: Path, blobs: list[bytes], rounds: int, threads: int, sizes: list[int]
) -> dict[str, Any]:
    """The whole handler (base64 JSON event in, response out): one image, then batches of N."""
    from skinlesion.serving.config import Settings
    from skinlesion.serving.handler import Classifier, handle

    events = [{"image": base64.b64encode(data).decode()} for data in blobs]
    result: dict[str, Any] = {"latency_ms": warm_latency(model, events, rounds, threads), "images_per_s": {}}
    classifier = Classifier(Settings(model_path=model, num_threads=threads))
    for n in sizes:
        event = {"instances": [events[i % len(events)] for i in range(n)]}
        handle(event, None, classifier)
        seconds = []
        for _ in tqdm(range(max(3, -(-THROUGHPUT_IMAGES // n))), desc=f"batches of {n}", leave=False):
            started = time.perf_counter()
            answer = handle(event, None, classifier)
            seconds.append(time.perf_counter() - started)
            if any("error" in p for p in answer.get("predictions", [answer])):
                raise RuntimeError(f"the batch of {n} was not answered: {str(answer)[:300]}")
        result["images_per_s"][str(n)] = n / statistics.median(seconds)
    return result


def convert_onnx(h5: Path, out: Path, input_size: list[int]) -> dict[str, Any]:
    """`.h5` -> ONNX by tf2onnx.convert.from_keras, which handles Keras 3 on TF 2.21 here
    (`from_tflite` on the float32 `.tflite` works too and gives the same outputs)."""
    import keras
    import tensorflow as tf
    import tf2onnx

    network = keras.models.load_model(h5, compile=False)
    width, height = input_size
    signature = [tf.TensorSpec((None, height, width, 3), tf.float32, name="image")]
    started = time.perf_counter()
    tf2onnx.convert.from_keras(network, input_signature=signature, opset=ONNX_OPSET, output_path=str(out))
    return {
        "method": "tf2onnx.convert.from_keras(.h5)",
        "tf2onnx": tf2onnx.__version__,
        "opset": ONNX_OPSET,
        "seconds": time.perf_counter() - started,
        "file_mb": out.stat().st_size / 1e6,
    }


def worker(job: dict[str, Any]) -> dict[str, Any]:
    """One job of `run_job`, in this fresh process; job and answer are JSON objects."""
    model, threads = Path(job["model"]), job.get("threads", 1)
    if job["runtime"] == "convert-onnx":
        return convert_onnx(model, Path(job["out"]), job["input_size"])
    blobs = [Path(p).read_bytes() for p in job["images"]]
    if job["runtime"] == "handler":
        return handler_figures(model, blobs, job["rounds"], threads, job["batch_sizes"])
    preprocessor = Preprocessor(PreprocessSpec.from_card(job["preprocessing"]))
    predict = load_predictor(job["runtime"], model, threads)
    result = {"latency_ms": warm_timings(predict, preprocessor, blobs, job["rounds"], job["label"])}
    result["peak_rss_mb"] = peak_rss_kb() / 1024  # before the validation images are touched
    if job.get("val_images"):
        images = np.load(job["val_images"], mmap_mode="r")
        np.save(job["probs"], predict_all(predict, preprocessor, images, f"{job['label']} validation"))
    return result


# ---- in the parent: orchestration, install sizes, the report -----------------------------------


def run_job(job: dict[str, Any], folder: Path) -> dict[str, Any] | None:
    """Run one job in a fresh interpreter; None (with the reason on stderr) if it failed."""
    job_file = folder / f"job-{next(JOB_NUMBERS)}.json"
    job_file.write_text(json.dumps(job))
    result_file = job_file.with_suffix(".result.json")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", str(job_file)]
    done = subprocess.run(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, check=False)
    if done.returncode != 0 or not result_file.exists():
        print(
            f"FAILED: {job.get('label', job['runtime'])} (exit {done.returncode}); see above", file=sys.stderr
        )
        return None
    return json.loads(result_file.read_text())


def summarise(timings: list[float]) -> dict[str, float]:
    """Median and p95 are what the table shows: one slow outlier must not move them much."""
    return {
        "median": statistics.median(timings),
        "p95": percentile(timings, 0.95),
        "mean": statistics.fmean(timings),
        "n": len(timings),
    }


def validation_set(
    split: Path, data_dir: Path, spec: PreprocessSpec, folder: Path, limit: int
) -> tuple[Path, np.ndarray]:
    """The split's validation images, decoded and resized once (uint8 .npy), and their labels."""
    from skinlesion.training import data

    meta = data.load_metadata(data_dir).merge(data.read_split(split), on="image_id")
    rows = meta[meta["split"] == "val"]
    if 0 < limit < len(rows):
        rows = rows.sample(limit, random_state=0)
    path = folder / "validation.npy"
    np.save(path, data.load_images(list(rows["path"]), Preprocessor(spec), "validation"))
    return path, data.labels(rows["dx"])


def install_size(roots: Iterable[str]) -> dict[str, Any]:
    """Bytes on disk of `roots` and everything they require, as installed in this environment:
    the files each distribution's RECORD lists (the interpreter itself is not counted)."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    found: dict[str, metadata.Distribution] = {}
    missing: set[str] = set()
    todo = [canonicalize_name(name) for name in roots]
    while todo:
        name = todo.pop()
        if name in found or name in missing:
            continue
        try:
            found[name] = dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            missing.add(name)
            continue
        for line in dist.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(requirement.name))
    size = sum(
        path.stat().st_size
        for dist in found.values()
        for file in dist.files or []
        if (path := Path(str(file.locate()))).is_file()
    )
    return {"distributions": sorted(found), "missing": sorted(missing), "mb": size / 1e6}


def install_sizes(pipfile: Path, lock: Path) -> list[dict[str, Any]]:
    """The serving environment (Pipfile.lock's `packages`, i.e. "default") against the same
    serving packages with onnxruntime or TensorFlow in place of ai-edge-litert."""
    locked = list(json.loads(lock.read_text())["default"])
    others = [name for name in tomllib.loads(pipfile.read_text())["packages"] if name != "ai-edge-litert"]
    environments = [
        ("ai-edge-litert (shipped: Pipfile.lock packages)", locked),
        ("onnxruntime instead", [*others, "onnxruntime"]),
        ("tensorflow-cpu instead", [*others, "tensorflow-cpu"]),
    ]
    return [{"environment": name, "roots": roots, **install_size(roots)} for name, roots in environments]


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


def check_targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets with this run's value; `passed` is None where a figure is missing."""
    shipped = median_ms(report, SHIPPED, 1)
    keras = ratio(median_ms(report, KERAS, 1), shipped)
    onnx = ratio(shipped, median_ms(report, ONNX, 1))
    handler = median_ms(report, HANDLER, 1)
    return [
        _target("shipped TFLite >= 3x faster than Keras, 1 image, 1 thread", keras, "x", (keras or 0) >= 3),
        _target("shipped TFLite no slower than 1.2x onnxruntime, 1 thread", onnx, "x", (onnx or 0) <= 1.2),
        _target(
            "warm median <= 30 ms, 600x450 JPEG, whole handler, 1 thread",
            handler,
            " ms",
            (handler or 0) <= 30,
        ),
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


def plot(report: dict[str, Any], path: Path) -> None:
    """Latency (log scale) against balanced accuracy, one colour per variant: the trade-off at a
    glance. Filled: 1 thread; hollow: all cores."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, row in enumerate(v for v in report["variants"] if v.get("accuracy")):
        y = row["accuracy"]["balanced_accuracy"]
        for n in report["machine"]["thread_settings"]:
            x = median_ms(report, row["name"], n)
            if x is not None:
                label = row["name"] if n == 1 else None
                ax.scatter(x, y, color=f"C{i}", facecolors=f"C{i}" if n == 1 else "none", s=70, label=label)
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set(
        xlabel="median ms per image, JPEG bytes to probabilities (filled: 1 thread, hollow: all cores)",
        ylabel="balanced accuracy (validation)",
        title="Serving variants: latency against balanced accuracy",
    )
    ax.xaxis.label.set_size(8)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    option = p.add_argument
    shipped = DEFAULT_MODEL_PATH
    option("--tflite", type=Path, default=shipped, help="shipped float32 model")
    option(
        "--quantized",
        type=Path,
        default=shipped.with_name(shipped.stem + "_dynamic.tflite"),
        help="dynamic-range quantized model (each .tflite has its card .json beside it)",
    )
    option("--h5", type=Path, default=shipped.with_suffix(".h5"), help="the Keras model converted")
    option(
        "--split",
        type=Path,
        default=shipped.with_name(shipped.stem + "_split.csv"),
        help="split CSV (image_id,lesion_id,dx,split); its 'val' rows are scored",
    )
    option(
        "--data-dir",
        type=Path,
        default=None,
        help="HAM10000 folder (default: $HAM10000_DIR, else ../shared/data/ham10000)",
    )
    option("--images", type=Path, default=DEFAULT_IMAGES, help="JPEGs timed (default: the 124 600x450 ones)")
    option("--out", type=Path, default=REPO / "bench" / "results", help="folder for the .md, .json and .png")
    option("--rounds", type=int, default=100, help="images timed per variant and thread setting")
    option("--batch-sizes", type=int, nargs="+", default=[1, 4, 16], help="images per batch request")
    option("--cold-runs", type=int, default=5, help="fresh serving processes timed")
    option("--rss-requests", type=int, default=50, help="requests before a serving process's RSS is read")
    option("--val-limit", type=int, default=0, help="score this many random validation images; 0: all")
    option("--worker", type=Path, help=argparse.SUPPRESS)  # internal: run one job file
    args = p.parse_args(argv)
    if args.data_dir is None and not args.worker:
        from skinlesion.training.data import default_data_dir  # pandas and sklearn: not in workers

        args.data_dir = default_data_dir()
    return args


def measure_variants(
    variants: list[tuple[str, str, Path]],
    common: dict[str, Any],
    thread_settings: list[int],
    validation: tuple[Path, np.ndarray] | None,
    folder: Path,
) -> list[dict[str, Any]]:
    """Latency of every variant at every thread setting; accuracy once each, on all cores."""
    from skinlesion.training.evaluate import evaluate

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
    events = [{"image": base64.b64encode(p.read_bytes()).decode()} for p in images[:requests]]
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
    from skinlesion.serving.model import ModelCard, card_path_for

    models = (args.tflite, args.quantized)
    for path in (*models, *map(card_path_for, models), args.h5):
        if not path.is_file():
            sys.exit(f"missing {path}: train and convert first, or point the options at other models")
    images = sorted(args.images.glob("*.jpg"))
    if not images:
        sys.exit(f"no JPEGs in {args.images}")
    started = time.perf_counter()
    spec = ModelCard.read(card_path_for(args.tflite)).preprocessing
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
    report["install_size"] = install_sizes(REPO / "Pipfile", REPO / "Pipfile.lock")
    report["targets"] = check_targets(report)
    report["wall_time_s"] = time.perf_counter() - started
    return report


def main() -> None:
    args = parse_args()
    if args.worker:
        result = worker(json.loads(args.worker.read_text()))
        args.worker.with_suffix(".result.json").write_text(json.dumps(result))
        return
    report = run(args)
    table = render_markdown(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.md").write_text(table)
    (args.out / "bench.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(report, args.out / "latency_vs_accuracy.png")
    print(table)
    print(f"written: {args.out}/bench.md, bench.json, latency_vs_accuracy.png")


if __name__ == "__main__":
    main()
