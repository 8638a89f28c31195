"""The clinic page (`page/index.html`), served by the same function at `GET /` of the API.

One self-contained file: its only script and style blocks are allowed by their hashes in the
Content-Security-Policy, so nothing else can run in it, not even markup that an answer smuggled
in. What the page must agree on with the service (the classes and their names, the batch and
request limits, the wait for an answer, the results CSV's columns) is not written in it: it is
filled in here, from `classes.py`, `contract.py` and the function's `Settings`, as a JSON data
block, which the browser never runs and so needs no hash. The page calls `predict` relative to
its own address, so it works under any stage name.
"""

import base64
import functools
import hashlib
import json
import re
from pathlib import Path
from typing import Any

from skinlesion.classes import CLASS_CODES, CLASS_NAMES
from skinlesion.contract import PAYLOAD_LIMIT, REQUEST_TIMEOUT_S, RESULT_COLUMNS
from skinlesion.serving.config import Settings

PAGE = Path(__file__).parent / "page" / "index.html"
CONFIG_SLOT = "{{SERVICE_CONFIG}}"


def _hashes(html: str, tag: str) -> str:
    blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.DOTALL)
    digests = (base64.b64encode(hashlib.sha256(block.encode()).digest()).decode() for block in blocks)
    return " ".join(f"'sha256-{digest}'" for digest in digests)


def service_config(settings: Settings) -> dict[str, Any]:
    """What the page reads from its `service-config` block."""
    return {
        "class_codes": list(CLASS_CODES),
        "class_names": CLASS_NAMES,
        "max_batch": settings.max_batch,
        "max_body_bytes": settings.max_body_bytes,
        "max_request_chars": PAYLOAD_LIMIT,
        "request_timeout_ms": REQUEST_TIMEOUT_S * 1000,
        "csv_columns": list(RESULT_COLUMNS),
    }


def _as_script_data(value: Any) -> str:
    """JSON that cannot end its <script> element early: every '<', '>' and '&' escaped."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@functools.cache
def page(settings: Settings) -> tuple[str, dict[str, str]]:
    """The page and its headers, made once per container."""
    template = PAGE.read_text(encoding="utf-8")
    if template.count(CONFIG_SLOT) != 1:
        raise ValueError(f"{PAGE} must hold {CONFIG_SLOT} exactly once")
    html = template.replace(CONFIG_SLOT, _as_script_data(service_config(settings)))
    policy = (
        f"default-src 'none'; script-src {_hashes(html, 'script')}; style-src {_hashes(html, 'style')}; "
        "img-src 'self' data: blob:; connect-src 'self'; form-action 'none'; base-uri 'none'; "
        "frame-ancestors 'none'"
    )
    headers = {
        "Content-Type": "text/html; charset=utf-8",
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }
    return html, headers
