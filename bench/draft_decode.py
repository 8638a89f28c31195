"""What decoding JPEGs at a reduced scale (libjpeg's DCT scaling, `decode_image(min_size=...)`)
saves in decode time and costs in predictions.

Why: the service resizes every photo to the model's input size, so decoding a 600x450 photo at
half scale skips work whose result is mostly thrown away; this measures how much the model
notices. Each JPEG is decoded both ways (full, and drafted to the model's input size) and both
images go through the served path (`Service.classify`, one thread). Prints figures; asserts none.

  python -m bench.draft_decode [--images DIR] [--model PATH] [--repeats N]
"""

import argparse
import functools
import statistics
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from skinlesion.image.decode import decode_image
from skinlesion.paths import DEFAULT_MODEL_PATH, SHARED_DATA_DIR
from skinlesion.serving.config import Settings
from skinlesion.serving.handler import Service

DEFAULT_IMAGES = SHARED_DATA_DIR / "ham10000-fullres" / "images"
Probabilities = dict[str, float]


def summarize(full: list[Probabilities], drafted: list[Probabilities]) -> dict[str, float]:
    """Top-1 agreement, and the largest class-probability change per image: its max and median
    over the images (a median over every class would be swamped by the near-zero ones)."""
    if len(full) != len(drafted) or not full:
        raise ValueError(f"need the same non-zero number of answers, got {len(full)} and {len(drafted)}")
    differ = sum(
        max(a, key=a.__getitem__) != max(b, key=b.__getitem__) for a, b in zip(full, drafted, strict=True)
    )
    changes = [max(abs(a[code] - b[code]) for code in a) for a, b in zip(full, drafted, strict=True)]
    return {
        "images": len(full),
        "top1_differ": differ,
        "top1_agreement": 1 - differ / len(full),
        "max_abs_diff": max(changes),
        "median_abs_diff": statistics.median(changes),
    }


def median_ms(repeats: int, first: Callable[[], Any], *then: Callable[[Any], Any]) -> float:
    """Median milliseconds of `first()` with each of `then` applied to the result in turn."""
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        value = first()
        for stage in then:
            value = stage(value)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def describe_sizes(images: list[Image.Image]) -> str:
    return ", ".join(f"{w}x{h} ({n})" for (w, h), n in Counter(img.size for img in images).most_common())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--images",
        type=Path,
        default=DEFAULT_IMAGES,
        help=f"folder of JPEGs (*.jpg, *.jpeg) to decode both ways (default: {DEFAULT_IMAGES})",
    )
    parser.add_argument(
        "--model",
        type=Path,
        default=DEFAULT_MODEL_PATH,
        help="the .tflite, its card .json beside it; the card's input size is the draft target "
        f"(default: {DEFAULT_MODEL_PATH})",
    )
    parser.add_argument(
        "--repeats", type=int, default=5, help="decodes timed per file and way, for the median (default: 5)"
    )
    args = parser.parse_args()

    paths = sorted(p for p in args.images.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))
    if not paths:
        parser.error(f"no JPEGs in {args.images}")
    service = Service(Settings(model_path=args.model, num_threads=1))
    input_size = service.preprocessor.spec.input_size
    full_images, drafted_images = [], []
    ms: dict[str, list[float]] = {"full": [], "drafted": [], "full+resize": [], "drafted+resize": []}
    for path in paths:
        data = path.read_bytes()
        full_images.append(decode_image(data))
        decode_size = service.preprocessor.spec.decode_size
        drafted_images.append(decode_image(data, min_size=decode_size))
        for way, min_size in (("full", None), ("drafted", decode_size)):
            decode = functools.partial(decode_image, data, min_size=min_size)
            ms[way].append(median_ms(args.repeats, decode))
            ms[f"{way}+resize"].append(median_ms(args.repeats, decode, service.preprocessor.resize_image))
    full = [service.classify(img, None)["probabilities"] for img in full_images]
    drafted = [service.classify(img, None)["probabilities"] for img in drafted_images]
    figures = summarize(full, drafted)

    width, height = input_size
    median = {way: statistics.median(timings) for way, timings in ms.items()}
    rows = {
        "model": f"{args.model.name}, input {width}x{height}, one thread",
        "images": f"{len(paths)} JPEGs in {args.images}",
        "decoded size, full": describe_sizes(full_images),
        "decoded size, drafted": describe_sizes(drafted_images),
        "decode ms, full": f"{median['full']:.2f} (median)",
        "decode ms, drafted": f"{median['drafted']:.2f} ({median['drafted'] / median['full']:.0%} of full)",
        "+ resize ms, full": f"{median['full+resize']:.2f}",
        "+ resize ms, drafted": (
            f"{median['drafted+resize']:.2f} ({median['drafted+resize'] / median['full+resize']:.0%} of full)"
        ),
        "top-1 agreement": f"{figures['top1_agreement']:.1%} ({figures['top1_differ']} differ)",
        "max |prob diff|": f"{figures['max_abs_diff']:.4f} (worst image's largest class change)",
        "median |prob diff|": f"{figures['median_abs_diff']:.4f} (of each image's largest class change)",
    }
    for label, value in rows.items():
        print(f"{label:<24}{value}")


if __name__ == "__main__":
    main()
