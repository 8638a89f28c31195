"""The Lambda handler: parse the event, get each image, classify it, answer the contract.

Every failure a client can cause becomes a `ServiceError` with its status; anything else is
logged with its traceback for us and answered as a bare 500 for the client.
"""

import functools
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from skinlesion.preprocessing import Preprocessor
from skinlesion.serving.config import Settings
from skinlesion.serving.decode import decode_image
from skinlesion.serving.errors import FetchTimeout, ServiceError
from skinlesion.serving.events import (
    ImageRequest,
    ParsedRequest,
    http_method,
    http_response,
    is_http_event,
    parse_http_event,
    parse_payload,
)
from skinlesion.serving.fetch import FetchLimits, Resolver, fetch_image, system_resolver
from skinlesion.serving.model import LesionModel, prediction_payload

logger = logging.getLogger("skinlesion.serving")
logger.setLevel(logging.INFO)

# Seconds kept in hand before Lambda's own timeout, to answer instead of being killed.
TIMEOUT_MARGIN = 1.5
BATCH_FETCH_WORKERS = 4


class ModelUnavailable(ServiceError):
    status = 500
    code = "model_unavailable"


class Classifier:
    """Model, preprocessing and fetch limits, built once per container."""

    def __init__(self, settings: Settings, resolver: Resolver = system_resolver) -> None:
        self.settings = settings
        self.model = LesionModel(settings.model_path, num_threads=settings.num_threads)
        self.preprocessor = Preprocessor(self.model.card.preprocessing)
        self.resolver = resolver
        self.limits = FetchLimits(
            connect_timeout=settings.fetch_connect_timeout,
            read_timeout=settings.fetch_read_timeout,
            deadline=settings.fetch_deadline,
            max_bytes=settings.max_image_bytes,
            max_redirects=settings.max_redirects,
            allow_private=settings.allow_private_urls,
        )

    def tensor_for(self, item: ImageRequest, deadline: float) -> np.ndarray:
        """Fetch (if a URL) and decode one image into the model's input tensor."""
        data = item.image
        if item.url is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FetchTimeout("no time was left in the request to download this image")
            limits = replace(self.limits, deadline=min(self.limits.deadline, remaining))
            data = fetch_image(item.url, limits, self.resolver)
        image = decode_image(data, max_pixels=self.settings.max_pixels)
        return self.preprocessor.convert_to_tensor(image)

    def classify(self, tensor: np.ndarray) -> dict[str, Any]:
        return prediction_payload(self.model.probabilities(tensor), self.model.info)

    def answer(self, request: ParsedRequest, deadline: float) -> dict[str, Any]:
        if not request.batch:
            item = request.items[0]
            assert isinstance(item, ImageRequest)
            return self.classify(self.tensor_for(item, deadline))

        def load(item: ImageRequest | ServiceError) -> np.ndarray | ServiceError:
            if isinstance(item, ServiceError):
                return item
            try:
                return self.tensor_for(item, deadline)
            except ServiceError as error:
                return error

        # Downloads overlap; inference stays on this thread (an interpreter is not thread-safe).
        with ThreadPoolExecutor(max_workers=BATCH_FETCH_WORKERS) as pool:
            loaded = list(pool.map(load, request.items))
        predictions = []
        for result in loaded:
            if isinstance(result, ServiceError):
                predictions.append(result.to_dict())
            else:
                prediction = self.classify(result)
                del prediction["model"]
                predictions.append(prediction)
        return {"predictions": predictions, "model": self.model.info}


@functools.cache
def env_settings() -> Settings:
    return Settings.from_env()


@functools.cache
def default_classifier() -> Classifier:
    """The container's classifier, from the environment; loaded on first use and kept."""
    return Classifier(env_settings())


def preload() -> None:
    """Load the model during Lambda's init phase. A failure is logged here and answered per
    request as `model_unavailable`, rather than crashing the runtime."""
    try:
        default_classifier()
    except Exception:
        logger.exception("model could not be loaded at start-up")


def _request_deadline(settings: Settings, context: Any) -> float:
    budget = settings.fetch_deadline * 2.5
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining_ms):
        budget = min(budget, remaining_ms() / 1000.0 - TIMEOUT_MARGIN)
    return time.monotonic() + budget


def handle(event: Any, context: Any, classifier: Classifier | None = None) -> dict[str, Any]:
    """Answer one invocation; `classifier` defaults to the container's own."""
    started = time.perf_counter()
    http = is_http_event(event)
    try:
        settings = classifier.settings if classifier is not None else env_settings()
    except ValueError:
        logger.exception("invalid configuration in the environment")
        settings = Settings()  # only to shape the error response; the model load reports it
    log: dict[str, Any] = {"request_id": getattr(context, "aws_request_id", None), "http": http}
    try:
        if http and http_method(event) == "OPTIONS":
            payload, status = {}, 204
        else:
            request = parse_http_event(event, settings) if http else parse_payload(event, settings)
            log.update(_describe(request))
            if classifier is None:
                try:
                    classifier = default_classifier()
                except Exception as exc:
                    logger.exception("model could not be loaded")
                    raise ModelUnavailable("the model could not be loaded; see the function's logs") from exc
            payload = classifier.answer(request, _request_deadline(settings, context))
            status = 200
            log["prediction"] = payload.get("prediction")
    except ServiceError as error:
        payload, status = error.to_dict(), error.status
        log["code"] = error.code
        log["message"] = error.message
    except Exception:
        logger.exception("unexpected error")
        payload, status = ServiceError("internal error; see the function's logs").to_dict(), 500
        log["code"] = "internal_error"
    log.update(status=status, ms=round((time.perf_counter() - started) * 1000, 1))
    logger.log(logging.INFO if status < 500 else logging.ERROR, json.dumps(log, default=str))
    return http_response(payload, status, settings) if http else payload


def _describe(request: ParsedRequest) -> dict[str, Any]:
    """What the log line says about a request: its sources and URL hosts, never the URL itself
    (query strings can carry tokens) nor image bytes."""
    sources = [item.source if isinstance(item, ImageRequest) else "invalid" for item in request.items]
    hosts = sorted({_host(item.url) for item in request.items if isinstance(item, ImageRequest) and item.url})
    return {"batch": request.batch, "sources": sources, "hosts": hosts}


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return "(unparsable)"
