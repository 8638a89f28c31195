"""Serving benchmark: warm handler latency, cold start and peak memory, on real full-size images.

Prints figures, never asserts them: these machines are shared and noisy. Each figure is for
the whole handler (base64 JSON event in, response dict out), as Lambda runs it.

  python -m bench.serving [--model models/skin-lesion-class_v2.tflite] [--images DIR]
"""

import argparse
import base64
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from skinlesion.paths import DEFAULT_MODEL_PATH, REPO_ROOT, SHARED_DATA_DIR

DEFAULT_IMAGES = SHARED_DATA_DIR / "ham10000-fullres" / "images"
WARMUP = 5  # requests answered before timing starts (bench/compare.py reports this figure)

# Runs in a fresh interpreter: import the entry point (which loads the model), answer the
# events, report peak RSS. The parent times it from before the process exists.
CHILD = """
import json, sys
events = json.loads(sys.stdin.read())
import lambda_function
first = lambda_function.lambda_handler(events[0], None)
print("FIRST", json.dumps(first.get("prediction")), flush=True)
for event in events[1:]:
    lambda_function.lambda_handler(event, None)
from bench.serving import peak_rss_kb
print("RSS_KB", peak_rss_kb(), flush=True)
"""


def peak_rss_kb() -> int:
    """This process's peak resident memory. Linux's VmHWM, because `ru_maxrss` of a child
    started by fork + exec also counts the parent's memory at the fork."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summarise(timings: list[float]) -> dict[str, float]:
    """Median and p95 are what the table shows: one slow outlier must not move them much."""
    return {
        "median": statistics.median(timings),
        "p95": percentile(timings, 0.95),
        "mean": statistics.fmean(timings),
        "n": len(timings),
    }


def image_event(data: bytes) -> dict[str, str]:
    """The direct-invocation event a client sends for one image: its bytes as base64 JSON."""
    return {"image": base64.b64encode(data).decode()}


def warm_latency(model: Path, events: list[dict], rounds: int, threads: int | None) -> list[float]:
    from skinlesion.serving.config import Settings
    from skinlesion.serving.handler import Service, handle

    service = Service(Settings(model_path=model, num_threads=threads))
    timings = []
    # Each request's JSON log line is written, as in Lambda, but not onto this table.
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        for event in events[:WARMUP]:
            handle(event, None, service)
        for i in range(rounds):
            event = events[i % len(events)]
            started = time.perf_counter()
            answer = handle(event, None, service)
            timings.append((time.perf_counter() - started) * 1000)
            assert "prediction" in answer, answer
    return timings


def cold_start(model: Path, events: list[dict], runs: int) -> tuple[list[float], int]:
    env = {**os.environ, "MODEL_PATH": str(model)}
    payload = json.dumps(events)
    starts, peak_kb = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD],
            cwd=REPO_ROOT,  # the entry point, lambda_function.py, is imported from there
            env=env,
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        child.stdin.write(payload)
        child.stdin.close()
        first = child.stdout.readline()
        while first.startswith("{"):  # the handler's JSON log lines share stdout
            first = child.stdout.readline()
        starts.append((time.perf_counter() - started) * 1000)
        assert first.startswith("FIRST"), first
        for line in child.stdout:
            if line.startswith("RSS_KB"):
                peak_kb = max(peak_kb, int(line.split()[1]))
        child.wait(timeout=120)
    return starts, peak_kb


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_PATH, help="the .tflite (card beside it)")
    parser.add_argument(
        "--images",
        type=Path,
        default=DEFAULT_IMAGES,
        help="folder of JPEGs (default: the 124 full-size 600x450 HAM10000 images beside the repo)",
    )
    parser.add_argument("--rounds", type=int, default=300, help="warm requests timed (default: 300)")
    parser.add_argument("--cold-runs", type=int, default=5, help="fresh processes timed (default: 5)")
    parser.add_argument(
        "--rss-requests",
        type=int,
        default=50,
        help="requests each fresh process answers before its peak RSS is read (default: 50)",
    )
    args = parser.parse_args()

    files = sorted(args.images.glob("*.jpg"))
    if not files:
        sys.exit(f"no JPEGs in {args.images}")
    events = [image_event(path.read_bytes()) for path in files]
    print(f"model {args.model.name}, {len(files)} images from {args.images}, {os.cpu_count()} CPUs")

    rows = []
    for threads in (1, None):
        stats = summarise(warm_latency(args.model, events, args.rounds, threads))
        label = "1 thread" if threads == 1 else "all cores"
        rows.append((f"warm handler, {label}", stats["median"], stats["p95"]))
    explained = [{**event, "explain": True} for event in events]  # + the activation map's PNG overlay
    stats = summarise(warm_latency(args.model, explained, args.rounds, 1))
    rows.append(("warm handler + explain, 1 th", stats["median"], stats["p95"]))
    starts, peak_kb = cold_start(args.model, events[: args.rss_requests], args.cold_runs)

    print(f"{'measure':<28}{'median':>10}{'p95':>10}")
    for name, median, p95 in rows:
        print(f"{name:<28}{median:>8.1f}ms{p95:>8.1f}ms")
    print(f"{'cold start (to 1st answer)':<28}{statistics.median(starts):>8.0f}ms{max(starts):>8.0f}ms (max)")
    print(f"{'peak RSS':<28}{peak_kb / 1024:>8.0f}MB  after {args.rss_requests} requests")


if __name__ == "__main__":
    main()
