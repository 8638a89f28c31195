"""Where the model runs: the Lambda handler in this process, or the deployed service over HTTP or
boto3, asked again with backoff while throttled; each gives the service's JSON answer to a request."""

import argparse
import http.client
import json
import math
import random
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from skinlesion.client import EndpointUnreachable
from skinlesion.contract import ERRORS, PAYLOAD_LIMIT, ServiceError, client_error_code
from skinlesion.score.errors import RunStopped, UsageError
from skinlesion.score.results import one_line

LOCAL_BATCH = 8  # in this process: lets the handler overlap URL downloads (4 at a time)
MAX_BACKOFF = 30.0  # seconds, the longest wait between two tries


class Transient(Exception):
    """An answer worth asking for again (throttling, a gateway error); `code` is recorded if it lasts."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def error_answer(code: str, message: str) -> dict[str, Any]:
    """An answer the client writes itself: `code` is one of the contract's `CLIENT_ERRORS`."""
    return {"error": {"code": client_error_code(code), "message": message}}


@dataclass(frozen=True)
class Backend:
    """Where requests are answered: `answer` takes a request (one image, or `instances`) and gives
    the service's JSON answer."""

    answer: Callable[[dict[str, Any]], dict[str, Any]]
    describe: str
    concurrency: int
    batch_size: int
    payload_limit: float  # JSON bytes per request: Lambda's limit, none in this process
    refuse: Callable[[int], ServiceError | None]  # a file too large to send, told by its size alone


def build_backend(args: argparse.Namespace, stop: threading.Event) -> Backend:
    if args.endpoint is not None:
        send = http_sender(args.endpoint, args.timeout, args.api_key)
        return remote_backend(send, f"at {args.endpoint}", args, stop)
    if args.function_name is not None:
        send = lambda_sender(args.function_name, args.concurrency, args.timeout)
        return remote_backend(send, f"with the Lambda function {args.function_name}", args, stop)
    return local_backend(args.model, args.threads)


def local_backend(model: Path, threads: int | None) -> Backend:
    """The Lambda handler in this process: same decoding, limits, errors and answers as deployed.
    Imported here: the remote modes need neither the model nor its runtime."""
    from skinlesion.serving.config import Settings
    from skinlesion.serving.handler import Service, handle

    if not model.is_file():
        raise UsageError(f"--model {model} does not exist")
    try:
        settings = Settings.from_env()  # the limits and ALLOW_PRIVATE_URLS, as the service reads them
    except ValueError as error:
        raise UsageError(f"invalid service setting in the environment: {error}") from None
    settings = replace(settings, model_path=model, num_threads=threads or settings.num_threads)
    try:
        service = Service(settings)
    except (OSError, ValueError) as error:
        raise UsageError(f"cannot load the model {model}: {error}") from None

    def refuse(size: int) -> ServiceError | None:
        if size <= settings.max_image_bytes:
            return None
        return ServiceError(
            "image_too_large",
            f"the file is {size:,} bytes, over MAX_IMAGE_BYTES ({settings.max_image_bytes:,})",
        )

    info = service.model.info
    return Backend(
        answer=lambda payload: handle(payload, None, service),
        describe=f"in this process with {model} ({info['name']} {info['version']})",
        concurrency=1,  # one interpreter, not thread-safe
        batch_size=LOCAL_BATCH,
        payload_limit=math.inf,
        refuse=refuse,
    )


def remote_backend(
    send: Callable[[bytes], dict[str, Any]], describe: str, args: argparse.Namespace, stop: threading.Event
) -> Backend:
    retrying = Retrying(send, args.max_retries, args.backoff, stop)
    return Backend(
        answer=retrying,
        describe=describe,
        concurrency=args.concurrency,
        batch_size=args.batch_size,
        payload_limit=PAYLOAD_LIMIT,
        refuse=refuse_remote,
    )


def refuse_remote(size: int) -> ServiceError | None:
    """A file whose base64 alone would pass the request limit is never sent."""
    if _instance_bytes(size) + 2 <= PAYLOAD_LIMIT:
        return None
    return ServiceError(
        "image_too_large",
        f"the file is {size:,} bytes: as base64 it would pass Lambda's 6 MB request limit; "
        "give it as a URL, or score it with --local",
    )


def _instance_bytes(size: int) -> int:
    """JSON bytes of {"image": "<base64>"} for a file of `size` bytes."""
    return 4 * math.ceil(size / 3) + len('{"image": ""}')


