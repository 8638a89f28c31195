"""Serving benchmark: where the milliseconds go, warm handler latency, cold start and peak memory,
on real full-size images.

Prints figures, never asserts them: these machines are shared and noisy. The latency figures
are for the whole handler (base64 JSON event in, response dict out), as Lambda runs it; the
breakdown times each stage of that path on the same functions, beside the network's floor
(its FLOPs over this core's measured rate).

  python -m bench.serving [--model models/skin-lesion-class_v3.tflite] [--images DIR]
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
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from skinlesion.paths import DEFAULT_MODEL_PATH, REPO_ROOT, SHARED_DATA_DIR

DEFAULT_IMAGES = SHARED_DATA_DIR / "ham10000-fullres" / "images"
WARMUP = 5  # requests answered before timing starts (bench/compare.py reports this figure)

FIRST_MARK = "FIRST"
RESULT_PREFIX = "RESULT "

# Runs in a fresh interpreter (inside a cgroup for bench/lambda_sizing.py): import the entry
# point (which loads the model), answer the first event (the parent times the start to here), then
# the warm-up and the timed events; one RESULT line carries the timings and the peak RSS. The
# handler's JSON log lines share stdout.
CHILD = f"""
import json, sys, time
job = json.loads(sys.stdin.read())
import lambda_function

def answer(event):
    started = time.perf_counter()
    reply = lambda_function.lambda_handler(event, None)
    elapsed = (time.perf_counter() - started) * 1000
    if "prediction" not in reply:
        sys.exit(f"the handler did not predict: {{reply}}")
    return elapsed

events = job["events"]
answer(events[0])
print({FIRST_MARK!r}, flush=True)
for i in range(job["warmup"]):
    answer(events[i % len(events)])
timings = [answer(events[i % len(events)]) for i in range(job["rounds"])]
from bench.serving import peak_rss_kb
cgroup = open("/proc/self/cgroup").read()
result = {{"timings_ms": timings, "peak_rss_kb": peak_rss_kb(), "cgroup": cgroup}}
print({RESULT_PREFIX!r} + json.dumps(result), flush=True)
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


def breakdown(model: Path, events: list[dict], rounds: int) -> dict[str, float]:
    """Median ms of each stage of one image's path on one thread, in the handler's order, on the
    handler's own functions; "rest" is the whole `handle` call (timed in the same round) minus
    the stages: answer building, logging and the response."""
    from skinlesion.serving.config import Settings
    from skinlesion.serving.events import parse_payload
    from skinlesion.serving.handler import Service, handle

    service = Service(Settings(model_path=model, num_threads=1))
    timings: dict[str, list[float]] = defaultdict(list)
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        for i in range(WARMUP + rounds):
            event = events[i % len(events)]
            t0 = time.perf_counter()
            request = parse_payload(event, service.settings)
            t1 = time.perf_counter()
            image = service.image_for(request.items[0], deadline=time.monotonic() + 60)
            t2 = time.perf_counter()
            pixels = service.preprocessor.resized_array(image)
            t3 = time.perf_counter()
            service.model.predict_outputs(pixels[None])
            t4 = time.perf_counter()
            service.preprocessor.preprocess(pixels)  # what serving no longer does: for scale
            t5 = time.perf_counter()
            handle(event, None, service)
            t6 = time.perf_counter()
            if i < WARMUP:
                continue
            stages = {
                "base64 + event parsing": t1 - t0,
                "JPEG decode (>= 2x input), orientation, RGB": t2 - t1,
                "resize to the model input (uint8)": t3 - t2,
                "TFLite: set input, invoke, read outputs": t4 - t3,
            }
            for name, seconds in stages.items():
                timings[name].append(seconds * 1000)
            timings["rest: answer, log line, response"].append((t6 - t5 - sum(stages.values())) * 1000)
            timings["whole handler"].append((t6 - t5) * 1000)
            timings["(float scaling in numpy, now in the graph)"].append((t5 - t4) * 1000)
    return {name: statistics.median(values) for name, values in timings.items()}


