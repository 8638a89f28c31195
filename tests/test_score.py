"""Batch scoring (python -m skinlesion.score): in this process, against the real handler under the
Lambda emulator, and against a loopback stand-in that throttles; resuming, bad files, evaluation."""

import base64
import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest

from devtools.lambda_emulator import free_port
from skinlesion.classes import CLASS_CODES, MALIGNANT_CODES
from skinlesion.contract import ServiceError
from skinlesion.score import backends
from skinlesion.score.__main__ import main
from skinlesion.score.backends import Backend
from skinlesion.score.batches import Request, plan
from skinlesion.score.inputs import list_csv
from skinlesion.score.results import COLUMNS, COLUMNS_WITHOUT_METADATA
from tests.support.fake_lambda import FakeLambda, answer_for
from tests.support.image_server import ImageServer
from tests.support.images import encode, jpeg, lesion_like

FAST = ("--backoff", "0.01")


def score(*args: object) -> int:
    return main([str(arg) for arg in args])


def read_rows(out: Path) -> list[dict[str, str]]:
    with out.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == COLUMNS
        return list(reader)


def rows_by_image(out: Path) -> dict[str, dict[str, str]]:
    rows = read_rows(out)
    by_image = {row["image"]: row for row in rows}
    assert len(by_image) == len(rows), "an image has two rows"
    return by_image


def probabilities(row: dict[str, str]) -> np.ndarray:
    return np.array([float(row[f"p_{code}"]) for code in CLASS_CODES])


@pytest.fixture
def images(tmp_path: Path) -> Path:
    """Three lesion-like images (one in a subfolder, one PNG), a text file named .jpg, and a
    file that is not an image by its name."""
    folder = tmp_path / "images"
    (folder / "sub").mkdir(parents=True)
    (folder / "ISIC_0000001.jpg").write_bytes(jpeg(120, 90, seed=1))
    (folder / "ISIC_0000002.JPG").write_bytes(jpeg(150, 100, seed=2))
    (folder / "sub" / "ISIC_0000003.png").write_bytes(encode(lesion_like(100, 80, seed=3), "PNG"))
    (folder / "notes.jpg").write_text("not an image, whatever its name says")
    (folder / "readme.txt").write_text("not listed")
    return folder


@pytest.fixture
def good_images(tmp_path: Path) -> Path:
    folder = tmp_path / "good"
    folder.mkdir()
    for seed in (1, 2):
        (folder / f"lesion_{seed}.jpg").write_bytes(jpeg(100, 80, seed=seed))
    return folder


def test_local_scores_every_image_and_resumes(images: Path, tmp_path: Path, tiny_model: Path) -> None:
    out = tmp_path / "results.csv"
    assert score(images, "--out", out, "--model", tiny_model) == 0
    rows = read_rows(out)
    assert [row["image"] for row in rows] == [
        "ISIC_0000001.jpg",
        "ISIC_0000002.JPG",
        "notes.jpg",
        "sub/ISIC_0000003.png",
    ]
    by_image = {row["image"]: row for row in rows}
    bad = by_image.pop("notes.jpg")
    assert bad["error_code"] == "not_an_image" and bad["error_message"]
    assert bad["prediction"] == "" and bad["p_mel"] == ""
    for row in by_image.values():
        p = probabilities(row)
        assert p.sum() == pytest.approx(1.0, abs=1e-4)
        assert row["prediction"] == CLASS_CODES[int(p.argmax())] and row["label"]
        malignant = sum(float(row[f"p_{code}"]) for code in MALIGNANT_CODES)
        assert float(row["malignant_probability"]) == pytest.approx(malignant)
        assert row["error_code"] == row["error_message"] == ""
        # The tiny model's card has no operating points and the model no score: left empty.
        assert row["melanoma_alert"] == row["malignant_alert"] == row["out_of_distribution"] == ""

    first = out.read_bytes()
    assert score(images, "--out", out, "--model", tiny_model) == 0
    assert out.read_bytes() == first, "a second run re-scored images already in --out"

    (images / "ISIC_0000004.jpg").write_bytes(jpeg(110, 90, seed=4))
    assert score(images, "--out", out, "--model", tiny_model) == 0
    grown = out.read_bytes()
    assert grown.startswith(first)
    added = read_rows(out)[4:]
    assert [row["image"] for row in added] == ["ISIC_0000004.jpg"] and added[0]["prediction"]

    # A run killed while writing leaves half a row: it is dropped and that image scored again.
    out.write_bytes(grown[:-15])
    assert score(images, "--out", out, "--model", tiny_model) == 0
    assert out.read_bytes() == grown


