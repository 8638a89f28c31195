"""Classify one image with the service: the local Lambda endpoint, an API Gateway URL, or a
deployed function. Prints the most likely diagnosis and every class's probability.

  python test.py                                   # the seed's melanoma picture, local endpoint
  python test.py path/to/lesion.jpg                # a local file, sent as base64
  python test.py https://.../lesion.jpg --api-url https://abc.execute-api.eu-west-1.amazonaws.com/prod/predict
  python test.py lesion.jpg --function-name skin-lesion-classifier   # boto3; AWS credentials as usual
"""

import argparse
import base64
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

LOCAL_ENDPOINT = "http://localhost:8080/2015-03-31/functions/function/invocations"
DEFAULT_IMAGE = "https://upload.wikimedia.org/wikipedia/commons/6/6c/Melanoma.jpg"


class EndpointUnreachable(Exception):
    pass


def build_request(image: str) -> dict[str, str]:
    """A URL is sent for the service to fetch; anything else must be a local file."""
    if image.startswith(("http://", "https://")):
        return {"url": image}
    path = Path(image)
    if not path.is_file():
        raise FileNotFoundError(f"{image} is neither an http(s) URL nor a file")
    return {"image": base64.b64encode(path.read_bytes()).decode("ascii")}


def post_json(url: str, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:  # API Gateway answers errors with a 4xx/5xx and a JSON body
        body = error.read()
        try:
            return json.loads(body)
        except ValueError:
            return {"error": {"code": f"http_{error.code}", "message": body.decode(errors="replace")[:500]}}
    except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
        reason = getattr(error, "reason", error)
        raise EndpointUnreachable(f"cannot reach {url}: {reason}") from None


def invoke_function(name: str, payload: dict[str, Any]) -> dict[str, Any]:
    import boto3  # only this mode needs AWS's SDK

    response = boto3.client("lambda").invoke(FunctionName=name, Payload=json.dumps(payload).encode())
    return json.loads(response["Payload"].read())


def report(answer: dict[str, Any]) -> str:
    if "error" in answer:
        error = answer["error"]
        return f"error {error.get('status', '')} {error.get('code')}: {error.get('message')}".replace(
            "  ", " "
        )
    if "errorMessage" in answer:  # the Lambda runtime's own error format
        return f"error: {answer.get('errorType')}: {answer['errorMessage']}"
    ranked = sorted(answer["probabilities"].items(), key=lambda item: item[1], reverse=True)
    lines = [f"prediction: {answer['prediction']} ({answer['label']}), p = {ranked[0][1]:.3f}"]
    lines += [f"  {code:<6}{p:7.3f}  {'#' * round(p * 40)}" for code, p in ranked]
    model = answer.get("model", {})
    lines.append(f"model: {model.get('name')} {model.get('version')} ({model.get('sha256', '?')})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "image",
        nargs="?",
        default=DEFAULT_IMAGE,
        help="an http(s) image URL for the service to fetch, or a local image file to upload "
        "as base64 (default: the seed's melanoma picture on Wikimedia)",
    )
    target = parser.add_mutually_exclusive_group()
    target.add_argument(
        "--endpoint",
        default=LOCAL_ENDPOINT,
        help=f"Lambda invoke URL of a local emulator or container (default: {LOCAL_ENDPOINT})",
    )
    target.add_argument(
        "--api-url",
        help="a deployed API Gateway endpoint, e.g. https://ID.execute-api.REGION."
        "amazonaws.com/prod/predict (the JSON body is the same)",
    )
    target.add_argument(
        "--function-name",
        help="invoke a deployed Lambda function directly with boto3 "
        "(credentials and region from the usual AWS settings)",
    )
    parser.add_argument(
        "--timeout", type=float, default=35.0, help="seconds to wait for an answer (default: 35)"
    )
    parser.add_argument(
        "--json", action="store_true", help="print the raw JSON answer instead of the summary"
    )
    args = parser.parse_args(argv)

    try:
        payload = build_request(args.image)
        if args.function_name:
            answer = invoke_function(args.function_name, payload)
        else:
            answer = post_json(args.api_url or args.endpoint, payload, args.timeout)
    except FileNotFoundError as error:
        print(f"test.py: {error}", file=sys.stderr)
        return 2
    except EndpointUnreachable as error:
        print(
            f"test.py: {error}\nIs the service running? Start it locally with `make serve`.", file=sys.stderr
        )
        return 3
    print(json.dumps(answer, indent=2) if args.json else report(answer))
    return 1 if "error" in answer or "errorMessage" in answer else 0


if __name__ == "__main__":
    sys.exit(main())
