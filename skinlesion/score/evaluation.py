"""With --labels: the scored rows of --out against their diagnoses, as a Markdown report with
bootstrap intervals and a confusion-matrix PNG beside --out."""

import math
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from skinlesion.classes import CLASS_CODES
from skinlesion.score.errors import UsageError
from skinlesion.score.inputs import URL_PATTERN, open_csv
from skinlesion.score.results import read_results


@dataclass(frozen=True)
class Labels:
    """Diagnoses (dx, lesion_id) by the `image` value as scored, or by `image_id`: a file stem, as
    HAM10000's metadata names images."""

    by_image: dict[str, tuple[str, str]]
    by_id: dict[str, tuple[str, str]]
    by_lesion: bool  # the file has lesion_id: intervals resample lesions, not images

    def find(self, image: str) -> tuple[str, str] | None:
        path = urlsplit(image).path if URL_PATTERN.match(image) else image
        return self.by_image.get(image) or self.by_id.get(PurePosixPath(path).stem)


def read_labels(path: Path) -> Labels:
    """Read and checked before scoring, so that a bad file fails in a second, not after the run."""
    by_image: dict[str, tuple[str, str]] = {}
    by_id: dict[str, tuple[str, str]] = {}
    unknown: set[str] = set()
    with open_csv(path) as reader:
        columns = set(reader.fieldnames or [])
        if "dx" not in columns or not columns & {"image_id", "image"}:
            raise UsageError(
                f"--labels {path} needs a `dx` column and an `image_id` or `image` column "
                f"(it has: {', '.join(reader.fieldnames or [])})"
            )
        for row in reader:
            dx = (row.get("dx") or "").strip().lower()
            if dx not in CLASS_CODES:
                unknown.add(dx)
                continue
            label = (dx, (row.get("lesion_id") or "").strip())
            if image_id := (row.get("image_id") or "").strip():
                by_id[image_id] = label
            if image := (row.get("image") or "").strip():
                by_image[image] = label
    if unknown:
        raise UsageError(
            f"--labels {path}: dx values that are not the codes {', '.join(CLASS_CODES)}: "
            f"{', '.join(sorted(unknown)[:5])}"
        )
    return Labels(by_image, by_id, "lesion_id" in columns)


def evaluate_results(out: Path, labels: Labels) -> tuple[Path, Path] | None:
    """Evaluate every scored row of --out that has a label (from this run and earlier ones); write
    the Markdown summary and the confusion matrix beside --out. The training package (scikit-learn,
    matplotlib) is imported only here."""
    import numpy as np

    from skinlesion.analysis.evaluate import MELANOMA, evaluate, format_report, plot_confusion

    rows = read_results(out)
    scored = [row for row in rows if not row["error_code"]]
    matched = [(row, label) for row in scored if (label := labels.find(row["image"]))]
    if not matched:
        print(f"evaluation: no scored image of {out} has a label: nothing to evaluate", file=sys.stderr)
        return None
    y_true = np.array([CLASS_CODES.index(dx) for _, (dx, _) in matched])
    probs = np.array([[float(row[f"p_{code}"]) for code in CLASS_CODES] for row, _ in matched])
    groups = [lesion or row["image"] for row, (_, lesion) in matched] if labels.by_lesion else None
    metrics = evaluate(y_true, probs, groups)

    summary, png = out.with_name(f"{out.stem}_evaluation.md"), out.with_name(f"{out.stem}_confusion.png")
    plot_confusion(metrics, png, images="your images")
    alerts = [row["melanoma_alert"] for row, _ in matched]
    melanoma = None
    if all(flag in ("True", "False") for flag in alerts):
        flagged, is_mel = np.array([flag == "True" for flag in alerts]), y_true == MELANOMA
        melanoma = (int((flagged & is_mel).sum()), int(is_mel.sum()), int((~flagged & ~is_mel).sum()))
    ood = [row["out_of_distribution"] for row, _ in matched if row["out_of_distribution"]]
    counts = {
        "rows": len(rows),
        "errors": len(rows) - len(scored),
        "unlabelled": len(scored) - len(matched),
        "ood": ood.count("True") if ood else None,
    }
    text = evaluation_markdown(metrics, out.name, png.name, counts, melanoma, format_report(metrics))
    summary.write_text(text, encoding="utf-8")
    return summary, png


