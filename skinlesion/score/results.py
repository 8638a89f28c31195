"""The results CSV (--out): its columns, one row per image from the service's answer, and the
reading, rewriting and appending that let a stopped run go on where it stopped."""

import csv
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from skinlesion.classes import CLASS_CODES
from skinlesion.contract import METADATA_FIELDS, RESULT_COLUMNS, client_error_code
from skinlesion.score.errors import UsageError
from skinlesion.score.inputs import open_csv

Row = dict[str, Any]

COLUMNS = list(RESULT_COLUMNS)  # the contract's, shared with the clinic page's download
# An --out written before the metadata columns: resumed, as its rows were scored without metadata.
COLUMNS_WITHOUT_METADATA = [column for column in COLUMNS if column not in METADATA_FIELDS]


def read_results(out: Path) -> list[Row]:
    """The rows already in --out. A last line cut short by a killed run is removed from the file
    first, so that the next row does not get glued onto it; a file without the metadata columns
    is rewritten with them (empty), so that new rows can be appended."""
    if out.is_dir():
        raise UsageError(f"--out {out} is a folder; give a .csv file")
    if not out.exists():
        return []
    data = out.read_bytes()
    if data and not data.endswith(b"\n"):
        os.truncate(out, data.rfind(b"\n") + 1)
    with open_csv(out) as reader:
        if reader.fieldnames is None:
            return []
        if reader.fieldnames not in (COLUMNS, COLUMNS_WITHOUT_METADATA):
            raise UsageError(f"{out} exists with other columns than this tool writes; choose another --out")
        rows = list(reader)
        if reader.fieldnames == COLUMNS:
            return rows
    rows = [{**dict.fromkeys(METADATA_FIELDS, ""), **row} for row in rows]
    rewrite_results(out, rows)
    return rows


def rewrite_results(out: Path, rows: list[Row]) -> None:
    """Replace --out in one step, so that a kill meanwhile leaves the old file or the new one."""
    temporary = out.with_name(out.name + ".tmp")
    with temporary.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(temporary, out)


@contextmanager
def appending(out: Path) -> Iterator[Callable[[list[Row]], None]]:
    """A writer of rows to --out: the header once, in a new file; a flush after every request, so a
    stopped run loses only the requests in flight."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fresh = not out.exists() or out.stat().st_size == 0
    with out.open("a", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, COLUMNS, lineterminator="\n")
        if fresh:
            writer.writeheader()

        def write(rows: list[Row]) -> None:
            writer.writerows(rows)
            handle.flush()

        yield write


def row_for(image: str, answer: dict[str, Any]) -> Row:
    """One output row from the service's answer (a prediction, its error, or the Lambda runtime's
    own error); what the answer does not carry stays empty."""
    row: Row = dict.fromkeys(COLUMNS, "")
    row["image"] = image
    error = answer.get("error")
    if isinstance(error, dict):
        row.update(error_code=error.get("code", ""), error_message=one_line(error.get("message", "")))
        return row
    if "errorMessage" in answer:  # the function itself failed: a crash, a timeout
        message = f"{answer.get('errorType', 'error')}: {answer['errorMessage']}"
        row.update(error_code=client_error_code("lambda_error"), error_message=one_line(message))
        return row
    metadata = answer.get("metadata") or {}  # what the service used, which may be less than was sent
    row.update({column: metadata.get(column, "") for column in METADATA_FIELDS})
    row.update(prediction=answer["prediction"], label=answer["label"])
    row.update({f"p_{code}": answer["probabilities"][code] for code in CLASS_CODES})
    row["malignant_probability"] = answer.get("malignant_probability", "")
    for name, alert in (answer.get("alerts") or {}).items():
        if f"{name}_alert" in row:
            row[f"{name}_alert"] = bool(alert["flag"])
    ood = answer.get("out_of_distribution")
    if ood:
        row["out_of_distribution"] = bool(ood["flag"])
        row["ood_reasons"] = "; ".join(ood.get("reasons") or [])
    return row


def one_line(text: Any) -> str:
    """Messages on one line: a row always ends at a newline, which resuming relies on."""
    return " ".join(str(text).split())[:500]
