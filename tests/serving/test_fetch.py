import socket
import time
from dataclasses import replace

import pytest

from skinlesion.contract import ServiceError
from skinlesion.serving.config import Settings
from skinlesion.serving.fetch import USER_AGENT, fetch_image, is_public_address
from tests.support.errors import expect_error
from tests.support.image_server import ImageServer
from tests.support.images import jpeg

STRICT = replace(Settings().fetch_limits, deadline=5.0, read_timeout=2.0)  # the service's, shorter
LOCAL = replace(STRICT, allow_private=True)

# A documentation-only public-looking address: the test maps connections to it onto loopback.
FAKE_PUBLIC_IP = "93.184.215.14"


@pytest.fixture()
def body(image_server: ImageServer) -> bytes:
    data = jpeg(200, 150)
    image_server.add("lesion.jpg", data)
    return data


@pytest.fixture()
def public_alias(image_server: ImageServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """Makes `public.test` resolve to a public address whose connections land on the loopback
    server, so the private-address checks can be tested with them switched ON. Any attempt to
    connect anywhere else than loopback fails the test instead of leaving the machine."""
    original = socket.create_connection

    def create_connection(address: tuple[str, int], *args: object, **kwargs: object) -> socket.socket:
        host, port = address[0], address[1]
        if host == FAKE_PUBLIC_IP:
            return original(("127.0.0.1", image_server.port), *args, **kwargs)
        assert host in ("127.0.0.1", "::1"), f"test tried to connect to {host}"
        return original((host, port), *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", create_connection)
    return f"http://public.test:{image_server.port}"


def public_resolver(host: str, port: int) -> list[str]:
    if host == "public.test":
        return [FAKE_PUBLIC_IP]
    return [info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
        ("::ffff:8.8.8.8", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.251", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:169.254.169.254", False),
        ("2002:7f00:1::", False),
        ("64:ff9b::a9fe:a9fe", False),
    ],
)
def test_public_address_classification(address: str, public: bool) -> None:
    assert is_public_address(address) is public


def test_downloads_an_image_with_a_real_user_agent(image_server: ImageServer, body: bytes) -> None:
    assert fetch_image(image_server.url("/file/lesion.jpg"), LOCAL) == body
    assert image_server.user_agents[-1] == USER_AGENT


def test_follows_redirects_and_ignores_content_type(image_server: ImageServer, body: bytes) -> None:
    image_server.add("mislabelled", body, content_type="text/plain")
    url = image_server.url("/redirect?to=/redirect%3Fto%3D/file/mislabelled")
    assert fetch_image(url, LOCAL) == body


def test_stream_without_length_is_read_to_the_end(image_server: ImageServer, body: bytes) -> None:
    assert fetch_image(image_server.url("/no-length?name=lesion.jpg"), LOCAL) == body


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/a.jpg",
        "gopher://example.com/",
        "data:image/jpeg;base64,AAAA",
        "javascript:alert(1)",
        "//example.com/a.jpg",
        "http://user:secret@example.com/a.jpg",
        "http:///no-host",
    ],
)
def test_refused_urls_never_connect(url: str, image_server: ImageServer) -> None:
    before = len(image_server.requests)
    with pytest.raises(ServiceError) as caught:
        fetch_image(url, STRICT)
    assert caught.value.status == 400
    assert len(image_server.requests) == before


@pytest.mark.parametrize(
    "url", ["http://exa mple.com/", "http://[::1", "http://example.com:99999/", "x" * 3000]
)
def test_malformed_urls_are_bad_requests(url: str) -> None:
    with expect_error(400):
        fetch_image(url, STRICT)


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "[::1]",
        "0x7f000001",
        "2130706433",
        "127.1",
        "0177.0.0.1",
        "169.254.169.254",
        "[::ffff:127.0.0.1]",
        "[::ffff:169.254.169.254]",
        "localhost",
        "0.0.0.0",
    ],
)
def test_private_addresses_are_refused_before_connecting(host: str, image_server: ImageServer) -> None:
    before = len(image_server.requests)
    with expect_error("url_refused"):
        fetch_image(f"http://{host}:{image_server.port}/file/lesion.jpg", STRICT)
    assert len(image_server.requests) == before


