"""Installed size of the serving environment against the same with another runtime in place of
ai-edge-litert: the image size, hence cold start, is part of why the service ships TFLite."""

import json
import tomllib
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any


def install_size(roots: Iterable[str]) -> dict[str, Any]:
    """Bytes on disk of `roots` and everything they require, as installed in this environment:
    the files each distribution's RECORD lists (the interpreter itself is not counted)."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    found: dict[str, metadata.Distribution] = {}
    missing: set[str] = set()
    todo = [canonicalize_name(name) for name in roots]
    while todo:
        name = todo.pop()
        if name in found or name in missing:
            continue
        try:
            found[name] = dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            missing.add(name)
            continue
        for line in dist.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(requirement.name))
    size = sum(
        path.stat().st_size
        for dist in found.values()
        for file in dist.files or []
        if (path := Path(str(file.locate()))).is_file()
    )
    return {"distributions": sorted(found), "missing": sorted(missing), "mb": size / 1e6}


def install_sizes(pipfile: Path, lock: Path) -> list[dict[str, Any]]:
    """The serving environment (Pipfile.lock's `packages`, i.e. "default") against the same
    serving packages with onnxruntime or TensorFlow in place of ai-edge-litert."""
    locked = list(json.loads(lock.read_text())["default"])
    others = [name for name in tomllib.loads(pipfile.read_text())["packages"] if name != "ai-edge-litert"]
    environments = [
        ("ai-edge-litert (shipped: Pipfile.lock packages)", locked),
        ("onnxruntime instead", [*others, "onnxruntime"]),
        ("tensorflow-cpu instead", [*others, "tensorflow-cpu"]),
    ]
    return [{"environment": name, "roots": roots, **install_size(roots)} for name, roots in environments]
