"""Lambda sizing: warm latency, cold start and cost per million predictions at each memory size.

Why: Lambda gives a function CPU in proportion to its memory (1,769 MB is one full vCPU), so the
memory setting decides both the latency and the price of a prediction. This measures the real
handler at each size with the CPU share Lambda would give it: every measured process runs in its
own cgroup whose CFS quota is that share (cgroup v1 `cpu.cfs_quota_us`, or v2 `cpu.max`), with
TFLite given min(2, ceil(share)) threads. Needs root and a writable cgroup cpu controller.

Per size: cold start is a fresh process timed from before it starts to its first answer from
`lambda_function.lambda_handler`; warm latency is one process answering the full-size JPEGs,
each call timed inside it. Not modelled: Lambda's sandbox creation and image pull before the
init phase, its memory limit (peak RSS is shown beside the size instead) and the init time it
bills. Cost is for warm invocations: duration rounded up to the ms, plus the request charge.
Prints figures, never asserts them: these machines are shared and noisy.

  python -m bench.lambda_sizing [--memory 512 1024 1769 3008] [--rounds 100] [--out bench/results]
"""

import argparse
import contextlib
import json
import math
import os
import statistics
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.serving import DEFAULT_IMAGES, WARMUP, image_event, run_child, summarise
from skinlesion.paths import DEFAULT_MODEL_PATH, REPO_ROOT

MB_PER_VCPU = 1769  # AWS Lambda docs: "At 1,769 MB, a function has the equivalent of one vCPU"
LAMBDA_MEMORY_MB = (128, 10_240)  # the sizes Lambda accepts
# TFLite threads cap: up to 3,008 MB (1.7 vCPU) Lambda spreads the share over 2 cores.
MAX_THREADS = 2
CFS_PERIOD_US = 100_000  # the kernel's default CFS period
CGROUP_ROOT = Path("/sys/fs/cgroup")

# AWS Lambda pricing page, us-east-1, x86; as published since Dec 2020, figures used 2026-11-30.
PRICE_PER_GB_SECOND = 0.0000166667  # USD; duration billed per 1 ms, rounded up
PRICE_PER_MILLION_REQUESTS = 0.20  # USD

# Environment variables the service reads (skinlesion/serving/config.py, Settings.from_env).
MODEL_ENV = "MODEL_PATH"
THREADS_ENV = "TFLITE_NUM_THREADS"


class CgroupUnavailable(RuntimeError):
    """No cgroup here can limit a process's CPU share, so no figure would mean what it says."""


def vcpu_share(memory_mb: int) -> float:
    """The vCPUs Lambda gives a function of this size: proportional, one at 1,769 MB."""
    low, high = LAMBDA_MEMORY_MB
    if not low <= memory_mb <= high:
        raise ValueError(f"Lambda memory is {low} to {high} MB, got {memory_mb}")
    return memory_mb / MB_PER_VCPU


def tflite_threads(share: float) -> int:
    """More interpreter threads than the share's cores only contend for the same quota."""
    return min(MAX_THREADS, math.ceil(share))


def cfs_quota_us(share: float, period_us: int = CFS_PERIOD_US) -> int:
    """CPU time per CFS period that a share of vCPUs allows."""
    return round(share * period_us)


def cost_per_million(duration_ms: float, memory_mb: int) -> float:
    """USD for a million invocations of this duration: GB-seconds billed per whole ms, plus requests."""
    gb_seconds = math.ceil(duration_ms) / 1000 * memory_mb / 1024
    return 1e6 * gb_seconds * PRICE_PER_GB_SECOND + PRICE_PER_MILLION_REQUESTS


@dataclass(frozen=True)
class CgroupLayout:
    """Where child groups go and which files limit them, for cgroup v1 or v2."""

    version: int
    parent: Path  # child groups are created here

    def limit_files(self, quota_us: int, period_us: int) -> dict[str, str]:
        """File name -> content that caps a group at quota_us per period_us; period first (v1)."""
        if self.version == 2:
            return {"cpu.max": f"{quota_us} {period_us}"}
        return {"cpu.cfs_period_us": str(period_us), "cpu.cfs_quota_us": str(quota_us)}


HOW_LIMITED = (
    "The CPU share is limited as Lambda limits it, with a CFS quota on a child cgroup: cgroup v1 needs "
    "a writable cpu controller at {root}/cpu (cpu.cfs_quota_us), cgroup v2 needs 'cpu' listed in "
    "{root}/cgroup.controllers; creating the group needs root."
)


