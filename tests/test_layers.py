"""The package's plan, checked on its imports: the shared modules sit below every side, serving
takes only them, conversion stands beside training rather than on it, analysis judges models
without training or converting them."""

import ast
from pathlib import Path

import pytest

from skinlesion.paths import REPO_ROOT

PACKAGE = REPO_ROOT / "skinlesion"
SIDES = ("training", "conversion", "analysis", "serving", "score")
# What each side may not import (besides the sides' shared rule below).
FORBIDDEN = {
    "shared": set(SIDES),
    "serving": {"training", "conversion", "analysis", "score"},
    "conversion": {"training", "serving", "score"},
    "analysis": {"training", "conversion", "score"},
    "training": {"conversion", "serving", "score"},
}


def side(module: str) -> str | None:
    """'training', 'serving', ... for a module of those packages, 'shared' for the rest of
    skinlesion, None outside it."""
    parts = module.split(".")
    if parts[0] != "skinlesion":
        return None
    return parts[1] if len(parts) > 1 and parts[1] in SIDES else "shared"


def imported(path: Path) -> set[str]:
    """The skinlesion modules a file imports, at any depth of its code."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            if node.module == "skinlesion":
                names.update(f"skinlesion.{alias.name}" for alias in node.names)
    return {name for name in names if name.startswith("skinlesion")}


def modules() -> list[tuple[str, Path]]:
    return [
        (".".join(path.relative_to(REPO_ROOT).with_suffix("").parts), path)
        for path in sorted(PACKAGE.rglob("*.py"))
    ]


@pytest.mark.parametrize("module, path", modules(), ids=[m for m, _ in modules()])
def test_no_module_imports_a_side_it_sits_beside_or_below(module: str, path: Path) -> None:
    forbidden = FORBIDDEN.get(side(module), set())
    wrong = sorted(name for name in imported(path) if side(name) in forbidden)
    assert not wrong, f"{module} ({side(module)}) imports {wrong}"


def test_the_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from skinlesion.training.fit import augmentation\n")
    assert {side(name) for name in imported(bad)} == {"training"}
    assert "training" in FORBIDDEN["serving"]
