"""How much of the "explain" heatmap falls on the lesion, against a centred blob, and what
explaining an image costs.

Why: a 6x8 map put less of its mass on the lesion than a fixed Gaussian in the middle of the
frame (issue 30). Every k-th validation image of the shipped split (by image_id) goes through
the served `.tflite` as the service preprocesses it; the predicted class's map is judged against
a dark-region lesion mask (`skinlesion.analysis.lesion_mask`), images whose mask failed set aside
by that module's fixed rule. Each map is compared with the blob (sigma 0.15 of each side) on the
same images, the interval from a bootstrap that draws whole lesions. Timing is on one thread,
through `Service.classify`, with one invoke timed in the same run for scale. Prints figures;
asserts none.

  python -m bench.heatmap_localisation [--images DIR] [--model PATH] [--split CSV] [--count N]
"""

import argparse
import csv
import statistics
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from bench.draft_decode import median_ms
from skinlesion.analysis.evaluate import percentile_interval
from skinlesion.analysis.lesion_mask import centred_blob, judged, lesion_mask, share_inside
from skinlesion.paths import DEFAULT_MODEL_PATH, default_data_dir
from skinlesion.serving import heatmap
from skinlesion.serving.config import Settings
from skinlesion.serving.handler import Service

BLOB = "centred blob (sigma 0.15)"
# The maps compared: 2.4.0 served the 6x8 grid clipped at 0 ("2.4.0 scaling"); the share inside
# is the same under any positive scale, so clipping is all that scaling did to it.
MAPS: dict[str, tuple[str, Callable[[np.ndarray], np.ndarray]]] = {
    "6x8, 2.4.0 scaling (served before)": ("coarse", lambda grid: np.clip(grid, 0.0, None)),
    "6x8, scaled from the mean": ("coarse", heatmap.normalise),
    "12x16, 2.4.0 scaling": ("fine", lambda grid: np.clip(grid, 0.0, None)),
    "12x16, scaled from the mean (served)": ("fine", heatmap.normalise),
}


