"""What the service answers, as CloudWatch metrics in the embedded metric format (EMF), written into
the request's own JSON log line: CloudWatch extracts them from the logs it ingests anyway, so there
is no PutMetricData call, no agent, and nothing more to import at cold start.

Per image answered (each item of a batch): the predicted class, whether each alert and the
out-of-distribution flag fired, and whether the patient's metadata was used, as 0 or 1, so that a
period's Average is the rate and its SampleCount the number of images; per request answered, the
handler's latency. Their only dimensions are the function and the model version, so their number
is fixed (12 per model version) whatever the traffic. Per error, the request's or a batch item's:
a count named after its code, by function only (the model may not even be loaded).

template.yaml's dashboard and drift alarms read these names; tests/serving/test_metrics.py keeps
the two in step.
"""

import os
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

from skinlesion.classes import CLASS_CODES

# Set by template.yaml; without it (tests, the local emulator) the log line carries no metrics.
NAMESPACE_ENV = "METRICS_NAMESPACE"
FUNCTION_NAME_ENV = "AWS_LAMBDA_FUNCTION_NAME"  # set by Lambda

ANSWER_DIMENSIONS = ["FunctionName", "ModelVersion"]
ERROR_DIMENSIONS = ["FunctionName"]
PREDICTED = {code: f"Predicted_{code}" for code in CLASS_CODES}
ALERTS = {"melanoma": "MelanomaAlert", "malignant": "MalignantAlert"}
OUT_OF_DISTRIBUTION = "OutOfDistribution"
METADATA_USED = "MetadataUsed"
LATENCY = "Latency"
IMAGE_METRICS = [*PREDICTED.values(), *ALERTS.values(), OUT_OF_DISTRIBUTION, METADATA_USED]


def error_metric(code: str) -> str:
    return f"Error_{code}"


def _image_values(answer: Mapping[str, Any]) -> dict[str, int]:
    """One answered image's 0/1 values; an alert or flag the model does not have is left out."""
    values = {name: int(answer["prediction"] == code) for code, name in PREDICTED.items()}
    for alert, name in ALERTS.items():
        if alert in answer.get("alerts", {}):
            values[name] = int(answer["alerts"][alert]["flag"])
    if "out_of_distribution" in answer:
        values[OUT_OF_DISTRIBUTION] = int(answer["out_of_distribution"]["flag"])
    values[METADATA_USED] = int("metadata" in answer)
    return values


def _directive(namespace: str, dimensions: list[str], values: Mapping[str, Any]) -> dict[str, Any]:
    unit = {LATENCY: "Milliseconds"}
    return {
        "Namespace": namespace,
        "Dimensions": [dimensions],
        "Metrics": [{"Name": name, "Unit": unit.get(name, "Count")} for name in values],
    }


def embedded(payload: Mapping[str, Any], latency_ms: float) -> dict[str, Any]:
    """The keys that make the request's log line an EMF record of `payload` (a prediction, a batch
    answer or an error); none when no namespace is configured or there is nothing to count (the
    page, a CORS preflight). A batch's image values are lists, one value per image; an error's
    value is how many times its code occurs in the answer."""
    namespace = os.environ.get(NAMESPACE_ENV)
    if not namespace:
        return {}
    items = payload.get("predictions", [payload])
    images = [_image_values(item) for item in items if "prediction" in item]
    errors = Counter(error_metric(item["error"]["code"]) for item in items if "error" in item)
    record: dict[str, Any] = {"FunctionName": os.environ.get(FUNCTION_NAME_ENV, "local")}
    directives = []
    if images:
        answered: dict[str, list[float]] = {}
        for values in images:
            for name, value in values.items():
                answered.setdefault(name, []).append(value)
        answered[LATENCY] = [latency_ms]
        directives.append(_directive(namespace, ANSWER_DIMENSIONS, answered))
        record["ModelVersion"] = payload["model"]["version"]
        record.update({name: values[0] if len(values) == 1 else values for name, values in answered.items()})
    if errors:
        directives.append(_directive(namespace, ERROR_DIMENSIONS, errors))
        record.update(errors)
    if not directives:
        return {}
    return {"_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": directives}, **record}
