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

  python -m bench.compare [--tflite ...] [--quantized ...] [--h5 ...] [--out bench/results]
"""

import argparse
import json
from pathlib import Path

from bench.orchestrate import run
from bench.plot import plot
from bench.report import render_markdown
from bench.serving import DEFAULT_IMAGES
from bench.worker import worker
from skinlesion.paths import DEFAULT_MODEL_PATH, REPO_ROOT, default_data_dir


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
    option("--out", type=Path, default=REPO_ROOT / "bench" / "results", help="folder for .md, .json, .png")
    option("--rounds", type=int, default=100, help="images timed per variant and thread setting")
    option("--batch-sizes", type=int, nargs="+", default=[1, 4, 16], help="images per batch request")
    option("--cold-runs", type=int, default=5, help="fresh serving processes timed")
    option("--rss-requests", type=int, default=50, help="requests before a serving process's RSS is read")
    option("--val-limit", type=int, default=0, help="score this many random validation images; 0: all")
    option("--worker", type=Path, help=argparse.SUPPRESS)  # internal: run one job file
    args = p.parse_args(argv)
    if args.data_dir is None and not args.worker:
        args.data_dir = default_data_dir()
    return args


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