def validation_images(split: Path, metadata: Path, count: int) -> list[tuple[str, str]]:
    """(image_id, lesion_id) of `count` validation images spread over the split: every k-th by id."""
    with split.open(newline="") as f:
        ids = sorted(row["image_id"] for row in csv.DictReader(f) if row["split"] == "val")
    with metadata.open(newline="") as f:
        lesion_of = {row["image_id"]: row["lesion_id"] for row in csv.DictReader(f)}
    step = max(1, len(ids) // count)
    return [(image_id, lesion_of[image_id]) for image_id in ids[::step][:count]]


def paired_interval(
    differences: np.ndarray, lesions: list[str], n_boot: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """95 % interval of the mean difference, resampling lesions (a lesion's photos are not
    independent evidence)."""
    group = np.unique(np.asarray(lesions), return_inverse=True)[1]
    n_groups = int(group.max()) + 1
    rng = np.random.default_rng(seed)
    means = []
    for _ in range(n_boot):
        weights = np.bincount(rng.integers(0, n_groups, n_groups), minlength=n_groups)[group]
        means.append(float((weights * differences).sum() / weights.sum()))
    low, high = percentile_interval(np.array(means))
    return low, high


def summarise(shares: np.ndarray, blob: np.ndarray, lesions: list[str]) -> dict[str, float]:
    """A map's share inside the lesion beside the blob's, on the same images."""
    differences = shares - blob
    low, high = paired_interval(differences, lesions)
    return {
        "mean": float(shares.mean()),
        "median": float(np.median(shares)),
        "vs_blob": float(differences.mean()),
        "vs_blob_low": low,
        "vs_blob_high": high,
        "beats_blob": float((differences > 0).mean()),
    }


def explain_timings(service: Service, image: Image.Image, repeats: int) -> dict[str, float]:
    """Milliseconds for one image: the answer without and with explain, the 12x16 map alone, and
    the explanation as 2.4.0 made it (6x8 grid and PNG, no further invoke)."""
    model = service.model
    pixels = service.preprocessor.resized_array(image)
    out = model.run(pixels)
    top = int(out.probabilities.argmax())
    return {
        "answer": median_ms(repeats, lambda: service.classify(image, None)),
        "explained": median_ms(repeats, lambda: service.classify(image, "top")),
        "fine_cam": median_ms(repeats, lambda: model.fine_cam(pixels, out.cam)),
        "coarse_explanation": median_ms(repeats, lambda: heatmap.explanation(image, out.cam, top, "top")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    data = default_data_dir()
    parser.add_argument(
        "--images", type=Path, default=data, help=f"HAM10000: images/ and the metadata CSV (default: {data})"
    )
    parser.add_argument(
        "--model", type=Path, default=DEFAULT_MODEL_PATH, help=f"the .tflite (default: {DEFAULT_MODEL_PATH})"
    )
    parser.add_argument(
        "--split", type=Path, help="the split CSV whose val rows are used (default: the model's _split.csv)"
    )
    parser.add_argument("--count", type=int, default=200, help="validation images (default: 200)")
    parser.add_argument(
        "--keep-failed-masks",
        action="store_true",
        help="judge every image, masks the rule sets aside included",
    )
    parser.add_argument("--timed", type=int, default=20, help="of them, images timed (default: 20)")
    parser.add_argument(
        "--repeats", type=int, default=7, help="timings per image, for the median (default: 7)"
    )
    args = parser.parse_args()

    split = args.split or args.model.with_name(args.model.stem + "_split.csv")
    chosen = validation_images(split, args.images / "HAM10000_metadata.csv", args.count)
    service = Service(Settings(model_path=args.model, num_threads=1))
    model = service.model

    shares: dict[str, list[float]] = {name: [] for name in (BLOB, *MAPS)}
    lesions, timing_images = [], []
    for image_id, lesion_id in chosen:
        image = Image.open(args.images / "images" / f"{image_id}.jpg").convert("RGB")
        mask = lesion_mask(np.asarray(image))
        if len(timing_images) < args.timed:
            timing_images.append(image)
        if not (args.keep_failed_masks or judged(mask)):
            continue
        pixels = service.preprocessor.resized_array(image)
        out = model.run(pixels)
        top = int(out.probabilities.argmax())
        grids = {"coarse": out.cam[:, :, top], "fine": model.fine_cam(pixels, out.cam)[:, :, top]}
        lesions.append(lesion_id)
        shares[BLOB].append(share_inside(centred_blob(*mask.shape), mask))
        for name, (which, scale) in MAPS.items():
            shares[name].append(share_inside(scale(grids[which]), mask))

    blob = np.array(shares[BLOB])
    print(
        f"{len(lesions)} of {len(chosen)} validation images judged ({len(set(lesions))} lesions); "
        "share of the map's mass inside the lesion mask, and the map minus the blob on the same images:"
    )
    print(f"{'map':<40}{'mean':>7}{'median':>8}  {'minus blob [95 % CI]':<26}{'beats blob':>10}")
    for name, values in shares.items():
        s = summarise(np.array(values), blob, lesions)
        paired, beats = "", ""
        if name != BLOB:
            paired = f"{s['vs_blob']:+.3f} [{s['vs_blob_low']:+.3f}, {s['vs_blob_high']:+.3f}]"
            beats = f"{s['beats_blob']:.0%}"
        print(f"{name:<40}{s['mean']:>7.3f}{s['median']:>8.3f}  {paired:<26}{beats:>10}")

    timings = [explain_timings(service, image, args.repeats) for image in timing_images]
    invoke = model.latency_ms(service.preprocessor.resized_array(timing_images[-1]), 10 * args.repeats)
    median = {key: statistics.median(t[key] for t in timings) for key in timings[0]}
    extra = median["explained"] - median["answer"]
    rows = {
        "one invoke": invoke,
        "answer without explain": median["answer"],
        "answer with explain": median["explained"],
        "  explain adds": extra,
        "  of which the 12x16 map (3 invokes)": median["fine_cam"],
        "explain as served before (6x8 grid + PNG)": median["coarse_explanation"],
    }
    print(f"\none thread, medians over {len(timings)} images (ms, and in invokes):")
    for label, ms in rows.items():
        print(f"{label:<44}{ms:>7.1f}{ms / invoke:>7.1f}x")


if __name__ == "__main__":
    main()
