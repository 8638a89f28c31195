"""The clinic page in a real browser (Debian's Chromium), over the real handler: the Lambda
emulator serving the shipped model behind the local API Gateway stand-in (devtools/http_front.py).

CI installs chromium and chromium-driver and sets REQUIRE_BROWSER=1, so there a missing browser
fails instead of skipping.
"""

import csv
import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.http_front import serving
from devtools.lambda_emulator import free_port, running
from skinlesion import contract
from skinlesion.classes import CLASS_CODES
from skinlesion.paths import DEFAULT_MODEL_PATH
from tests.support import webdriver

pytestmark = pytest.mark.emulator

DONE = "return document.body.dataset.state === 'done' && document.querySelectorAll('.result').length > 0"
PANEL = {"age": "#patient-age", "sex": "#patient-sex", "site": "#patient-site"}
IMAGE_ALONE = "From the image alone (no patient details)."
# Each image's age, sex and site as the page sends them (the keys present), request by request.
RECORD_PATIENTS = (
    "window.sent = []; const send = window.fetch;"
    "window.fetch = (url, options) => { const body = JSON.parse(options.body);"
    "  for (const item of body.instances || [body]) {"
    "    const given = ['age', 'sex', 'site'].filter(k => k in item);"
    "    window.sent.push(Object.fromEntries(given.map(k => [k, item[k]]))); }"
    "  return send(url, options); };"
)


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


def settled(results: int) -> str:
    return (
        "return document.body.dataset.state === 'done' && "
        f"document.querySelectorAll('.result:not([data-state=pending])').length === {results}"
    )


def card_fields(result: int) -> dict[str, str]:
    return {key: f"#result-{result} .card-patient [name={key}]" for key in ("age", "sex", "site")}


def set_values(browser: webdriver.Browser, fields: dict[str, str], **values: str) -> None:
    """Sets the fields, then fires one change, as a person's last edit would."""
    browser.script(
        "const [fields, values] = arguments; let last;"
        "for (const [key, value] of Object.entries(values)) {"
        "  last = document.querySelector(fields[key]); last.value = value; }"
        "last.dispatchEvent(new Event('change', {bubbles: true}));",
        fields,
        values,
    )


def outcome(browser: webdriver.Browser, result: int) -> str:
    """What a result says of the patient details it used, or its error code."""
    return browser.script(
        "const card = document.getElementById('result-' + arguments[0]);"
        "const error = card.querySelector('.error');"
        "return error ? error.dataset.code : card.querySelector('.patient-used').textContent;",
        result,
    )


def downloaded_csv(browser: webdriver.Browser) -> list[dict[str, str]]:
    """The rows of the CSV that "Download CSV" makes, caught as the page hands it to the browser."""
    browser.script(
        "const make = URL.createObjectURL;"
        "URL.createObjectURL = blob => {"
        "  blob.text().then(text => { window.csv = text; }); return make(blob); };"
        "document.getElementById('download-csv').click();"
    )
    text = browser.wait_for("return window.csv")
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


def test_patient_details_go_with_each_image_and_can_be_changed_per_image(
    page_url: str, browser: webdriver.Browser, fullres_images: list[Path]
) -> None:
    """The panel's details are copied onto the images added while they are set; a result's own,
    changed, classify it again; the shipped model uses them."""
    browser.open(page_url)
    browser.script(RECORD_PATIENTS)
    browser.type_into(browser.find("#patient-age"), "63")
    set_values(browser, PANEL, sex="male", site="lower extremity")
    browser.type_into(browser.find("#file-input"), str(fullres_images[0]))
    browser.wait_for(settled(1))
    set_values(browser, PANEL, age="", sex="", site="")
    browser.type_into(browser.find("#file-input"), str(fullres_images[1]))
    browser.wait_for(settled(2))
    assert browser.script("return window.sent") == [{"age": 63, "sex": "male", "site": "lower extremity"}, {}]
    shown = browser.script(
        "return Object.values(arguments[0]).map(css => document.querySelector(css).value)", card_fields(1)
    )
    assert shown == ["63", "male", "lower extremity"]
    assert outcome(browser, 1).startswith("With the patient's details: age 63, male, lower extremity")
    assert outcome(browser, 2) == IMAGE_ALONE

    set_values(browser, card_fields(2), site="back")
    browser.wait_for(settled(2))
    assert browser.script("return window.sent.slice(2)") == [{"site": "back"}]
    assert outcome(browser, 2).startswith("With the patient's details: back")
    set_values(browser, card_fields(1), age="", sex="", site="")
    browser.wait_for(settled(2))
    assert browser.script("return window.sent.slice(3)") == [{}]
    assert outcome(browser, 1) == IMAGE_ALONE
    assert browser.attribute(browser.find("#result-1"), "data-prediction") in CLASS_CODES

    rows = downloaded_csv(browser)
    assert list(rows[0]) == list(contract.RESULT_COLUMNS)  # the batch scorer's columns
    used = [(row["age"], row["sex"], row["site"]) for row in rows]
    assert used == [("", "", ""), ("", "", "back")]


def test_the_details_an_answer_used_are_shown_and_exported(
    page_url: str, browser: webdriver.Browser, fullres_images: list[Path]
) -> None:
    """Whatever the shipped model takes: an answer that used metadata (the contract's own shape,
    given by a stand-in for fetch) shows them in its result and in its CSV row."""
    probabilities = {code: 0.1 for code in CLASS_CODES} | {"mel": 0.4}
    model: contract.ModelInfo = {"name": "stand-in", "version": "0", "sha256": "0" * 12}
    used = {"age": 63.0, "sex": "male", "site": "lower extremity"}
    answer = contract.prediction(probabilities, model, metadata=used)
    browser.open(page_url)
    browser.script(
        "const answer = JSON.stringify(arguments[0]);"
        "window.fetch = async () => new Response(answer, {headers: {'Content-Type': 'application/json'}});",
        answer,
    )
    browser.type_into(browser.find("#file-input"), str(fullres_images[0]))
    browser.wait_for(settled(1))
    assert outcome(browser, 1).startswith("With the patient's details: age 63, male, lower extremity")
    (row,) = downloaded_csv(browser)
    assert (row["error_code"], row["age"], row["sex"], row["site"]) == ("", "63", "male", "lower extremity")
    assert row["prediction"] == "mel"