def evaluation_markdown(
    m: dict[str, Any],
    results: str,
    png: str,
    counts: dict[str, int | None],
    melanoma: tuple[int, int, int] | None,
    report: str,
) -> str:
    """The summary a researcher reads: headline figures with intervals, per class, the matrix."""
    boot, ci = m["bootstrap"], m["confidence_intervals"] or {}
    n = m["n_images"]
    base = m["majority_baseline"]
    lines = [
        f"# Evaluation of {results}",
        "",
        f"{n} scored images with a label, {boot['n_groups']} {boot['unit']}s ({counts['rows']} rows in "
        f"{results}: {counts['errors']} error rows and {counts['unlabelled']} scored images without a "
        f"label are left out). Intervals: {boot['level']:.0%}, from {boot['n_boot']} bootstrap resamples "
        f"of {boot['unit']}s. These figures hold for these images only; the model is decision support, "
        "not a diagnosis.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| balanced accuracy | {_figure(m['balanced_accuracy'], ci.get('balanced_accuracy'))} |",
        f"| majority baseline (always `{base['class']}`) | balanced accuracy "
        f"{base['balanced_accuracy']:.3f}, accuracy {base['accuracy']:.3f} |",
        f"| accuracy | {_figure(m['accuracy'], ci.get('accuracy'))} |",
        f"| macro ROC AUC | {_figure(m['macro_roc_auc'], ci.get('macro_roc_auc'))} |",
    ]
    if melanoma is None:
        lines.append(
            "| melanoma at the card's operating point | not available: the model's card has no melanoma "
            "operating point (the `melanoma_alert` column is empty) |"
        )
    else:
        caught, melanomas, cleared = melanoma
        lines += [
            "| melanoma sensitivity at the card's operating point (`melanoma_alert`) | "
            f"{_ratio(caught, melanomas)} ({caught} of {melanomas} melanomas flagged) |",
            f"| melanoma specificity there | {_ratio(cleared, n - melanomas)} ({cleared} of "
            f"{n - melanomas} other lesions not flagged) |",
        ]
    if counts["ood"] is not None:
        lines.append(f"| flagged out of distribution | {counts['ood']} of {n} |")
    lines += ["", "## Per class", "", "| class | images | recall | precision |", "|---|---|---|---|"]
    per_class_ci = ci.get("per_class", {})
    predicted = [sum(column) for column in zip(*m["confusion_matrix"], strict=True)]
    for (code, figures), n_predicted in zip(m["per_class"].items(), predicted, strict=True):
        intervals = per_class_ci.get(code, {})
        # Undefined, not 0, where the class is never true (recall) or never predicted (precision).
        recall = _figure(figures["recall"], intervals.get("recall")) if figures["support"] else "n/a"
        precision = _figure(figures["precision"], intervals.get("precision")) if n_predicted else "n/a"
        lines.append(f"| {code} | {figures['support']} | {recall} | {precision} |")
    lines += [
        "",
        "## Confusion matrix",
        "",
        "Rows: the true class; columns: the predicted one; each cell the fraction of its row and the count.",
        "",
        f"![confusion matrix]({png})",
        "",
        "## Every figure",
        "",
        "```text",
        report,
        "```",
        "",
    ]
    return "\n".join(lines)


def _figure(value: float | None, interval: list[float] | None = None) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    return f"{value:.3f}" + (f" [{interval[0]:.3f}, {interval[1]:.3f}]" if interval else "")


def _ratio(part: int, whole: int) -> str:
    return f"{part / whole:.3f}" if whole else "n/a"
