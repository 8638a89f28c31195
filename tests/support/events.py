"""Lambda events as API Gateway (REST v1, HTTP API v2) and Function URLs deliver them."""

from typing import Any


def rest_api_event(
    body: str | None, base64_body: bool = False, content_type: str = "application/json", method: str = "POST"
) -> dict[str, Any]:
    return {
        "resource": "/predict",
        "path": "/predict",
        "httpMethod": method,
        "headers": {"Content-Type": content_type, "Host": "abc.execute-api.eu-west-1.amazonaws.com"},
        "multiValueHeaders": {"Content-Type": [content_type]},
        "queryStringParameters": None,
        "pathParameters": None,
        "requestContext": {
            "resourcePath": "/predict",
            "httpMethod": method,
            "stage": "prod",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
        },
        "body": body,
        "isBase64Encoded": base64_body,
    }


def http_api_event(
    body: str | None, base64_body: bool = False, content_type: str = "application/json", method: str = "POST"
) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": "POST /predict",
        "rawPath": "/predict",
        "rawQueryString": "",
        "headers": {"content-type": content_type},
        "requestContext": {
            "http": {
                "method": method,
                "path": "/predict",
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.9",
                "userAgent": "curl/8",
            },
            "requestId": "JKJaXmPLvHcESHA=",
            "stage": "$default",
        },
        "body": body,
        "isBase64Encoded": base64_body,
    }


def function_url_event(
    body: str | None, base64_body: bool = False, content_type: str = "application/json", method: str = "POST"
) -> dict[str, Any]:
    event = http_api_event(body, base64_body, content_type, method)
    event["routeKey"] = "$default"
    event["requestContext"]["domainName"] = "abcdefg.lambda-url.eu-west-1.on.aws"
    return event
