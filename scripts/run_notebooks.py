"""Execute the notebooks for real: against the local Lambda endpoint and the real data.

Starts the emulator with the shipped model and a loopback web server that plays "an image on
the web" and "a page that is not an image" (no machine here reaches the internet), executes
each notebook with nbclient, and writes the executed copies to --output-dir, or back over the
committed notebooks with --in-place (how their outputs are refreshed: never by hand). Fails
when any cell fails.

  python scripts/run_notebooks.py --in-place
  python scripts/run_notebooks.py --output-dir /tmp/executed Demonstration_notebook.ipynb
"""

import argparse
import functools
import os
import shutil
import tempfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from devtools.lambda_emulator import free_port, running
from skinlesion.paths import REPO_ROOT, SHARED_DATA_DIR

NOTEBOOKS = REPO_ROOT / "notebooks"
FULLRES = Path(os.environ.get("HAM10000_FULLRES_DIR", SHARED_DATA_DIR / "ham10000-fullres"))


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return


def serve_folder(folder: Path) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def execute(notebook: Path, destination: Path, env: dict[str, str], timeout: int) -> None:
    nb = nbformat.read(notebook, as_version=4)
    previous = {key: os.environ.get(key) for key in env}
    os.environ.update(env)  # the kernel inherits this process's environment
    try:
        client = NotebookClient(
            nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
        )
        client.execute()
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    nbformat.write(nb, destination)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("notebooks", nargs="*", help="notebook file names in notebooks/ (default: all)")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--in-place", action="store_true", help="overwrite the committed notebooks with the outputs"
    )
    where.add_argument("--output-dir", type=Path, help="write executed copies here")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds a cell may run (default: 1800)")
    args = parser.parse_args()

    names = args.notebooks or sorted(path.name for path in NOTEBOOKS.glob("*.ipynb"))
    with tempfile.TemporaryDirectory() as web_root:
        web = Path(web_root)
        rows = [line.split(",") for line in (FULLRES / "labels.csv").read_text().splitlines()[1:]]
        melanoma = [row[1] for row in rows if row[2] == "mel"][-1]  # the notebook's file example is the first
        shutil.copy(FULLRES / "images" / f"{melanoma}.jpg", web / "lesion.jpg")
        (web / "article.html").write_text("<!doctype html><html><body><h1>Melanoma</h1></body></html>")
        web_server = serve_folder(web)
        base = f"http://127.0.0.1:{web_server.server_address[1]}"
        try:
            with running(free_port(), env={"ALLOW_PRIVATE_URLS": "1"}) as endpoint:
                env = {
                    "SKINLESION_ENDPOINT": endpoint,
                    "SKINLESION_IMAGE_URL": f"{base}/lesion.jpg",
                    "SKINLESION_NOT_AN_IMAGE_URL": f"{base}/article.html",
                    "HAM10000_FULLRES_DIR": str(FULLRES),
                }
                for name in names:
                    destination = NOTEBOOKS / name if args.in_place else args.output_dir / name
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    print(f"executing {name} -> {destination}", flush=True)
                    execute(NOTEBOOKS / name, destination, env, args.timeout)
        finally:
            web_server.shutdown()


if __name__ == "__main__":
    main()
