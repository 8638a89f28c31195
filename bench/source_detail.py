"""Whether a sharp full-size photo gets the answer its 200x150 training copy gets, with and without
the reduction to the card's `source_size` (`PreprocessSpec.reduces`).

Why: the model learnt from HAM10000 copies downscaled to 200x150; a clinic sends the 600x450
original, which, resized straight to the input size, carries about three times the detail the
model ever saw. The 124 full-size HAM10000 images have their copies in the training folder, so
each image can go through the served path (`Service.classify`, one thread) three ways: the copy,
the original reduced to the source size first (as served), and the original resized directly.
Agreement with the copy says how far the validated figures carry over to full-size photos; the
out-of-distribution flag says whether the photo still looks like the images the model knows. With
a `source_jpeg_quality` in the card, a row shows the reduction without the JPEG step. Two
more rows give the yardstick: the copy re-encoded once more, and blurred by half a pixel.
Prints figures; asserts none.

  python -m bench.source_detail [--full DIR] [--copies DIR] [--model PATH] [--source-size WxH]
                              [--source-jpeg-quality Q]
"""

import argparse
import io
import statistics
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from bench.draft_decode import summarize
from skinlesion.image.decode import decode_image
from skinlesion.image.preprocessing import RESAMPLING, Preprocessor, parse_size
from skinlesion.paths import DEFAULT_MODEL_PATH, SHARED_DATA_DIR
from skinlesion.serving.config import Settings
from skinlesion.serving.handler import Service

DEFAULT_FULL = SHARED_DATA_DIR / "ham10000-fullres" / "images"
DEFAULT_COPIES = SHARED_DATA_DIR / "ham10000" / "images"


def resize_ms(preprocessor: Preprocessor, images: list[Image.Image], repeats: int = 5) -> float:
    """Median milliseconds of the resize to the model's input, over images and repeats."""
    timings = []
    for image in images:
        for _ in range(repeats):
            started = time.perf_counter()
            preprocessor.resized_array(image)
            timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def reencoded(image: Image.Image, quality: int) -> Image.Image:
    """The image through one more JPEG encode and decode: a change a clinician would call the same image."""
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return Image.open(buffer).convert("RGB")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--full", type=Path, default=DEFAULT_FULL, help=f"full-size JPEGs (default: {DEFAULT_FULL})"
    )
    parser.add_argument(
        "--copies",
        type=Path,
        default=DEFAULT_COPIES,
        help=f"the training copies, same file names (default: {DEFAULT_COPIES})",
    )
    parser.add_argument(
        "--model", type=Path, default=DEFAULT_MODEL_PATH, help=f"the .tflite (default: {DEFAULT_MODEL_PATH})"
    )
    parser.add_argument(
        "--source-size",
        type=parse_size,
        default=None,
        help="WxH to reduce to, for a card written without one (default: the card's source_size)",
    )
    parser.add_argument(
        "--source-jpeg-quality",
        type=int,
        default=None,
        help="JPEG quality a reduced photo is compressed at; 0: none (default: the card's)",
    )
    args = parser.parse_args()

    pairs = [
        (p, args.copies / p.name) for p in sorted(args.full.glob("*.jpg")) if (args.copies / p.name).exists()
    ]
    if not pairs:
        parser.error(f"no JPEG in {args.full} has a copy of the same name in {args.copies}")
    service = Service(Settings(model_path=args.model, num_threads=1))
    spec = service.preprocessor.spec
    source = args.source_size or spec.source_size
    if source is None:
        parser.error(f"{args.model}'s card has no source_size: give --source-size")
    quality = args.source_jpeg_quality if args.source_jpeg_quality is not None else spec.source_jpeg_quality
    quality = quality or None  # 0: none
    reduced, reduced_clean, direct = (
        Preprocessor(replace(spec, source_size=source, source_jpeg_quality=quality)),
        Preprocessor(replace(spec, source_size=source, source_jpeg_quality=None)),
        Preprocessor(replace(spec, source_size=None)),
    )

    def decode(path: Path) -> Image.Image:
        return decode_image(path.read_bytes(), min_size=spec.decode_size)

    full_images, copies = [decode(full) for full, _ in pairs], [decode(copy) for _, copy in pairs]
    ways = (
        ("training copy", direct, copies),
        ("full size, reduced first", reduced, full_images),
        *([("full size, reduced, no JPEG", reduced_clean, full_images)] if quality else []),
        ("full size, resized directly", direct, full_images),
        ("copy re-encoded, JPEG q90", direct, [reencoded(copy, 90) for copy in copies]),
        (
            "copy blurred, Gaussian 0.5 px",
            direct,
            [copy.filter(ImageFilter.GaussianBlur(0.5)) for copy in copies],
        ),
    )
    answers = {}
    for way, preprocessor, images in ways:
        service.preprocessor = preprocessor
        answers[way] = [service.classify(image, None) for image in images]

    (width, height), (full_w, full_h), (copy_w, copy_h) = spec.input_size, full_images[0].size, copies[0].size
    print(
        f"model   {args.model.name}, input {width}x{height}, source size {source[0]}x{source[1]}, "
        f"source JPEG quality {quality or 'none'}, one thread"
    )
    print(f"images  {len(pairs)} full-size JPEGs ({full_w}x{full_h} first), copies ({copy_w}x{copy_h} first)")
    filter_ = RESAMPLING[spec.resize]
    grey_levels = np.mean(
        [np.abs(np.asarray(full.resize(copy.size, filter_), np.float32) - np.asarray(copy, np.float32)).mean()
         for full, copy in zip(full_images, copies, strict=True)]
    )  # fmt: skip
    print(f"reduced to its copy's size, a full-size image is off the copy by {grey_levels:.1f} grey levels")
    copy_probabilities = [a["probabilities"] for a in answers["training copy"]]
    header = ("top-1 = copy", "median change", "max change", "flagged", "resize ms")
    print(f"{'way':30s}" + "".join(f"{h:>14s}" for h in header))
    for way, preprocessor, images in ways:
        figures = summarize(copy_probabilities, [a["probabilities"] for a in answers[way]])
        flagged = sum(a["out_of_distribution"]["flag"] for a in answers[way]) / len(images)
        print(
            f"{way:30s}{figures['top1_agreement']:>14.1%}{figures['median_abs_diff']:>14.3f}"
            f"{figures['max_abs_diff']:>14.3f}{flagged:>14.1%}{resize_ms(preprocessor, images):>14.2f}"
        )
    print("change: each image's largest class-probability change against its copy's answer (as served)")


if __name__ == "__main__":
    main()
