"""Print a hash-pinned requirements file (for `pip install --require-hashes`) from Pipfile.lock.

  python lock_requirements.py Pipfile.lock                      # the serving category ("default")
  python lock_requirements.py Pipfile.lock --category develop awslambdaric simplejson

The Dockerfile runs this at build time, so the image installs exactly the locked serving
packages with the lock's own hashes, and nothing can drift between the lock and the image.
Standard library only: it runs in the Lambda base image before anything is installed.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def requirement_lines(lock: dict[str, Any], category: str, names: list[str] | None = None) -> list[str]:
    """One line per locked package: `name==version ; markers --hash=sha256:...`."""
    section: dict[str, dict[str, Any]] = lock[category]
    wanted = names if names else sorted(section)
    missing = [name for name in wanted if name not in section]
    if missing:
        raise KeyError(f"not in the lock's {category!r} section: {', '.join(missing)}")
    lines = []
    for name in wanted:
        entry = section[name]
        if "version" not in entry or not entry.get("hashes"):
            raise ValueError(f"{name} in {category!r} has no pinned version with hashes")
        marker = f" ; {entry['markers']}" if entry.get("markers") else ""
        hashes = " ".join(f"--hash={digest}" for digest in entry["hashes"])
        lines.append(f"{name}{entry['version']}{marker} {hashes}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("lock", type=Path, help="path to Pipfile.lock")
    parser.add_argument(
        "--category",
        default="default",
        help='lock section: "default" is the Pipfile\'s [packages] (serving), "develop" its '
        "[dev-packages], or a named category such as training (default: default)",
    )
    parser.add_argument("names", nargs="*", help="only these packages (default: the whole section)")
    args = parser.parse_intermixed_args(argv)
    try:
        lines = requirement_lines(json.loads(args.lock.read_text()), args.category, args.names)
    except (KeyError, ValueError) as error:
        print(f"lock_requirements: {error}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
