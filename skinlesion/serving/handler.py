"""The Lambda handler: parse the event, get each image, classify it, answer the contract.

Every failure a client can cause becomes a `ServiceError` with its status; anything else is
logged with its traceback for us and answered as a bare 500 for the client.
"""

import functools
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from PIL import Image

from skinlesion import contract
from skinlesion.contract import ServiceError
from skinlesion.image.decode import decode_image
from skinlesion.image.preprocessing import Preprocessor
from skinlesion.inference import LesionModel
from skinlesion.metadata import Patient
from skinlesion.serving import heatmap, logs, metrics, page
from skinlesion.serving.config import Settings
from skinlesion.serving.events import (
    ImageRequest,
    ParsedRequest,
    http_method,
    http_response,
    is_http_event,
    is_page_request,
    parse_http_event,
    parse_payload,
)
from skinlesion.serving.fetch import Resolver, fetch_image, system_resolver

logger = logs.get_logger("skinlesion.serving")

# Seconds kept in hand before Lambda's own timeout, to answer instead of being killed.
TIMEOUT_MARGIN = 1.5
_cold_start = True
BATCH_FETCH_WORKERS = 4


class Service:
    """Model, preprocessing and limits, built once per container and reused by every request."""

    def __init__(self, settings: Settings, resolver: Resolver = system_resolver) -> None:
        self.settings = settings
        self.model = LesionModel.load(settings.model_path, num_threads=settings.num_threads)
        self.preprocessor = Preprocessor(self.model.card.preprocessing)
        self.resolver = resolver
        self.limits = settings.fetch_limits

    def image_for(self, item: ImageRequest, deadline: float) -> Image.Image:
        """Fetch (if a URL) and decode one image."""
        data = item.image
        if item.url is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ServiceError("fetch_timeout", "no time was left in the request to download this image")
            limits = replace(self.limits, deadline=min(self.limits.deadline, remaining))
            data = fetch_image(item.url, limits, self.resolver)
        return decode_image(
            data, max_pixels=self.settings.max_pixels, min_size=self.preprocessor.spec.decode_size
        )

    def classify(
        self, image: Image.Image, explain: str | None, patient: Patient | None = None
    ) -> contract.Prediction:
        """One image's answer: probabilities, alerts and flag as the card defines them (with the
        patient's metadata, the card's fused temperature and alerts), and the class activation map
        when asked (`explain`: a class code, or "top")."""
        card = self.model.card
        if explain is not None and not self.model.explains:
            raise ServiceError(
                "explain_unavailable", "this model has no class activation maps to explain with"
            )
        patient = patient or Patient()
        if patient.given and self.model.metadata is None:
            raise ServiceError(
                "metadata_unavailable",
                "this model does not take the patient's age, sex or site; send the image alone",
            )
        pixels = self.preprocessor.resized_array(image)
        out = self.model.run(pixels, patient)
        probabilities = dict(zip(card.classes, map(float, out.probabilities), strict=True))
        ood = None
        if out.ood_reasons is not None:
            ood = contract.out_of_distribution(out.ood_score, float(card.ood["threshold"]), out.ood_reasons)
        answer = contract.prediction(
            probabilities,
            operating_points=card.metadata["alerts"] if patient.given else card.alerts,
            ood=ood,
            metadata=patient.to_answer(),
        )
        if explain is not None:
            code = answer["prediction"] if explain == "top" else explain
            # The finer map costs three more invokes, so only an explained image pays for them.
            maps = self.model.fine_cam(pixels, out.cam)
            answer["explanation"] = heatmap.explanation(image, maps, card.classes.index(code), code)
        return answer

    def answer(self, request: ParsedRequest, deadline: float) -> contract.Prediction | contract.BatchAnswer:
        if not request.batch:
            item = request.items[0]
            assert isinstance(item, ImageRequest)
            answer = self.classify(self.image_for(item, deadline), item.explain, item.patient)
            return {**answer, "model": self.model.info}

        def load(item: ImageRequest | ServiceError) -> Image.Image | ServiceError:
            if isinstance(item, ServiceError):
                return item
            try:
                return self.image_for(item, deadline)
            except ServiceError as error:
                return error

        # Downloads overlap; inference stays on this thread (an interpreter is not thread-safe).
        with ThreadPoolExecutor(max_workers=BATCH_FETCH_WORKERS) as pool:
            loaded = list(pool.map(load, request.items))
        items: list[contract.Prediction | ServiceError] = []
        for item, image in zip(request.items, loaded, strict=True):
            try:
                if isinstance(image, ServiceError):
                    raise image
                items.append(self.classify(image, item.explain, item.patient))
            except ServiceError as error:
                items.append(error)
        return contract.batch_answer(items, self.model.info)


@functools.cache
def env_settings() -> Settings:
    return Settings.from_env()


@functools.cache
def default_service() -> Service:
    """The container's service, from the environment; loaded on first use and kept."""
    return Service(env_settings())


def preload() -> None:
    """Load the model during Lambda's init phase. A failure is logged here and answered per
    request as `model_unavailable`, rather than crashing the runtime."""
    try:
        default_service()
    except Exception:
        logger.exception("model could not be loaded at start-up")


def _request_deadline(settings: Settings, context: Any) -> float:
    budget = settings.fetch_deadline * 2.5
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining_ms):
        budget = min(budget, remaining_ms() / 1000.0 - TIMEOUT_MARGIN)
    return time.monotonic() + budget


def handle(event: Any, context: Any, service: Service | None = None) -> dict[str, Any]:
    """Answer one invocation; `service` defaults to the container's own."""
    global _cold_start
    started = time.perf_counter()
    logs.bind(getattr(context, "aws_request_id", None), _cold_start)
    _cold_start = False
    http = is_http_event(event)
    try:
        settings = service.settings if service is not None else env_settings()
    except ValueError:
        logger.exception("invalid configuration in the environment")
        settings = Settings()  # only to shape the error response; the model load reports it
    fields: dict[str, Any] = {"http": http}
    try:
        if http and is_page_request(event):
            html, headers = page.page(settings)
            fields.update(status=200, page=True)
            logger.info("request", extra={"fields": fields})
            return {"statusCode": 200, "headers": headers, "body": html, "isBase64Encoded": False}
        if http and http_method(event) == "OPTIONS":
            payload, status = {}, 204
        else:
            request = parse_http_event(event, settings) if http else parse_payload(event, settings)
            fields.update(_describe(request))
            if service is None:
                try:
                    service = default_service()
                except Exception as exc:
                    logger.exception("model could not be loaded")
                    raise ServiceError(
                        "model_unavailable", "the model could not be loaded; see the function's logs"
                    ) from exc
            payload, status = service.answer(request, _request_deadline(settings, context)), 200
            fields["prediction"] = payload.get("prediction")
    except ServiceError as error:
        payload, status = error.to_dict(), error.status
        fields.update(code=error.code, detail=error.message)
    except Exception:
        logger.exception("unexpected error")
        payload, status = (
            ServiceError("internal_error", "internal error; see the function's logs").to_dict(),
            500,
        )
        fields["code"] = "internal_error"
    ms = round((time.perf_counter() - started) * 1000, 1)
    fields.update(status=status, ms=ms, **metrics.embedded(payload, ms))
    logger.log(logging.INFO if status < 500 else logging.ERROR, "request", extra={"fields": fields})
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
