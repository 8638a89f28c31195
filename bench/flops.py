"""The physical floor of inference: the network's FLOPs over what one core can do per second.

FLOPs are counted from the TFLite graph itself (2 per multiply-add of the convolutions and
matrix products, batch 1; elementwise ops, pooling and bias adds are left out, as in the
literature's MobileNetV2 figure of ~300 M multiply-adds at 224x224). The rate is the best
single-thread float32 GFLOP/s of numpy's BLAS on square matrix products, the operation such
networks reduce to. Their ratio is the one-thread latency of a runtime that ran every op as fast
as BLAS runs a large matmul (not a strict bound: depthwise and 1x1 convolutions at small sizes
run slower, a better-tuned kernel could run faster); the measured invoke time beside it says
how far the runtime is from that floor.

  python -m bench.flops [--model models/skin-lesion-class_v3.tflite] [--seconds 2] [--invokes 50]
"""

import argparse
import math
import time
from collections import Counter
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from skinlesion.inference import INVOKE_WARMUP, median_invoke_ms
from skinlesion.paths import DEFAULT_MODEL_PATH

TOTAL = "total"


def _ops(content: bytes) -> list[tuple[str, list[tuple[int, ...]], list[tuple[int, ...]]]]:
    """(op name, input shapes, output shapes) of every op, shapes as allocated (batch 1 when the
    batch is dynamic). No delegate is applied, so each op is listed once, never also inside a
    DELEGATE node; an absent optional input (index -1, e.g. no bias) has shape ()."""
    interpreter = Interpreter(
        model_content=content,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    interpreter.allocate_tensors()
    shapes = {d["index"]: tuple(int(n) for n in d["shape"]) for d in interpreter.get_tensor_details()}
    return [
        (
            op["op_name"],
            [shapes.get(int(i), ()) for i in op["inputs"]],
            [shapes.get(int(i), ()) for i in op["outputs"]],
        )
        for op in interpreter._get_ops_details()
    ]


def _macs(name: str, inputs: list[tuple[int, ...]], output: tuple[int, ...]) -> int | None:
    """Multiply-adds of one op, or None for an op that does none worth counting.

    Each is (output elements) x (products summed into one of them): CONV_2D's filter is
    [out_c, k_h, k_w, in_c/groups], DEPTHWISE_CONV_2D's [1, k_h, k_w, out_c], FULLY_CONNECTED's
    weights [out, in] (any leading rows of the input are in the output), BATCH_MATMUL's output
    [..., M, N] with K the other dimension of the left operand (adj_x transposes it; K = M
    whichever way when both match M).
    """
    elements = math.prod(output)
    if name == "CONV_2D":
        return elements * math.prod(inputs[1][1:])
    if name == "DEPTHWISE_CONV_2D":
        return elements * inputs[1][1] * inputs[1][2]
    if name == "FULLY_CONNECTED":
        return elements * inputs[1][1]
    if name == "BATCH_MATMUL":
        rows, cols = inputs[0][-2:]
        return elements * (cols if rows == output[-2] else rows)
    return None


def tflite_flops(content: bytes) -> dict[str, int]:
    """FLOPs (2 x multiply-adds) of a .tflite at batch 1, per op type and under "total"."""
    flops: Counter[str] = Counter()
    for name, inputs, outputs in _ops(content):
        macs = _macs(name, inputs, outputs[0])
        if macs is not None:
            flops[name] += 2 * macs
    return {**flops, TOTAL: sum(flops.values())}


def other_op_elements(content: bytes) -> dict[str, int]:
    """Output elements of the ops `tflite_flops` leaves out (adds, pads, pooling...), per op type:
    memory traffic rather than arithmetic, for context."""
    elements: Counter[str] = Counter()
    for name, inputs, outputs in _ops(content):
        if _macs(name, inputs, outputs[0]) is None:
            elements[name] += sum(math.prod(shape) for shape in outputs)
    return dict(elements)


def blas_info() -> str:
    """Which BLAS numpy calls, and for which CPU it was tuned, e.g. 'openblas 0.3.31 (SkylakeX)'."""
    from threadpoolctl import threadpool_info

    found = [
        f"{lib['internal_api']} {lib['version']} ({lib.get('architecture') or lib['prefix']})"
        for lib in threadpool_info()
        if lib["user_api"] == "blas"
    ]
    return ", ".join(found) or "no BLAS found by threadpoolctl"


def single_core_gflops(seconds: float = 2.0, n: int = 512) -> float:
    """Best GFLOP/s of float32 n x n @ n x n products on one BLAS thread, over `seconds`.

    threadpoolctl limits the already loaded BLAS (the *_NUM_THREADS variables only act before
    numpy is imported). Best rather than median: the floor is the core at its fastest, and on
    a shared machine the slower rounds measure the neighbours.
    """
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    out = np.empty((n, n), dtype=np.float32)
    flops_per_product = 2 * n**3
    best = 0.0
    with threadpool_limits(limits=1, user_api="blas"):
        np.matmul(a, b, out=out)  # warm-up: first touch of the pages, BLAS buffers
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            for _ in range(5):
                np.matmul(a, b, out=out)
            best = max(best, 5 * flops_per_product / (time.perf_counter() - start) / 1e9)
    return best


def floor_ms(flops: int, gflops: float) -> float:
    """The time `flops` take at `gflops` GFLOP/s, in milliseconds."""
    return flops / (gflops * 1e9) * 1e3


def invoke_ms(content: bytes, invokes: int = 50) -> float:
    """Median one-thread invoke time, with the default (XNNPACK) delegate as served, on zeros."""
    interpreter = Interpreter(model_content=content, num_threads=1)
    interpreter.allocate_tensors()
    for inp in interpreter.get_input_details():
        interpreter.set_tensor(inp["index"], np.zeros(inp["shape"], dtype=inp["dtype"]))
    return median_invoke_ms(interpreter, invokes)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", type=Path, default=DEFAULT_MODEL_PATH, help=f"the .tflite (default: {DEFAULT_MODEL_PATH})"
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=2.0,
        help="how long to time the single-thread matrix products (default: 2)",
    )
    parser.add_argument(
        "--size", type=int, default=512, help="n of the float32 n x n @ n x n products timed (default: 512)"
    )
    parser.add_argument(
        "--invokes",
        type=int,
        default=50,
        help=f"one-thread invokes timed after {INVOKE_WARMUP} of warm-up, for the median (default: 50)",
    )
    args = parser.parse_args()

    content = args.model.read_bytes()
    flops = tflite_flops(content)
    total = flops.pop(TOTAL)
    shape = "x".join(str(n) for n in Interpreter(model_content=content).get_input_details()[0]["shape"])
    print(f"model {args.model.name}, input {shape}")
    print(f"{'FLOPs per image (2 x MACs)':<28}{total / 1e9:>10.3f} GFLOPs ({total / 2e6:.1f} M MACs)")
    for name, count in sorted(flops.items(), key=lambda item: -item[1]):
        print(f"  {name:<26}{count / 1e6:>10.1f} MFLOPs ({count / total:.1%})")
    other = other_op_elements(content)
    print(f"{'other ops, output elements':<28}{sum(other.values()) / 1e6:>10.2f} M (not counted)")

    gflops = single_core_gflops(args.seconds, args.size)
    floor = floor_ms(total, gflops)
    print(f"{'single-core float32 rate':<28}{gflops:>10.1f} GFLOP/s (best, {args.size}^3 matmul)")
    print(f"{'BLAS':<28}{blas_info()}")
    print(f"{'floor = FLOPs / rate':<28}{floor:>10.2f} ms")
    invoke = invoke_ms(content, args.invokes)
    print(f"{'invoke, 1 thread (median)':<28}{invoke:>10.2f} ms ({args.invokes} invokes)")
    print(f"{'invoke / floor':<28}{invoke / floor:>10.2f}x")


if __name__ == "__main__":
    main()