class Retrying:
    """Sends a request, asking again with exponential backoff and jitter while the answer is
    throttling or a gateway error: Lambda scales out within seconds, so waiting usually works,
    and jitter keeps the threads from coming back all at once."""

    def __init__(
        self, send: Callable[[bytes], dict[str, Any]], max_retries: int, backoff: float, stop: threading.Event
    ) -> None:
        self.send = send
        self.max_retries = max_retries
        self.backoff = backoff
        self.stop = stop

    def __call__(self, payload: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(payload).encode()
        problem: Transient | EndpointUnreachable | None = None
        for attempt in range(self.max_retries + 1):
            if attempt and self.stop.wait(self.delay(attempt - 1)):
                raise RunStopped("the run was stopped")
            try:
                return self.send(body)
            except (Transient, EndpointUnreachable) as error:
                problem = error
        if isinstance(problem, Transient):
            return error_answer(
                problem.code, f"{problem.message} (still so after {self.max_retries} retries)"
            )
        raise RunStopped(f"{problem} (after {self.max_retries} retries)")

    def delay(self, retry: int) -> float:
        return min(MAX_BACKOFF, self.backoff * 2**retry) * random.uniform(0.5, 1.0)


def http_sender(url: str, timeout: float, api_key: str | None = None) -> Callable[[bytes], dict[str, Any]]:
    """POSTs the JSON body to a Lambda invoke URL (emulator, container) or an API Gateway URL.
    Not client.post_json: whether to retry depends on the HTTP status, which post_json folds
    into the body it returns. `api_key` goes as x-api-key (a deployment with Access=api-key)."""
    headers = {"Content-Type": "application/json", **({"x-api-key": api_key} if api_key else {})}

    def send(body: bytes) -> dict[str, Any]:
        request = urllib.request.Request(url, data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return judge(response.status, response.read())
        except urllib.error.HTTPError as error:
            throttled = (error.headers.get("x-amzn-ErrorType") or "").startswith("TooManyRequests")
            return judge(error.code, error.read(), throttled)
        except (OSError, http.client.HTTPException) as error:  # refused, reset, timed out
            raise EndpointUnreachable(f"cannot reach {url}: {getattr(error, 'reason', error)}") from None

    return send


def lambda_sender(name: str, concurrency: int, timeout: float) -> Callable[[bytes], dict[str, Any]]:
    """Invokes the function with boto3 (credentials and region as the AWS tools find them). One
    client for every thread (clients are thread-safe, their creation is not), and botocore's own
    retries off, so that --max-retries is the only retry policy."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    config = Config(
        max_pool_connections=concurrency,
        connect_timeout=10,
        read_timeout=timeout,
        retries={"total_max_attempts": 1},
    )
    try:
        client = boto3.client("lambda", config=config)
    except BotoCoreError as error:
        raise UsageError(f"cannot make a Lambda client: {error}") from None

    def send(body: bytes) -> dict[str, Any]:
        try:
            response = client.invoke(FunctionName=name, Payload=body)
            answer = response["Payload"].read()
        except ClientError as error:
            info = error.response.get("Error", {})
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            text = f"{info.get('Code')}: {info.get('Message')}"
            if info.get("Code") == "TooManyRequestsException" or status == 429:
                raise Transient("throttled", f"throttled ({text})") from None
            if status >= 500:
                raise Transient(f"http_{status}", text) from None
            if status in (401, 403, 404):
                raise RunStopped(f"Lambda refused to invoke {name}: {text}") from None
            return error_answer(f"http_{status}", text)
        except NoCredentialsError as error:
            raise RunStopped(str(error)) from None
        except BotoCoreError as error:  # no connection, timed out
            raise EndpointUnreachable(f"cannot reach Lambda: {error}") from None
        return judge(response["StatusCode"], answer)

    return send


def judge(status: int, body: bytes, throttled: bool = False) -> dict[str, Any]:
    """The answer to record for a reply, or Transient when it is worth asking again. The service's
    own answers are final whatever their status: through API Gateway a `fetch_failed` comes as a
    502, which is not the gateway failing. 401, 403 and 404 that are not the service's mean the
    URL or credentials are wrong for every image: the run stops rather than write thousands of rows."""
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if isinstance(answer, dict) and _is_contract_answer(answer):
        return answer
    text = one_line(body.decode("utf-8", errors="replace"))[:300]
    if throttled or status == 429 or "TooManyRequestsException" in text:
        raise Transient("throttled", f"throttled (HTTP {status}): {text}")
    if isinstance(answer, dict) and "errorMessage" in answer:
        return answer
    if status in (502, 503, 504):
        raise Transient(f"http_{status}", f"HTTP {status}: {text}")
    if status in (401, 403, 404):
        raise RunStopped(f"the endpoint answered HTTP {status} ({text}): check the URL and credentials")
    return error_answer(f"http_{status}", f"not an answer of the service (HTTP {status}): {text}")


def _is_contract_answer(answer: dict[str, Any]) -> bool:
    error = answer.get("error")
    return (
        "prediction" in answer
        or "predictions" in answer
        or (isinstance(error, dict) and error.get("code") in ERRORS)
    )