def test_local_refuses_files_over_the_limit_unread(tmp_path: Path, tiny_model: Path, monkeypatch) -> None:
    folder = tmp_path / "sizes"
    folder.mkdir()
    (folder / "small.jpg").write_bytes(jpeg(60, 40))
    (folder / "large.jpg").write_bytes(jpeg(600, 450))
    monkeypatch.setenv("MAX_IMAGE_BYTES", "5000")  # --local applies the service's own settings
    out = tmp_path / "results.csv"
    assert score(folder, "--out", out, "--model", tiny_model) == 0
    rows = rows_by_image(out)
    assert rows["small.jpg"]["prediction"]
    assert rows["large.jpg"]["error_code"] == "image_too_large"
    assert "MAX_IMAGE_BYTES" in rows["large.jpg"]["error_message"]


@pytest.mark.emulator
def test_endpoint_gives_the_same_rows_as_local(
    images: Path, tmp_path: Path, tiny_model: Path, endpoint: str
) -> None:
    local_out, remote_out = tmp_path / "local.csv", tmp_path / "remote.csv"
    assert score(images, "--out", local_out, "--model", tiny_model) == 0
    # The emulator serves one invocation at a time and crashes on concurrent ones: this proxy takes
    # two requests at once (holding them until both are in), then passes them on in turn.
    with FakeLambda(upstream=endpoint, together=2) as proxy:
        code = score(
            images, "--out", remote_out, "--endpoint", proxy.url, "--batch-size", 2, "--concurrency", 2
        )
    assert code == 0
    assert proxy.max_in_flight == 2
    assert sorted(len(request["instances"]) for request in proxy.requests) == [2, 2]
    local, remote = rows_by_image(local_out), rows_by_image(remote_out)
    assert local.keys() == remote.keys()
    for image, row in local.items():
        other = remote[image]
        assert [row[key] for key in ("prediction", "label", "error_code", "error_message")] == [
            other[key] for key in ("prediction", "label", "error_code", "error_message")
        ]
        if not row["error_code"]:
            np.testing.assert_allclose(probabilities(other), probabilities(row), atol=1e-5)


