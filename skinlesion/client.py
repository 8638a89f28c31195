"""Calling the service: the local Lambda endpoint, a deployed API Gateway URL, or the function
itself through boto3. Used by test.py and the demonstration notebook. Standard library only
(boto3 only for direct invocation)."""

import base64
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from skinlesion.contract import REQUEST_TIMEOUT_S, client_error_code

LOCAL_ENDPOINT = "http://localhost:8080/2015-03-31/functions/function/invocations"
DEFAULT_IMAGE = "https://upload.wikimedia.org/wikipedia/commons/6/6c/Melanoma.jpg"


class EndpointUnreachable(Exception):
    pass


def build_request(
    image: str | Path, explain: bool | str = False, patient: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A URL is sent for the service to fetch; anything else must be a local file, sent as base64.
    `explain`: True for the predicted class's activation map, or a class code; `patient`: `age`,
    `sex`, `site` as the contract takes them (None values are left out; the service checks them)."""
    text = str(image)
    extra = {"explain": explain} if explain else {}
    extra |= {key: value for key, value in (patient or {}).items() if value is not None}
    if text.startswith(("http://", "https://")):
        return {"url": text, **extra}
    path = Path(image)
    if not path.is_file():
        raise FileNotFoundError(f"{image} is neither an http(s) URL nor a file")
    return {"image": base64.b64encode(path.read_bytes()).decode("ascii"), **extra}


def save_overlay(answer: dict[str, Any], path: Path) -> Path | None:
    """Write the answer's heatmap overlay PNG, if it has one."""
    explanation = answer.get("explanation")
    if not explanation:
        return None
    path.write_bytes(base64.b64decode(explanation["overlay_png"]))
    return path


API_KEY_ENV = "SKINLESION_API_KEY"  # the deployment's key (Access=api-key), sent as x-api-key


def post_json(
    url: str, payload: dict[str, Any], timeout: float = REQUEST_TIMEOUT_S, api_key: str | None = None
) -> dict[str, Any]:
    """POST payload; the answer's JSON, also for 4xx/5xx answers (API Gateway sends errors so)."""
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["x-api-key"] = api_key
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        body = error.read()
        try:
            return json.loads(body)
        except ValueError:
            code = client_error_code(f"http_{error.code}")
            return {"error": {"code": code, "message": body.decode(errors="replace")[:500]}}
    except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
        reason = getattr(error, "reason", error)
        raise EndpointUnreachable(f"cannot reach {url}: {reason}") from None


def invoke_function(name: str, payload: dict[str, Any]) -> dict[str, Any]:
    import boto3  # only this mode needs AWS's SDK

    response = boto3.client("lambda").invoke(FunctionName=name, Payload=json.dumps(payload).encode())
    return json.loads(response["Payload"].read())


def classify(
    image: str | Path, endpoint: str = LOCAL_ENDPOINT, timeout: float = REQUEST_TIMEOUT_S
) -> dict[str, Any]:
    return post_json(endpoint, build_request(image), timeout)


def is_error(answer: dict[str, Any]) -> bool:
    return "error" in answer or "errorMessage" in answer  # ours, or the Lambda runtime's own


def report(answer: dict[str, Any]) -> str:
    """A person-readable summary: the top class, then every class by probability."""
    if "error" in answer:
        error = answer["error"]
        status = f" {error['status']}" if "status" in error else ""
        return f"error{status} {error.get('code')}: {error.get('message')}"
    if "errorMessage" in answer:
        return f"error: {answer.get('errorType')}: {answer['errorMessage']}"
    ranked = sorted(answer["probabilities"].items(), key=lambda item: item[1], reverse=True)
    lines = [f"prediction: {answer['prediction']} ({answer['label']}), p = {ranked[0][1]:.3f}"]
    lines += [f"  {code:<6}{p:7.3f}  {'#' * round(p * 40)}" for code, p in ranked]
    if "malignant_probability" in answer:
        lines.append(f"malignant probability (mel + bcc + akiec): {answer['malignant_probability']:.3f}")
    for name, alert in answer.get("alerts", {}).items():
        state = "ALERT" if alert["flag"] else "no alert"
        lines.append(
            f"{name} alert: {state} ({alert['probability']:.3f} vs threshold {alert['threshold']:.3f}; "
            f"sensitivity {alert['sensitivity']:.2f}, specificity {alert['specificity']:.2f} in validation)"
        )
    if any(alert["flag"] for alert in answer.get("alerts", {}).values()):
        lines.append("  refer / review: decision support only, not a diagnosis")
    if "metadata" in answer:
        used = ", ".join(
            f"{key} {value:g}" if key == "age" else f"{key} {value}"
            for key, value in answer["metadata"].items()
        )
        lines.append(f"with the patient's {used} (probabilities and alerts of image and metadata together)")
    ood = answer.get("out_of_distribution")
    if ood:
        verdict = "OUTSIDE what the model knows" if ood["flag"] else "looks like dermoscopy"
        lines.append(
            f"out of distribution: {verdict} (score {ood['score']:.0f}, threshold {ood['threshold']:.0f})"
        )
        if ood["flag"]:
            lines.append(f"  {ood['message']}")
    model = answer.get("model", {})
    lines.append(f"model: {model.get('name')} {model.get('version')} ({model.get('sha256', '?')})")
    return "\n".join(lines)