def batch_figures(model: Path, events: list[dict], size: int, rounds: int) -> dict[str, float]:
    """Per-image ms of a batch request through the handler, and of one interpreter invoke over
    the whole batch (the lever measured against one invoke per image), both on one thread."""
    from ai_edge_litert.interpreter import Interpreter

    from skinlesion.inference import median_invoke_ms
    from skinlesion.serving.config import Settings
    from skinlesion.serving.handler import Service, handle

    service = Service(Settings(model_path=model, num_threads=1))
    event = {"instances": [events[i % len(events)] for i in range(size)]}
    seconds = []
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        for _ in range(WARMUP + rounds):
            started = time.perf_counter()
            handle(event, None, service)
            seconds.append(time.perf_counter() - started)
    interpreter = Interpreter(model_path=str(model), num_threads=1)
    tensor = interpreter.get_input_details()[0]
    invokes = {}
    for n in (1, size):
        interpreter.resize_tensor_input(tensor["index"], [n, *tensor["shape"][1:]])
        interpreter.allocate_tensors()
        interpreter.set_tensor(tensor["index"], np.zeros((n, *tensor["shape"][1:]), tensor["dtype"]))
        invokes[n] = median_invoke_ms(interpreter, max(3, rounds // n)) / n
    return {
        "handler ms per image": statistics.median(seconds[WARMUP:]) * 1000 / size,
        "invoke ms per image, one invoke per image": invokes[1],
        f"invoke ms per image, one invoke of {size}": invokes[size],
    }


def print_breakdown(model: Path, events: list[dict], rounds: int, batch_size: int) -> None:
    from bench.flops import floor_ms, single_core_gflops, tflite_flops

    stages = breakdown(model, events, rounds)
    flops = tflite_flops(model.read_bytes())["total"]
    rate = single_core_gflops()
    print(f"\none image, 1 thread, median of {rounds}:")
    for name, ms in stages.items():
        print(f"  {name:<44}{ms:>7.2f} ms")
    print(
        f"  {'floor: network FLOPs / one core':<44}{floor_ms(flops, rate):>7.2f} ms "
        f"({flops / 1e9:.3f} GFLOPs at {rate:.0f} GFLOP/s measured)"
    )
    print(f"batch of {batch_size}, 1 thread:")
    for name, ms in batch_figures(model, events, batch_size, rounds).items():
        print(f"  {name:<44}{ms:>7.2f} ms")


def parse_result(lines: Iterable[str]) -> dict[str, Any]:
    """The child's RESULT line, among the handler's JSON log lines on the same stdout."""
    for line in lines:
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    raise ValueError(f"no line starting {RESULT_PREFIX!r} in the child's output")


def run_child(group: Path | None, env: dict[str, str], job: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """Start a serving process (inside `group`, a cgroup, if given: a shell puts itself there, then
    becomes Python) and return the ms from before it started to its first answer, and its RESULT."""
    command = [sys.executable, "-c", CHILD]
    if group is not None:
        join_group = 'echo $$ > "$1" && shift && exec "$@"'
        command = ["sh", "-c", join_group, "sh", str(group / "cgroup.procs"), *command]
    with tempfile.TemporaryFile("w+") as stderr:
        started = time.perf_counter()
        child = subprocess.Popen(
            command,
            cwd=REPO_ROOT,  # the entry point, lambda_function.py, is imported from there
            env=env,
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
        try:
            try:
                child.stdin.write(json.dumps(job))
                child.stdin.close()
            except BrokenPipeError:
                pass  # it died before reading its job: its stderr, shown below, says why
            first_ms, lines = None, []
            for line in child.stdout:
                if first_ms is None and line.rstrip("\n") == FIRST_MARK:
                    first_ms = (time.perf_counter() - started) * 1000
                lines.append(line)
            code = child.wait()
        except BaseException:
            child.kill()
            child.wait()
            raise
        if first_ms is None or code != 0:
            stderr.seek(0)
            output = "".join(lines[-5:]) + stderr.read()  # the handler logs its errors on stdout
            raise RuntimeError(f"the measured child failed (exit {code}):\n{output[-4000:]}")
    return first_ms, parse_result(lines)


def cold_start(model: Path, events: list[dict], runs: int) -> tuple[list[float], int]:
    """ms from process start to the first answer in `runs` fresh serving processes, and the
    highest peak RSS (KB) among them after each answered every event once."""
    env = {**os.environ, "MODEL_PATH": str(model)}
    job = {"events": events, "warmup": 0, "rounds": len(events) - 1}
    children = [run_child(None, env, job) for _ in range(runs)]
    return [first_ms for first_ms, _ in children], max(result["peak_rss_kb"] for _, result in children)


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
    parser.add_argument(
        "--batch-size", type=int, default=16, help="images per batch request in the breakdown (default: 16)"
    )
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

    print_breakdown(args.model, events, args.rounds, args.batch_size)
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