@pytest.mark.emulator
def test_csv_of_relative_paths_and_urls(
    tmp_path: Path, tiny_model: Path, image_server: ImageServer, endpoint: str, monkeypatch
) -> None:
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "a.jpg").write_bytes(jpeg(130, 100, seed=4))
    url = image_server.add("score-b.jpg", jpeg(140, 100, seed=5))
    missing_url = image_server.url("/status/404")
    table = tmp_path / "list.csv"
    table.write_text(
        f"note,path\nfile,imgs/a.jpg\nurl,{url}\n404,{missing_url}\ngone,imgs/gone.jpg\ntwice,imgs/a.jpg\n,\n"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # paths are relative to the CSV's folder, not to the current one
    monkeypatch.setenv("ALLOW_PRIVATE_URLS", "1")  # --local fetches as the service would: loopback allowed
    monkeypatch.setenv("FETCH_DEADLINE", "3")

    assert score(table, "--out", "local.csv", "--model", tiny_model) == 0
    # The emulator's invoke URL: one request at a time by default, so it survives.
    assert score(table, "--out", "remote.csv", "--endpoint", endpoint) == 0
    runs = [rows_by_image(elsewhere / name) for name in ("local.csv", "remote.csv")]
    for rows in runs:
        assert set(rows) == {"imgs/a.jpg", url, missing_url, "imgs/gone.jpg"}
        assert rows["imgs/a.jpg"]["prediction"] and rows[url]["prediction"]
        assert rows[missing_url]["error_code"] == "fetch_failed"
        assert rows["imgs/gone.jpg"]["error_code"] == "fetch_failed"
        assert "No such file" in rows["imgs/gone.jpg"]["error_message"]
    for image in ("imgs/a.jpg", url):
        np.testing.assert_allclose(probabilities(runs[1][image]), probabilities(runs[0][image]), atol=1e-5)


def test_throttling_is_retried(good_images: Path, tmp_path: Path) -> None:
    failures = [
        (429, b'{"message": "Too Many Requests"}', {}),  # API Gateway
        (  # Lambda's invoke API
            429,
            b'{"Type": "User", "message": "Rate Exceeded."}',
            {"x-amzn-ErrorType": "TooManyRequestsException"},
        ),
    ]
    out = tmp_path / "results.csv"
    with FakeLambda(failures) as fake:
        code = score(good_images, "--out", out, "--endpoint", fake.url, "--batch-size", 2, *FAST)
    assert code == 0
    assert len(fake.requests) == 3
    rows = rows_by_image(out)
    assert set(rows) == {"lesion_1.jpg", "lesion_2.jpg"}
    for row in rows.values():
        assert row["error_code"] == "" and row["prediction"] == "mel"
        assert (row["melanoma_alert"], row["malignant_alert"]) == ("True", "False")
        assert (row["out_of_distribution"], row["ood_reasons"]) == ("True", "features; texture")


def test_lasting_throttling_becomes_error_rows_and_retry_errors_scores_them(
    good_images: Path, tmp_path: Path
) -> None:
    out = tmp_path / "results.csv"
    with FakeLambda([(429, b"Too Many Requests", {})] * 2) as fake:
        args = (good_images, "--out", out, "--endpoint", fake.url, "--batch-size", 2, *FAST)
        assert score(*args, "--max-retries", 1) == 0
        assert len(fake.requests) == 2  # a throttled batch is not split into more requests
        for row in read_rows(out):
            assert row["error_code"] == "throttled" and "after 1 retries" in row["error_message"]
        assert score(*args) == 0
        assert len(fake.requests) == 2, "error rows are in --out: skipped without --retry-errors"
        assert score(*args, "--retry-errors") == 0
    assert len(fake.requests) == 3
    rows = rows_by_image(out)
    assert len(rows) == 2 and all(row["prediction"] == "mel" for row in rows.values())


@pytest.mark.parametrize(
    ("failure", "n_requests", "first_code"),
    [
        ((503, b'{"message": "Service Unavailable"}', {}), 3, ""),  # the gateway's: asked again
        (  # the service's own answer, which API Gateway sends as a 502: final
            (502, json.dumps(ServiceError("fetch_failed", "HTTP 404").to_dict()).encode(), {}),
            2,
            "fetch_failed",
        ),
    ],
)
def test_gateway_errors_are_retried_the_services_own_are_not(
    good_images: Path, tmp_path: Path, failure: tuple, n_requests: int, first_code: str
) -> None:
    out = tmp_path / "results.csv"
    with FakeLambda([failure]) as fake:
        code = score(
            good_images, "--out", out, "--endpoint", fake.url, "--batch-size", 1, "--concurrency", 1, *FAST
        )
    assert code == 0 and len(fake.requests) == n_requests
    assert "url" not in fake.requests[0] and "instances" not in fake.requests[0]  # one image, as base64
    rows = rows_by_image(out)
    assert (rows["lesion_1.jpg"]["error_code"], rows["lesion_2.jpg"]["error_code"]) == (first_code, "")


def test_a_batch_failing_as_a_whole_is_sent_again_image_by_image(good_images: Path, tmp_path: Path) -> None:
    crash = json.dumps(ServiceError("internal_error", "internal error").to_dict()).encode()
    out = tmp_path / "results.csv"
    with FakeLambda([(500, crash, {})]) as fake:
        assert score(good_images, "--out", out, "--endpoint", fake.url, "--batch-size", 2, *FAST) == 0
    assert [len(request.get("instances", [0])) for request in fake.requests] == [2, 1, 1]
    assert all(row["prediction"] == "mel" for row in read_rows(out))


def test_requests_stay_under_the_payload_limit(tmp_path: Path, monkeypatch) -> None:
    """Base64 grows a file by 4/3: with a 40,000-byte limit, 9,000-byte files go 3 to a request,
    and a 31,000-byte file (41,336 in base64) is never sent."""
    monkeypatch.setattr(backends, "PAYLOAD_LIMIT", 40_000)
    folder = tmp_path / "sized"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(5):
        (folder / f"{i}.jpg").write_bytes(rng.bytes(9_000))  # the stand-in does not decode
    big = rng.bytes(31_000)
    (folder / "big.jpg").write_bytes(big)
    out = tmp_path / "results.csv"
    with FakeLambda() as fake:
        code = score(folder, "--out", out, "--endpoint", fake.url, "--batch-size", 16, "--concurrency", 1)
    assert code == 0
    assert [len(request["instances"]) for request in fake.requests] == [3, 2]
    assert max(fake.sizes) <= 40_000
    sent = {instance["image"] for request in fake.requests for instance in request["instances"]}
    assert len(sent) == 5 and base64.b64encode(big).decode() not in sent
    rows = rows_by_image(out)
    assert rows["big.jpg"]["error_code"] == "image_too_large"
    assert all(rows[f"{i}.jpg"]["prediction"] for i in range(5))


def test_function_name_invokes_with_boto3(
    good_images: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3
    from botocore.response import StreamingBody
    from botocore.stub import Stubber

    def payload(answer: dict) -> StreamingBody:
        body = json.dumps(answer).encode()
        return StreamingBody(io.BytesIO(body), len(body))

    client = boto3.client(
        "lambda", region_name="eu-west-1", aws_access_key_id="test", aws_secret_access_key="test"
    )
    stubber = Stubber(client)
    stubber.add_client_error("invoke", "TooManyRequestsException", "Rate Exceeded.", http_status_code=429)
    stubber.add_response("invoke", {"StatusCode": 200, "Payload": payload(answer_for({"image": "x"}))})
    crashed = {"errorMessage": "Task timed out after 30.00 seconds", "errorType": "Sandbox.Timedout"}
    stubber.add_response(
        "invoke", {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": payload(crashed)}
    )
    stubber.activate()
    monkeypatch.setattr(boto3, "client", lambda *args, **kwargs: client)

    out = tmp_path / "results.csv"
    args = ("--function-name", "skin-lesion-classifier", "--batch-size", 1, "--concurrency", 1, *FAST)
    assert score(good_images, "--out", out, *args) == 0
    stubber.assert_no_pending_responses()
    rows = rows_by_image(out)
    assert rows["lesion_1.jpg"]["prediction"] == "mel"
    crash = rows["lesion_2.jpg"]
    assert crash["error_code"] == "lambda_error" and "Sandbox.Timedout" in crash["error_message"]


def test_an_unreachable_or_refusing_endpoint_stops_the_run(good_images: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "results.csv"
    dead = f"http://127.0.0.1:{free_port()}/prod/predict"
    assert score(good_images, "--out", out, "--endpoint", dead, "--max-retries", 1, *FAST) == 1
    assert "cannot reach" in capsys.readouterr().err
    with FakeLambda([(403, b'{"message": "Forbidden"}', {})]) as fake:
        assert score(good_images, "--out", out, "--endpoint", fake.url) == 1
    assert len(fake.requests) == 1 and "HTTP 403" in capsys.readouterr().err
    assert read_rows(out) == []  # no row claims an image failed: running again scores them all


def test_labels_add_an_evaluation(images: Path, tmp_path: Path, tiny_model: Path, capsys) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "lesion_id,image_id,dx\nHAM_1,ISIC_0000001,mel\nHAM_2,ISIC_0000002,nv\nHAM_2,ISIC_0000003,nv\n"
        "HAM_3,ISIC_0009999,bkl\n"
    )
    out = tmp_path / "run" / "results.csv"
    assert score(images, "--out", out, "--model", tiny_model, "--labels", labels) == 0
    summary, png = out.with_name("results_evaluation.md"), out.with_name("results_confusion.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = summary.read_text()
    assert "| balanced accuracy | " in text and "## Per class" in text and "(results_confusion.png)" in text
    assert "3 scored images with a label, 2 lesions" in text and "1 error rows" in text
    assert "not available: the model's card has no melanoma operating point" in text
    printed = capsys.readouterr().out
    assert str(summary) in printed and str(png) in printed

    # Where the answers carry the card's melanoma alert (here, on for every image):
    fake_out = tmp_path / "fake.csv"
    with FakeLambda() as fake:
        assert score(images, "--out", fake_out, "--endpoint", fake.url, "--labels", labels) == 0
    text = fake_out.with_name("fake_evaluation.md").read_text()
    assert "| 1.000 (1 of 1 melanomas flagged) |" in text
    assert "| 0.000 (0 of 2 other lesions not flagged) |" in text
    assert "| flagged out of distribution | 3 of 3 |" in text
    assert "| balanced accuracy | 0.500" in text  # always mel: recall 1 for mel, 0 for nv
    assert "| nv | 2 | 0.000 [0.000, 0.000] | n/a |" in text  # never predicted: no precision
    assert "| df | 0 | n/a | n/a |" in text


@pytest.mark.parametrize(
    "case",
    [
        "missing input",
        "empty folder",
        "remote option with --local",
        "local option with --endpoint",
        "not an http URL",
        "two modes",
        "batch over 16",
        "labels without dx",
        "labels with unknown dx",
        "CSV without path",
        "out with other columns",
        "missing model",
    ],
)
def test_bad_arguments_exit_2(case: str, images: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "nodx.csv").write_text("image_id,diagnosis\nISIC_0000001,mel\n")
    (tmp_path / "baddx.csv").write_text("image_id,dx\nISIC_0000001,melanoma\n")
    (tmp_path / "nopath.csv").write_text("file\na.jpg\n")
    (tmp_path / "other.csv").write_text("id,score\n1,0.5\n")
    url = "http://127.0.0.1:9/prod/predict"
    args = {
        "missing input": [tmp_path / "nowhere"],
        "empty folder": [empty],
        "remote option with --local": [images, "--batch-size", 4],
        "local option with --endpoint": [images, "--endpoint", url, "--model", "x.tflite"],
        "not an http URL": [images, "--endpoint", "ftp://example.org/x"],
        "two modes": [images, "--endpoint", url, "--function-name", "f"],
        "batch over 16": [images, "--endpoint", url, "--batch-size", 17],
        "labels without dx": [images, "--labels", tmp_path / "nodx.csv"],
        "labels with unknown dx": [images, "--labels", tmp_path / "baddx.csv"],
        "CSV without path": [tmp_path / "nopath.csv"],
        "out with other columns": [images, "--out", tmp_path / "other.csv"],
        "missing model": [images, "--model", tmp_path / "none.tflite"],
    }[case]
    with pytest.raises(SystemExit) as exit_info:
        score(*args, *([] if "--out" in args else ["--out", tmp_path / "results.csv"]))
    assert exit_info.value.code == 2
    assert not (tmp_path / "results.csv").exists()


def test_the_api_key_is_sent_on_every_request(good_images: Path, tmp_path: Path) -> None:
    """API Gateway checks the key; the scorer's job is to send it (x-api-key), retries included."""
    with FakeLambda([(429, b'{"message": "Too Many Requests"}', {})]) as fake:
        code = score(
            good_images, "--out", tmp_path / "r.csv", "--endpoint", fake.url, "--api-key", "k-123", *FAST
        )
    assert code == 0 and fake.api_keys and set(fake.api_keys) == {"k-123"}


def patients_csv(folder: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    """A list of images (written to `folder`, each different) with the patient's age, sex and site."""
    table = folder / "patients.csv"
    lines = ["path,age,sex,site"]
    for seed, (name, *metadata) in enumerate(rows, start=1):
        if not name.startswith("http"):
            (folder / name).write_bytes(jpeg(100, 80, seed=seed))
        lines.append(",".join([name, *metadata]))
    table.write_text("\n".join(lines) + "\n")
    return table


def test_each_request_item_carries_its_rows_metadata(tmp_path: Path) -> None:
    """Age as a number, other text as written (the service reads synonyms, and refuses what it does
    not know: the scorer does not judge), empty cells left out; the size estimate stays honest."""
    table = patients_csv(
        tmp_path,
        [
            ("a.jpg", "63", "m", "leg"),
            ("b.jpg", " 45.5 ", "", "lower extremity"),
            ("c.jpg", "", "", ""),
            ("d.jpg", "old", "female", "elbowpit"),
            ("e.jpg", "nan", "unknown", ""),
            ("https://example.org/f.jpg", "30", "", "back"),
            ("a.jpg", "20", "f", "face"),  # listed again: scored once, as first listed
        ],
    )
    items = list_csv(table)
    backend = Backend(
        answer=lambda payload: {},
        describe="",
        concurrency=1,
        batch_size=16,
        payload_limit=math.inf,
        refuse=lambda size: None,
    )
    (request,) = plan(items, backend)
    assert isinstance(request, Request)
    metadata = [
        {k: v for k, v in instance.items() if k not in ("image", "url")} for instance in request.instances
    ]
    assert metadata == [
        {"age": 63.0, "sex": "m", "site": "leg"},
        {"age": 45.5, "site": "lower extremity"},
        {},
        {"age": "old", "sex": "female", "site": "elbowpit"},
        {"age": "nan", "sex": "unknown"},
        {"age": 30.0, "site": "back"},
    ]
    assert request.instances[0]["image"] == base64.b64encode((tmp_path / "a.jpg").read_bytes()).decode()
    assert request.instances[5]["url"] == "https://example.org/f.jpg"
    sent = len(json.dumps({"instances": request.instances}))
    assert sent <= request.size <= sent + 2 * len(request.instances)


def test_metadata_for_a_model_without_a_metadata_model_is_a_row_error(
    tmp_path: Path, tiny_model: Path
) -> None:
    table = patients_csv(
        tmp_path,
        [("given.jpg", "63", "male", "back"), ("none.jpg", "", "", ""), ("unknown.jpg", "", "unknown", "")],
    )
    out = tmp_path / "results.csv"
    assert score(table, "--out", out, "--model", tiny_model) == 0
    rows = rows_by_image(out)
    assert rows["given.jpg"]["error_code"] == "metadata_unavailable" and rows["given.jpg"]["prediction"] == ""
    for name in ("none.jpg", "unknown.jpg"):  # "unknown" is not metadata: the image alone is scored
        assert rows[name]["error_code"] == "" and rows[name]["prediction"]
        assert rows[name]["age"] == rows[name]["sex"] == rows[name]["site"] == ""


def test_the_metadata_used_is_reported_and_a_refused_value_is_its_rows_error(
    tmp_path: Path, tiny_model_with_metadata: Path
) -> None:
    table = patients_csv(
        tmp_path,
        [
            ("read.jpg", "63", "m", "leg"),
            ("site-only.jpg", "", "", "Upper_Back"),
            ("none.jpg", "", "", ""),
            ("bad-site.jpg", "40", "", "elbowpit"),
            ("bad-age.jpg", "old", "", ""),
            ("too-old.jpg", "130", "", ""),
        ],
    )
    out = tmp_path / "results.csv"
    assert score(table, "--out", out, "--model", tiny_model_with_metadata) == 0
    rows = rows_by_image(out)
    used = {
        name: (row["age"], row["sex"], row["site"]) for name, row in rows.items() if not row["error_code"]
    }
    assert used == {
        "read.jpg": ("63.0", "male", "lower extremity"),
        "site-only.jpg": ("", "", "back"),
        "none.jpg": ("", "", ""),
    }
    for name in ("bad-site.jpg", "bad-age.jpg", "too-old.jpg"):
        assert rows[name]["error_code"] == "invalid_metadata", name
        assert rows[name]["error_message"] and rows[name]["age"] == ""


def test_metadata_goes_over_http_and_an_out_from_before_its_columns_is_resumed(tmp_path: Path) -> None:
    table = patients_csv(tmp_path, [("old.jpg", "", "", ""), ("new.jpg", "70", "female", "face")])
    out = tmp_path / "results.csv"
    earlier = dict.fromkeys(COLUMNS_WITHOUT_METADATA, "") | {"image": "old.jpg", "prediction": "nv"}
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, COLUMNS_WITHOUT_METADATA, lineterminator="\n")
        writer.writeheader()
        writer.writerow(earlier)
    with FakeLambda() as fake:
        assert score(table, "--out", out, "--endpoint", fake.url) == 0
    ((instance,),) = [request.get("instances", [request]) for request in fake.requests]
    assert {k: instance[k] for k in ("age", "sex", "site")} == {"age": 70.0, "sex": "female", "site": "face"}
    rows = rows_by_image(out)  # read with the new columns
    assert rows["old.jpg"]["prediction"] == "nv" and rows["old.jpg"]["age"] == ""
    assert rows["new.jpg"]["prediction"] == "mel"