def test_public_name_resolving_to_private_address_is_refused(image_server: ImageServer) -> None:
    before = len(image_server.requests)
    with expect_error("url_refused"):
        fetch_image(f"http://rebind.test:{image_server.port}/", STRICT, resolver=lambda h, p: ["10.0.0.7"])
    with expect_error("url_refused"):  # one private answer among public ones is enough to refuse
        fetch_image("http://mixed.test/", STRICT, resolver=lambda h, p: ["8.8.8.8", "127.0.0.1"])
    assert len(image_server.requests) == before


def test_public_host_is_fetched_with_checks_on(public_alias: str, body: bytes) -> None:
    assert fetch_image(f"{public_alias}/file/lesion.jpg", STRICT, resolver=public_resolver) == body


def test_redirect_to_private_address_is_refused(
    public_alias: str, image_server: ImageServer, body: bytes
) -> None:
    private = image_server.url("/file/lesion.jpg")
    before = len(image_server.requests)
    with expect_error("url_refused"):
        fetch_image(f"{public_alias}/redirect?to={private}", STRICT, resolver=public_resolver)
    assert image_server.requests[before:] == [f"/redirect?to={private}"]  # the private hop never happened


def test_redirect_to_metadata_service_is_refused(public_alias: str) -> None:
    with expect_error("url_refused"):
        fetch_image(
            f"{public_alias}/redirect?to=http://169.254.169.254/latest/meta-data/",
            STRICT,
            resolver=public_resolver,
        )


def test_redirect_loops_stop(image_server: ImageServer) -> None:
    before = len(image_server.requests)
    with pytest.raises(ServiceError) as caught:
        fetch_image(image_server.url("/loop"), LOCAL)
    assert caught.value.code == "too_many_redirects"
    assert len(image_server.requests) - before == LOCAL.max_redirects + 1


@pytest.mark.parametrize("status", [404, 403, 500])
def test_upstream_errors_are_bad_gateway(status: int, image_server: ImageServer) -> None:
    with pytest.raises(ServiceError) as caught:
        fetch_image(image_server.url(f"/status/{status}"), LOCAL)
    assert caught.value.status == 502 and str(status) in caught.value.message


def test_dripping_server_hits_the_deadline(image_server: ImageServer) -> None:
    limits = replace(LOCAL, deadline=1.0, read_timeout=5.0)
    started = time.monotonic()
    with pytest.raises(ServiceError) as caught:
        fetch_image(image_server.url("/drip?interval=0.2"), limits)
    assert caught.value.status == 504
    assert time.monotonic() - started < 2.5


def test_silent_server_hits_the_read_timeout() -> None:
    with socket.socket() as listener:  # accepts the connection, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        limits = replace(LOCAL, read_timeout=0.5)
        started = time.monotonic()
        with expect_error("fetch_timeout"):
            fetch_image(f"http://127.0.0.1:{listener.getsockname()[1]}/", limits)
        assert time.monotonic() - started < 2.0


def test_endless_stream_stops_at_the_size_cap(image_server: ImageServer) -> None:
    limits = replace(LOCAL, max_bytes=1024 * 1024)
    with pytest.raises(ServiceError) as caught:
        fetch_image(image_server.url("/endless"), limits)
    assert caught.value.status == 413


def test_declared_oversize_is_refused_without_reading(image_server: ImageServer) -> None:
    image_server.add("big.jpg", b"\xff" * 5000)
    with expect_error("image_too_large"):
        fetch_image(image_server.url("/file/big.jpg"), replace(LOCAL, max_bytes=4000))


def test_lying_content_length_is_a_failed_fetch(image_server: ImageServer, body: bytes) -> None:
    with pytest.raises(ServiceError) as caught:
        fetch_image(image_server.url("/lying-length?name=lesion.jpg"), LOCAL)
    assert "cut short" in caught.value.message


def test_unreachable_and_unresolvable_hosts_are_bad_gateway() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    with expect_error("fetch_failed"):
        fetch_image(f"http://127.0.0.1:{closed_port}/", LOCAL)

    def no_such_host(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with expect_error("fetch_failed"):
        fetch_image("http://no-such-host.test/", STRICT, resolver=no_such_host)
