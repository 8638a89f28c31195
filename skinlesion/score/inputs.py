"""What to score: the images of a folder, or the `path` column of a CSV, each named as the input
names it, which is the key that resuming and --labels match on."""

import csv
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from skinlesion.score.errors import UsageError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
URL_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


@dataclass(frozen=True)
class Item:
    """One image to score; `image` is how the input names it, the key of its output row."""

    image: str
    url: str | None = None
    path: Path | None = None


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
    """The `path` column: URLs as they are, other values as files relative to the CSV's folder."""
    with open_csv(table) as reader:
        if "path" not in (reader.fieldnames or []):
            raise UsageError(f"{table} has no `path` column (it has: {', '.join(reader.fieldnames or [])})")
        values = [(row.get("path") or "").strip() for row in reader]
    items = []
    for value in dict.fromkeys(value for value in values if value):  # once each, in order
        if URL_PATTERN.match(value):  # any scheme: the service refuses what is not http(s)
            items.append(Item(value, url=value))
        else:
            items.append(Item(value, path=table.parent / value))
    return items


@contextmanager
def open_csv(path: Path) -> Iterator[csv.DictReader]:
    """utf-8-sig: a spreadsheet's byte-order mark would otherwise stick to the first column's name."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            yield csv.DictReader(handle)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise UsageError(f"cannot read {path}: {error}") from None
