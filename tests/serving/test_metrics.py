"""The request's log line as CloudWatch's embedded metric format (EMF): written by the real handler
answering with the shipped model (whose card has both alerts and the out-of-distribution check),
valid by the format's specification, and carrying exactly the metrics, dimensions and namespace
that template.yaml's dashboard and drift alarms read."""

import base64
import json
import re
import time
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

from skinlesion.classes import CLASS_CODES
from skinlesion.serving import metrics
from skinlesion.serving.config import Settings
from skinlesion.serving.handler import Service, handle
from tests.conftest import REPO, SHIPPED_MODEL
from tests.support.events import rest_api_event
from tests.support.images import jpeg

TEMPLATE = yaml_parse((REPO / "template.yaml").read_text())
NAMESPACE = TEMPLATE["Parameters"]["MetricsNamespace"]["Default"]
FUNCTION = "skin-lesion-classifier"
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
UNITS = {
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
    "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second",
    "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second",
    "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
}  # fmt: skip


@pytest.fixture(scope="module")
def shipped() -> Service:
    return Service(Settings(model_path=SHIPPED_MODEL))


@pytest.fixture
def in_lambda(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment template.yaml gives the function (and Lambda's own variable)."""
    monkeypatch.setenv(metrics.NAMESPACE_ENV, NAMESPACE)
    monkeypatch.setenv(metrics.FUNCTION_NAME_ENV, FUNCTION)


def request_line(
    event: dict[str, Any], service: Service, capsys: pytest.CaptureFixture[str]
) -> dict[str, Any]:
    capsys.readouterr()
    handle(event, None, service)
    (line,) = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    return line


def image(seed: int) -> dict[str, str]:
    return {"image": base64.b64encode(jpeg(600, 450, seed=seed)).decode()}


def emf_metrics(line: dict[str, Any]) -> dict[str, tuple[list[str], str]]:
    """Checks the line against the EMF specification; each metric's dimension set and unit."""
    block = line["_aws"]
    assert isinstance(block["Timestamp"], int) and abs(block["Timestamp"] / 1000 - time.time()) < 60
    found: dict[str, tuple[list[str], str]] = {}
    assert block["CloudWatchMetrics"]
    for directive in block["CloudWatchMetrics"]:
        assert set(directive) == {"Namespace", "Dimensions", "Metrics"}
        assert isinstance(directive["Namespace"], str) and 0 < len(directive["Namespace"]) <= 255
        (dimensions,) = directive["Dimensions"]  # one dimension set each: one series per metric
        assert len(dimensions) <= 30
        for dimension in dimensions:
            assert isinstance(line[dimension], str) and line[dimension]
        assert 0 < len(directive["Metrics"]) <= 100
        for definition in directive["Metrics"]:
            name = definition["Name"]
            assert isinstance(name, str) and 0 < len(name) <= 255 and name not in found
            assert definition["Unit"] in UNITS
            values = line[name] if isinstance(line[name], list) else [line[name]]
            assert 0 < len(values) <= 100
            assert all(type(value) in (int, float) for value in values)  # JSON numbers, not booleans
            found[name] = (dimensions, definition["Unit"])
    return found


def test_a_real_answer_is_a_valid_emf_record(
    shipped: Service, in_lambda: None, capsys: pytest.CaptureFixture[str]
) -> None:
    line = request_line(image(seed=3), shipped, capsys)
    found = emf_metrics(line)
    assert line["_aws"]["CloudWatchMetrics"][0]["Namespace"] == NAMESPACE
    assert set(found) == {*metrics.IMAGE_METRICS, metrics.LATENCY}
    assert all(dimensions == ["FunctionName", "ModelVersion"] for dimensions, _ in found.values())
    assert (line["FunctionName"], line["ModelVersion"]) == (FUNCTION, shipped.model.info["version"])
    assert [line[metrics.PREDICTED[code]] for code in CLASS_CODES] == [
        int(code == line["prediction"]) for code in CLASS_CODES
    ]
    assert {line[name] for name in ("MelanomaAlert", "MalignantAlert", "OutOfDistribution")} <= {0, 1}
    assert line["MetadataUsed"] == 0
    assert line["Latency"] == line["ms"] and found["Latency"][1] == "Milliseconds"


def test_a_batch_counts_each_image_and_each_error_code(
    shipped: Service, in_lambda: None, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = {"image": "not base64!"}
    line = request_line({"instances": [image(seed=1), bad, image(seed=2), bad]}, shipped, capsys)
    found = emf_metrics(line)
    assert len(line["Predicted_nv"]) == len(line["OutOfDistribution"]) == 2
    assert [sum(line[metrics.PREDICTED[code]][i] for code in CLASS_CODES) for i in range(2)] == [1, 1]
    assert line["Latency"] == line["ms"]  # once per request, not per image
    assert line["Error_invalid_base64"] == 2 and found["Error_invalid_base64"] == (["FunctionName"], "Count")


def test_an_error_answer_counts_its_code_by_function_only(
    shipped: Service, in_lambda: None, capsys: pytest.CaptureFixture[str]
) -> None:
    line = request_line({"url": "ftp://example.org/lesion.jpg"}, shipped, capsys)
    assert emf_metrics(line) == {"Error_url_refused": (["FunctionName"], "Count")}
    assert line["Error_url_refused"] == 1 and "ModelVersion" not in line


def test_nothing_is_counted_without_a_namespace_nor_for_the_page_or_a_preflight(
    shipped: Service, in_lambda: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    page = {**rest_api_event(None, method="GET"), "resource": "/", "path": "/"}
    for event in (page, rest_api_event(None, method="OPTIONS")):
        assert "_aws" not in request_line(event, shipped, capsys)
    monkeypatch.delenv(metrics.NAMESPACE_ENV)  # the local emulator, tests: the line as before
    assert "_aws" not in request_line(image(seed=3), shipped, capsys)


def dashboard_expressions() -> list[str]:
    """Every metric query of the dashboard, its body substituted as CloudFormation would."""
    body, variables = TEMPLATE["Resources"]["ModelDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    parameters = TEMPLATE["Parameters"]

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("!"):  # a literal ${...}: a dynamic label of CloudWatch's own
            return "${" + name[1:] + "}"
        if name in variables:
            return "0.1"
        return str(parameters[name]["Default"]) if name in parameters else name

    widgets = json.loads(re.sub(r"\$\{([^}]+)\}", value, body))["widgets"]
    return [
        query["expression"]
        for widget in widgets
        for row in widget["properties"].get("metrics", [])
        for query in row
    ]


def test_the_dashboard_and_the_drift_alarms_read_exactly_the_metrics_written(
    shipped: Service, in_lambda: None, capsys: pytest.CaptureFixture[str]
) -> None:
    written = emf_metrics(request_line({"instances": [image(seed=3), {"url": "ftp://x"}]}, shipped, capsys))
    read: dict[str, set[str]] = {}
    for expression in dashboard_expressions():
        (schema,) = re.findall(r"SEARCH\('\{([^}]+)\}", expression)
        namespace, *dimensions = schema.split(",")
        assert namespace == NAMESPACE
        names = set(re.findall(r'MetricName="(\w+)"', expression))
        read.setdefault(",".join(dimensions), set()).update(names or {"(all)"})
    assert read.pop("FunctionName") == {"(all)"}  # every error count, whatever its code
    assert read == {"FunctionName,ModelVersion": {*metrics.IMAGE_METRICS, metrics.LATENCY}}
    assert all(
        written[name][0] == ["FunctionName", "ModelVersion"] for name in read["FunctionName,ModelVersion"]
    )
    assert all(written[name][0] == ["FunctionName"] for name in written if name.startswith("Error_"))

    for alarm in ("MelanomaAlertDriftAlarm", "OodDriftAlarm"):
        for query in TEMPLATE["Resources"][alarm]["Properties"]["Metrics"]:
            if "MetricStat" in query:
                metric = query["MetricStat"]["Metric"]
                assert metric["Namespace"] == {"Ref": "MetricsNamespace"}
                assert written[metric["MetricName"]][0] == [
                    dimension["Name"] for dimension in metric["Dimensions"]
                ]
