"""AWS Lambda entry point: `lambda_function.lambda_handler` (the container's CMD).

Request and response contract: README.md. Configuration comes from environment variables
(MODEL_PATH, ALLOW_PRIVATE_URLS, CORS_ALLOW_ORIGIN, limits): see skinlesion/serving/config.py.
"""

from typing import Any

from skinlesion.serving.handler import handle, preload

preload()  # during Lambda's init phase, so the first request does not pay for it


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    return handle(event, context)