def cgroup_layout(root: Path = CGROUP_ROOT) -> CgroupLayout:
    """v2 if the unified hierarchy is mounted at root with the cpu controller, else v1's cpu controller."""
    controllers = root / "cgroup.controllers"
    if controllers.is_file():
        if "cpu" in controllers.read_text().split():
            return CgroupLayout(2, root)
        missing = f"{controllers} does not list cpu"
    elif (root / "cpu" / "cpu.cfs_quota_us").is_file():
        return CgroupLayout(1, root / "cpu")
    else:
        missing = f"neither {controllers} nor {root / 'cpu' / 'cpu.cfs_quota_us'} exists"
    raise CgroupUnavailable(f"{HOW_LIMITED.format(root=root)} Missing: {missing}.")


def _enable_cpu_controller(layout: CgroupLayout) -> None:
    """v2 only: a child group has a cpu.max only if its parent hands the controller down."""
    subtree = layout.parent / "cgroup.subtree_control"
    if layout.version == 2 and "cpu" not in subtree.read_text().split():
        subtree.write_text("+cpu")


@contextlib.contextmanager
def cpu_limited_group(
    share: float, root: Path = CGROUP_ROOT, name: str | None = None, period_us: int = CFS_PERIOD_US
) -> Iterator[Path]:
    """A new cgroup capped at `share` vCPUs, removed afterwards even on error: its processes
    must have exited by then (the kernel refuses to remove a group that still has any)."""
    layout = cgroup_layout(root)
    group = layout.parent / (name or f"skinlesion-bench-{os.getpid()}")
    try:
        _enable_cpu_controller(layout)
        group.mkdir()
    except OSError as error:
        raise CgroupUnavailable(
            f"{HOW_LIMITED.format(root=root)} Could not create {group}: {error}"
        ) from error
    try:
        try:
            for file, content in layout.limit_files(cfs_quota_us(share, period_us), period_us).items():
                (group / file).write_text(content)
        except OSError as error:
            raise CgroupUnavailable(
                f"{HOW_LIMITED.format(root=root)} Could not limit {group}: {error}"
            ) from error
        yield group
    finally:
        group.rmdir()


def read_cpu_stat(group: Path) -> dict[str, int]:
    """The group's throttling counters: nr_throttled > 0 shows the quota actually bit."""
    lines = (line.split() for line in (group / "cpu.stat").read_text().splitlines())
    return {fields[0]: int(fields[1]) for fields in lines if len(fields) == 2}


def measure_size(
    memory_mb: int, model: Path, events: list[dict], rounds: int, cold_runs: int
) -> dict[str, Any]:
    """One memory size's row: cold starts, then one warm process, all inside one limited group."""
    share = vcpu_share(memory_mb)
    threads = tflite_threads(share)
    env = {**os.environ, MODEL_ENV: str(model.resolve()), THREADS_ENV: str(threads)}  # cwd: REPO_ROOT
    with cpu_limited_group(share) as group:
        cold = [
            run_child(group, env, {"events": events[:1], "warmup": 0, "rounds": 0})[0]
            for _ in range(cold_runs)
        ]
        _, result = run_child(group, env, {"events": events, "warmup": WARMUP, "rounds": rounds})
        if group.name not in result["cgroup"]:
            raise RuntimeError(f"the child ran outside {group}: {result['cgroup']}")
        cpu_stat = read_cpu_stat(group)
    warm = summarise(result["timings_ms"])
    return {
        "memory_mb": memory_mb,
        "vcpu_share": share,
        "threads": threads,
        "cfs_quota_us": cfs_quota_us(share),
        "warm_ms": warm,
        "cold_start_ms": {"median": statistics.median(cold), "runs": cold} if cold else None,
        "peak_rss_mb": result["peak_rss_kb"] / 1024,
        "cost_per_million_usd": {  # a steady stream is billed the mean: throttled requests count too
            "median": cost_per_million(warm["median"], memory_mb),
            "mean": cost_per_million(warm["mean"], memory_mb),
        },
        "cpu_stat": cpu_stat,
    }


