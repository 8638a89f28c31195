"""The clinic page (`page/index.html`), served by the same function at `GET /` of the API.

One self-contained file: its only script and style blocks are allowed by their hashes in the
Content-Security-Policy, so nothing else can run in it, not even markup that an answer smuggled
in. It calls `predict` relative to its own address, so it works under any stage name.
"""

import base64
import functools
import hashlib
import re
from pathlib import Path

PAGE = Path(__file__).parent / "page" / "index.html"


def _hashes(html: str, tag: str) -> str:
    blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.DOTALL)
    digests = (base64.b64encode(hashlib.sha256(block.encode()).digest()).decode() for block in blocks)
    return " ".join(f"'sha256-{digest}'" for digest in digests)


@functools.cache
def page() -> tuple[str, dict[str, str]]:
    """The page and its headers, read once per container."""
    html = PAGE.read_text(encoding="utf-8")
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
