"""Download an image from a client-supplied URL without letting the URL reach inside.

Defences, each needed because the function runs next to cloud metadata and private services:
only http(s); no credentials; every address the host resolves to must be public, checked
again after every redirect; the connection goes to the address that was checked, so a second
DNS answer cannot swap it (no rebinding window); timeouts per connect and per read plus an
overall deadline enforced by a watchdog; a size cap enforced while streaming.
"""

import contextlib
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from skinlesion.contract import ServiceError

USER_AGENT = "skin-lesion-classifier/1.0 (image fetcher; +https://github.com/skin-lesion-classifier)"
MAX_URL_LENGTH = 2048
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
CHUNK_BYTES = 64 * 1024

Resolver = Callable[[str, int], list[str]]

# IPv6 ranges that embed an IPv4 address a gateway would forward to.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


@dataclass(frozen=True)
class FetchLimits:
    """One download's limits; `Settings.fetch_limits` gives the service's."""

    connect_timeout: float  # seconds
    read_timeout: float  # seconds without a byte
    deadline: float  # seconds for the whole download, redirects included
    max_bytes: int
    max_redirects: int
    allow_private: bool


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for host, in its order, without repeats."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def is_public_address(address: str) -> bool:
    """True only for globally routable unicast addresses, looking inside IPv6 wrappers of IPv4."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public_address(str(embedded))
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_loopback or ip.is_link_local)


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str
    port: int
    path: str


def _parse_url(url: str) -> _Target:
    if not isinstance(url, str) or not url.strip():
        raise ServiceError("invalid_url", "'url' must be a non-empty string")
    if len(url) > MAX_URL_LENGTH:
        raise ServiceError("invalid_url", f"the URL is longer than {MAX_URL_LENGTH} characters")
    if any(ord(ch) < 33 or ord(ch) == 127 for ch in url.strip()):
        raise ServiceError("invalid_url", "the URL contains spaces or control characters")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise ServiceError("invalid_url", f"the URL cannot be parsed: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ServiceError(
            "url_refused", f"only http and https URLs are accepted, not {scheme or 'a relative URL'!r}"
        )
    if parts.username is not None or parts.password is not None:
        raise ServiceError("url_refused", "URLs with credentials are refused")
    host = parts.hostname
    if not host:
        raise ServiceError("url_refused", "the URL has no host")
    try:
        host.encode("idna")
    except UnicodeError:
        raise ServiceError("invalid_url", "the URL's host name is not valid") from None
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return _Target(scheme, host, port or (443 if scheme == "https" else 80), path)


def _checked_address(target: _Target, resolver: Resolver, allow_private: bool) -> str:
    try:
        addresses = resolver(target.host, target.port)
    except (OSError, UnicodeError) as exc:
        raise ServiceError("fetch_failed", f"the host {target.host!r} could not be resolved: {exc}") from None
    if not addresses:
        raise ServiceError("fetch_failed", f"the host {target.host!r} has no address")
    if not allow_private:
        for address in addresses:
            if not is_public_address(address):
                raise ServiceError(
                    "url_refused", f"the host {target.host!r} resolves to a non-public address"
                )
    return addresses[0]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the address we checked, whatever DNS would answer now."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.pinned_address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.pinned_address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """TLS to the checked address; the certificate is still verified against the host name."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self.pinned_address = address

    def connect(self) -> None:
        sock = socket.create_connection((self.pinned_address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def _abort(conn: http.client.HTTPConnection) -> None:
    sock = conn.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _get_once(
    target: _Target, address: str, limits: FetchLimits, deadline: float
) -> tuple[str | None, bytes]:
    """One GET. Returns (redirect location, b"") or (None, body)."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise ServiceError("fetch_timeout", f"the image was not downloaded within {limits.deadline:g} s")
    cls = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    conn = cls(target.host, target.port, address, timeout=min(limits.connect_timeout, remaining))
    watchdog = threading.Timer(remaining, _abort, args=(conn,))
    watchdog.daemon = True
    watchdog.start()
    try:
        conn.connect()
        conn.sock.settimeout(min(limits.read_timeout, remaining))
        conn.request(
            "GET",
            target.path,
            headers={
                "User-Agent": USER_AGENT,
                "Accept": "image/*",
                "Accept-Encoding": "identity",
                "Connection": "close",
            },
        )
        response = conn.getresponse()
        if response.status in REDIRECT_STATUSES:
            location = response.getheader("Location")
            if not location:
                raise ServiceError(
                    "fetch_failed", f"the image URL redirected (HTTP {response.status}) without a Location"
                )
            return location, b""
        if not 200 <= response.status < 300 or response.status == 204:
            raise ServiceError("fetch_failed", f"the image URL answered HTTP {response.status}")
        return None, _read_body(response, limits, deadline)
    except TimeoutError:
        raise ServiceError(
            "fetch_timeout", "the image server stopped answering before the image arrived"
        ) from None
    except (OSError, http.client.HTTPException) as exc:
        if time.monotonic() >= deadline:
            raise ServiceError(
                "fetch_timeout", f"the image was not downloaded within {limits.deadline:g} s"
            ) from None
        raise ServiceError(
            "fetch_failed", f"the image could not be downloaded: {exc.__class__.__name__}"
        ) from None
    finally:
        watchdog.cancel()
        conn.close()


def _read_body(response: http.client.HTTPResponse, limits: FetchLimits, deadline: float) -> bytes:
    declared = response.getheader("Content-Length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limits.max_bytes:
        raise ServiceError("image_too_large", f"the image is larger than {limits.max_bytes:,} bytes")
    body = bytearray()
    while True:
        if time.monotonic() >= deadline:
            raise ServiceError("fetch_timeout", f"the image was not downloaded within {limits.deadline:g} s")
        chunk = response.read1(CHUNK_BYTES)
        if not chunk:
            if time.monotonic() >= deadline:  # the watchdog closed the socket under us
                raise ServiceError(
                    "fetch_timeout", f"the image was not downloaded within {limits.deadline:g} s"
                )
            break
        body += chunk
        if len(body) > limits.max_bytes:
            raise ServiceError("image_too_large", f"the image is larger than {limits.max_bytes:,} bytes")
    if declared is not None and declared.strip().isdigit() and len(body) < int(declared):
        raise ServiceError("fetch_failed", "the download was cut short before the declared length")
    return bytes(body)


def fetch_image(url: str, limits: FetchLimits, resolver: Resolver = system_resolver) -> bytes:
    """The bytes at url, following at most `limits.max_redirects` redirects, each re-checked."""
    deadline = time.monotonic() + limits.deadline
    for _ in range(limits.max_redirects + 1):
        target = _parse_url(url)
        address = _checked_address(target, resolver, limits.allow_private)
        location, body = _get_once(target, address, limits, deadline)
        if location is None:
            return body
        url = urljoin(url, location)
    raise ServiceError(
        "too_many_redirects", f"the image URL redirected more than {limits.max_redirects} times"
    )