def render_markdown(report: dict[str, Any]) -> str:
    """The table the sizing decision is made from, with what was measured and how above it."""
    lines = [
        "# Lambda sizing",
        "",
        f"Model `{report['model']}`, {report['images']} full-size JPEGs; per size {report['rounds']} warm "
        f"requests timed after {report['warmup']} warm-up, and {report['cold_runs']} cold start(s). CPU "
        f"share as a CFS quota (cgroup v{report['cgroup_version']}, period {report['cfs_period_us']} us) on"
        f" a {report['cpu_count']}-CPU machine. Prices (AWS Lambda, us-east-1, x86): USD "
        f"{PRICE_PER_GB_SECOND:.10f} per GB-s, {PRICE_PER_MILLION_REQUESTS:.2f} per 1M requests.",
        "",
        "| memory MB | vCPU share | threads | warm median / mean / p95 ms | cold start median ms "
        "| peak RSS MB (child holding all test events) | cost per 1M predictions (USD) at median | at mean |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in report["sizes"]:
        warm, cost, cold = row["warm_ms"], row["cost_per_million_usd"], row["cold_start_ms"]
        cells = [
            str(row["memory_mb"]),
            f"{row['vcpu_share']:.2f}",
            str(row["threads"]),
            f"{warm['median']:.1f} / {warm['mean']:.1f} / {warm['p95']:.1f}",
            "-" if cold is None else f"{cold['median']:.0f}",
            f"{row['peak_rss_mb']:.0f}",
            f"{cost['median']:.2f}",
            f"{cost['mean']:.2f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    option = p.add_argument
    option(
        "--model",
        type=Path,
        default=DEFAULT_MODEL_PATH,
        help="the .tflite served, its card .json beside it (default: models/skin-lesion-class_v3.tflite)",
    )
    option(
        "--images",
        type=Path,
        default=DEFAULT_IMAGES,
        help="folder of JPEGs (default: the 124 full-size 600x450 HAM10000 images beside the repo)",
    )
    option(
        "--memory",
        type=int,
        nargs="+",
        default=[512, 1024, 1769, 3008],
        help="Lambda memory sizes in MB, 128 to 10240 (default: 512 1024 1769 3008)",
    )
    option("--rounds", type=int, default=100, help="warm requests timed per size (default: 100)")
    option(
        "--cold-runs", type=int, default=3, help="fresh processes timed to first answer per size (default: 3)"
    )
    option(
        "--out",
        type=Path,
        default=REPO_ROOT / "bench" / "results",
        help="folder for lambda_sizing.md and lambda_sizing.json (default: bench/results)",
    )
    args = p.parse_args(argv)
    for memory_mb in args.memory:
        try:
            vcpu_share(memory_mb)
        except ValueError as error:
            p.error(str(error))
    if args.rounds < 1 or args.cold_runs < 0:
        p.error("--rounds must be at least 1 and --cold-runs at least 0")
    return args


def main() -> None:
    args = parse_args()
    files = sorted(args.images.glob("*.jpg"))
    if not files:
        sys.exit(f"no JPEGs in {args.images}")
    try:
        layout = cgroup_layout()
    except CgroupUnavailable as error:
        sys.exit(str(error))
    events = [image_event(path.read_bytes()) for path in files]
    cpus = os.cpu_count() or 1
    print(f"model {args.model.name}, {len(files)} images, {cpus} CPUs, cgroup v{layout.version}")
    sizes = []
    for memory_mb in args.memory:
        share = vcpu_share(memory_mb)
        if share > cpus:
            print(f"note: {memory_mb} MB is {share:.2f} vCPUs, more than this machine's {cpus}")
        print(f"{memory_mb} MB: {share:.2f} vCPU, {tflite_threads(share)} thread(s) ...", flush=True)
        try:
            sizes.append(measure_size(memory_mb, args.model, events, args.rounds, args.cold_runs))
        except CgroupUnavailable as error:
            sys.exit(str(error))
    report = {
        "model": args.model.name,
        "images": len(files),
        "rounds": args.rounds,
        "warmup": WARMUP,
        "cold_runs": args.cold_runs,
        "cpu_count": cpus,
        "cgroup_version": layout.version,
        "cfs_period_us": CFS_PERIOD_US,
        "prices_usd": {
            "per_gb_second": PRICE_PER_GB_SECOND,
            "per_million_requests": PRICE_PER_MILLION_REQUESTS,
        },
        "sizes": sizes,
    }
    table = render_markdown(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "lambda_sizing.md").write_text(table)
    (args.out / "lambda_sizing.json").write_text(json.dumps(report, indent=2) + "\n")
    print(table)
    print(f"written: {args.out}/lambda_sizing.md, lambda_sizing.json")


if __name__ == "__main__":
    main()
