"""Sustained load on the local Lambda endpoint: 1,000 requests, none answered wrongly, and the
runtime process's memory flat between request 100 and request 1,000. Latencies are printed,
not asserted: the machine is shared."""

import base64
import json
import statistics
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from devtools.lambda_emulator import free_port, running
from tests.support.image_server import ImageServer

pytestmark = pytest.mark.emulator

REQUESTS = 1000
MEASURE_FROM = 100
MAX_RSS_GROWTH = 0.10


def rss_kb_of_process_with(marker: str) -> int:
    """Resident memory of the runtime (the python process the emulator starts, whose
    environment holds marker), not of the emulator itself."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            if marker.encode() in (proc / "environ").read_bytes() and b"awslambdaric" in argv[1:3]:
                status = (proc / "status").read_text()
                found.append(
                    int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1])
                )
        except (OSError, StopIteration):
            continue
    assert len(found) == 1, f"expected one runtime process, found {len(found)}"
    return found[0]


def test_thousand_requests(
    tiny_model: Path, image_server: ImageServer, fullres_images: list[Path], capsys: pytest.CaptureFixture
) -> None:
    uploads = [{"image": base64.b64encode(path.read_bytes()).decode()} for path in fullres_images[:40]]
    served = [
        {"url": image_server.add(f"load-{i}.jpg", path.read_bytes())}
        for i, path in enumerate(fullres_images[:10])
    ]
    broken = [
        ({"image": "@@@"}, "invalid_base64"),
        ({"image": base64.b64encode(b"<html></html>").decode()}, "not_an_image"),
    ]
    marker = f"LOAD_TEST_{uuid.uuid4().hex}"
    env = {"MODEL_PATH": str(tiny_model), "ALLOW_PRIVATE_URLS": "1", marker: "1"}
    latencies, unexpected, rss = [], [], {}
    with running(free_port(), env=env) as url:
        for i in range(1, REQUESTS + 1):
            if i % 10 == 0:
                event, expected = broken[(i // 10) % 2]
            elif i % 10 == 5:
                event, expected = served[i % len(served)], None
            else:
                event, expected = uploads[i % len(uploads)], None
            request = urllib.request.Request(url, data=json.dumps(event).encode(), method="POST")
            started = time.perf_counter()
            with urllib.request.urlopen(request, timeout=30) as response:
                answer = json.loads(response.read())
            latencies.append((time.perf_counter() - started) * 1000)
            code = answer.get("error", {}).get("code") if "error" in answer else None
            if (
                code != expected
                or ("errorMessage" in answer)
                or (expected is None and "probabilities" not in answer)
            ):
                unexpected.append((i, answer))
            if i in (MEASURE_FROM, REQUESTS):
                rss[i] = rss_kb_of_process_with(marker)

    growth = rss[REQUESTS] / rss[MEASURE_FROM] - 1
    quantiles = statistics.quantiles(latencies, n=100)
    with capsys.disabled():
        print(
            f"\n{REQUESTS} requests: p50 {quantiles[49]:.1f} ms, p90 {quantiles[89]:.1f} ms, "
            f"p99 {quantiles[98]:.1f} ms, max {max(latencies):.1f} ms; runtime RSS "
            f"{rss[MEASURE_FROM] / 1024:.1f} MB at #{MEASURE_FROM} -> "
            f"{rss[REQUESTS] / 1024:.1f} MB at #{REQUESTS} ({growth:+.1%})"
        )
    assert unexpected == []
    assert growth < MAX_RSS_GROWTH
