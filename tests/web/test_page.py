"""The clinic page in a real browser (Debian's Chromium), over the real handler: the Lambda
emulator serving the shipped model behind the local API Gateway stand-in (devtools/http_front.py).

CI installs chromium and chromium-driver and sets REQUIRE_BROWSER=1, so there a missing browser
fails instead of skipping.
"""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.http_front import serving
from devtools.lambda_emulator import free_port, running
from skinlesion.classes import CLASS_CODES
from skinlesion.paths import DEFAULT_MODEL_PATH
from tests.support import webdriver

pytestmark = pytest.mark.emulator

DONE = "return document.body.dataset.state === 'done' && document.querySelectorAll('.result').length > 0"


@pytest.fixture(scope="module")
def page_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not webdriver.available():
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(
                "chromium and chromedriver are required here (apt-get install chromium chromium-driver)"
            )
        pytest.skip("no chromium / chromedriver: apt-get install chromium chromium-driver")
    log = tmp_path_factory.mktemp("page-emulator") / "emulator.log"
    env = {"MODEL_PATH": str(DEFAULT_MODEL_PATH)}
    with running(free_port(), env=env, log=log) as invoke, serving(invoke, free_port()) as url:
        yield url


@pytest.fixture
def browser() -> Iterator[webdriver.Browser]:
    with webdriver.chromium() as session:
        yield session


def test_a_real_image_gets_its_classes_alert_flag_and_heatmap(
    page_url: str, browser: webdriver.Browser, fullres_images: list[Path], tmp_path: Path
) -> None:
    browser.open(page_url)
    assert "not a diagnosis" in browser.text(browser.find("body"))
    browser.type_into(browser.find("#file-input"), str(fullres_images[0]))
    browser.wait_for(DONE)
    (card,) = browser.find_all(".result")
    assert browser.attribute(card, "data-prediction") in CLASS_CODES
    bars = browser.find_all(".result .bar")
    assert sorted(browser.attribute(bar, "data-code") for bar in bars) == sorted(CLASS_CODES)
    text = browser.text(card)
    assert "Melanoma" in text and "sensitivity" in text.lower()
    toggle = browser.find(".heatmap-toggle")
    browser.click(toggle)
    assert browser.script(
        "return [...document.querySelectorAll('.result img')].some(i => i.src.startsWith('data:image/png'))"
    )
    browser.screenshot(tmp_path / "page.png")


def test_several_images_make_a_sortable_table(
    page_url: str, browser: webdriver.Browser, fullres_images: list[Path]
) -> None:
    browser.open(page_url)
    browser.type_into(browser.find("#file-input"), "\n".join(str(path) for path in fullres_images[1:4]))
    browser.wait_for(DONE + " && document.querySelectorAll('.result[data-prediction]').length === 3")
    rows = browser.script("return document.querySelectorAll('#summary tbody tr').length")
    assert rows == 3
    assert browser.find("#download-csv")


def test_a_non_image_shows_the_services_error(
    page_url: str, browser: webdriver.Browser, tmp_path: Path
) -> None:
    fake = tmp_path / "notes.jpg"
    fake.write_text("this is a text file, not a photograph")
    browser.open(page_url)
    browser.type_into(browser.find("#file-input"), str(fake))
    browser.wait_for(DONE)
    error = browser.find(".result .error")
    assert browser.attribute(error, "data-code") == "not_an_image"
    assert "not an image" in browser.text(error)


def test_the_api_key_typed_once_is_sent_with_every_request(
    page_url: str, browser: webdriver.Browser, fullres_images: list[Path]
) -> None:
    """The local front does not check keys (API Gateway does); the page must send it."""
    browser.open(page_url)
    browser.type_into(browser.find("#api-key"), "k-123")
    browser.script("document.getElementById('api-key').dispatchEvent(new Event('change'))")
    browser.script(
        "window.sentKeys = []; const send = window.fetch;"
        "window.fetch = (url, options) => { window.sentKeys.push(options.headers['x-api-key']); "
        "return send(url, options); };"
    )
    browser.type_into(browser.find("#file-input"), str(fullres_images[0]))
    browser.wait_for(DONE)
    assert browser.script("return window.sentKeys") == ["k-123"]
    assert browser.script("return sessionStorage.getItem('skinlesion-api-key')") == "k-123"
