"""Run the real Lambda handler under the AWS Lambda Runtime Interface Emulator, on 127.0.0.1.

This is what `docker run -p 8080:8080 <image>` exposes, without a container: the RIE speaks
the Lambda invoke API and drives `awslambdaric`, the same runtime client AWS uses, which
imports `lambda_function` and calls `lambda_handler`. Used by `make serve`, `make demo` and
the end-to-end tests.
"""

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from devtools.http_front import serving
from skinlesion.paths import REPO_ROOT

RIE_PATH = REPO_ROOT / ".tools" / "aws-lambda-rie"
INVOKE_PATH = "/2015-03-31/functions/function/invocations"
HANDLER = "lambda_function.lambda_handler"


def invoke_url(port: int, host: str = "localhost") -> str:
    return f"http://{host}:{port}{INVOKE_PATH}"


def command(port: int, runtime_api_port: int = 9001, rie: Path = RIE_PATH) -> list[str]:
    """The emulator's command line. Its internal Runtime API port is configurable so that
    several emulators (tests, a developer's `make serve`) can run side by side."""
    if not rie.is_file():
        raise FileNotFoundError(f"{rie} is missing: run `make tools` (scripts/install-rie.sh)")
    return [
        str(rie),
        "--runtime-interface-emulator-address",
        f"127.0.0.1:{port}",
        "--runtime-api-address",
        f"127.0.0.1:{runtime_api_port}",
        sys.executable,
        "-m",
        "awslambdaric",
        HANDLER,
    ]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the emulator exited with code {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"the emulator did not listen on 127.0.0.1:{port} within {timeout:g} s")


def stop(process: subprocess.Popen, grace: float = 10.0) -> None:
    """Terminate a child, kill it if it lingers past `grace` seconds, and reap it."""
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def running(
    port: int = 8080, env: Mapping[str, str] | None = None, timeout: float = 30.0, log: Path | None = None
) -> Iterator[str]:
    """Start the emulator, yield its invoke URL, stop it whatever happens."""
    environment = {**os.environ, **(env or {})}
    output = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        command(port, free_port()), cwd=REPO_ROOT, env=environment, stdout=output, stderr=subprocess.STDOUT
    )
    try:
        _wait_for_port(port, process, timeout)
        yield invoke_url(port)
    finally:
        stop(process)
        if log:
            output.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Run the Lambda handler locally under the AWS Runtime Interface Emulator, on 127.0.0.1."
    )
    parser.add_argument(
        "--port", type=int, default=8080, help="port on 127.0.0.1 (default: 8080, as docker run -p)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve in the foreground until Ctrl-C")
    serve.add_argument(
        "--page-port",
        type=int,
        default=8000,
        help="port of the local API Gateway stand-in: the clinic page at / and POST /predict (default: 8000)",
    )
    demo = commands.add_parser("demo", help="start the endpoint, classify IMAGE with test.py, stop")
    demo.add_argument("image", help="an image file or an http(s) URL, passed to test.py")
    args = parser.parse_args(argv)

    if args.command == "serve":
        with running(args.port) as url, serving(url, args.page_port) as page:
            print(f"Lambda invoke endpoint: {url}\nclinic page: {page}  (Ctrl-C stops)", flush=True)
            try:
                threading.Event().wait()
            except KeyboardInterrupt:
                return 0
    with running(args.port) as url:
        print(f"local Lambda endpoint: {url}", flush=True)
        return subprocess.run(
            [sys.executable, str(REPO_ROOT / "test.py"), args.image, "--endpoint", url]
        ).returncode


if __name__ == "__main__":
    sys.exit(main())
