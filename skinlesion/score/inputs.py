"""What to score: the images of a folder, or the `path` column of a CSV (with the patient's `age`,
`sex` and `site` where it has those columns), each named as the input names it, which is the key
that resuming and --labels match on."""

import csv
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from skinlesion.contract import METADATA_FIELDS
from skinlesion.score.errors import UsageError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
URL_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


@dataclass(frozen=True)
class Item:
    """One image to score; `image` is how the input names it, the key of its output row;
    `metadata`: the request fields `age`, `sex`, `site` that its CSV row gives."""

    image: str
    url: str | None = None
    path: Path | None = None
    metadata: dict[str, float | str] = field(default_factory=dict)


def list_input(source: Path, exclude: Path) -> list[Item]:
    if source.is_dir():
        items = list_folder(source, exclude)
    elif source.is_file() and source.suffix.lower() == ".csv":
        items = list_csv(source)
    else:
        raise UsageError(f"{source} is neither a folder of images nor a .csv file with a `path` column")
    if not items:
        raise UsageError(f"no images in {source} (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    return items


def list_folder(folder: Path, exclude: Path) -> list[Item]:
    """Images under `folder`, named by their path under it (stable whatever the current folder);
    `exclude`: our own confusion-matrix PNG, when --out lies inside the folder."""
    items = [
        Item(path.relative_to(folder).as_posix(), path=path)
        for path in folder.rglob("*")
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file() and path.resolve() != exclude
    ]
    return sorted(items, key=lambda item: item.image)


def list_csv(table: Path) -> list[Item]:
    """The `path` column: URLs as they are, other values as files relative to the CSV's folder. A
    path listed twice is scored once, with its first row's metadata."""
    with open_csv(table) as reader:
        if "path" not in (reader.fieldnames or []):
            raise UsageError(f"{table} has no `path` column (it has: {', '.join(reader.fieldnames or [])})")
        listed: dict[str, dict[str, float | str]] = {}
        for row in reader:
            value = (row.get("path") or "").strip()
            if value and value not in listed:  # once each, in order
                listed[value] = row_metadata(row)
    items = []
    for value, metadata in listed.items():
        if URL_PATTERN.match(value):  # any scheme: the service refuses what is not http(s)
            items.append(Item(value, url=value, metadata=metadata))
        else:
            items.append(Item(value, path=table.parent / value, metadata=metadata))
    return items


def row_metadata(row: dict[str, str | None]) -> dict[str, float | str]:
    """The row's non-empty `age`, `sex` and `site`, age as a number. The service judges them, so
    that what it refuses (an age that is not a number, a site it does not know) becomes that row's
    `invalid_metadata` rather than a rule of this tool's own: text is sent as it is."""
    metadata: dict[str, float | str] = {}
    for column in METADATA_FIELDS:
        text = (row.get(column) or "").strip()
        if text:
            metadata[column] = _number(text) if column == "age" else text
    return metadata


def _number(text: str) -> float | str:
    try:
        value = float(text)
    except ValueError:
        return text
    return value if math.isfinite(value) else text  # NaN is not JSON: sent as the text, refused


@contextmanager
def open_csv(path: Path) -> Iterator[csv.DictReader]:
    """utf-8-sig: a spreadsheet's byte-order mark would otherwise stick to the first column's name."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            yield csv.DictReader(handle)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise UsageError(f"cannot read {path}: {error}") from None
