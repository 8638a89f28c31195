"""What each request carries: images (with their patient's metadata) grouped up to the batch size
and the backend's payload limit, files refused before sending, and the rows of one request's answer."""

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from skinlesion.contract import ServiceError
from skinlesion.score.backends import Backend
from skinlesion.score.inputs import Item
from skinlesion.score.results import Row, row_for


@dataclass
class Request:
    """Images sent together: one, or a batch kept within the backend's payload limit."""

    items: list[Item] = field(default_factory=list)
    instances: list[dict[str, Any]] = field(default_factory=list)
    size: int = len('{"instances": []}')

    def add(self, item: Item, instance: dict[str, Any], size: int) -> None:
        self.items.append(item)
        self.instances.append(instance)
        self.size += size + 2


def plan(items: list[Item], backend: Backend) -> Iterator[Request | Row]:
    """Requests to send, and rows for files that are refused before sending (unreadable, too
    large). Files are read only as requests are made, so memory holds what is in flight."""
    request = Request()
    for item in items:
        instance = instance_for(item, backend)
        if isinstance(instance, ServiceError):
            yield row_for(item.image, instance.to_dict())
            continue
        size = instance_size(instance)
        if request.items and (
            len(request.items) >= backend.batch_size or request.size + size + 2 > backend.payload_limit
        ):
            yield request
            request = Request()
        request.add(item, instance, size)
    if request.items:
        yield request


def instance_for(item: Item, backend: Backend) -> dict[str, Any] | ServiceError:
    """A URL is sent for the service to fetch; a file is sent as base64, unless it cannot be; either
    with the item's age, sex and site."""
    if item.url is not None:
        return {"url": item.url, **item.metadata}
    assert item.path is not None
    try:
        refused = backend.refuse(item.path.stat().st_size)
        if refused is not None:
            return refused
        data = item.path.read_bytes()
    except OSError as error:
        return ServiceError("fetch_failed", f"cannot read the file: {error.strerror or error}")
    return {"image": base64.b64encode(data).decode("ascii"), **item.metadata}


def instance_size(instance: dict[str, Any]) -> int:
    """JSON bytes of an instance, without serialising megabytes of base64 only to measure them:
    the image (or URL) by its length, the rest as JSON."""
    source = "image" if "image" in instance else "url"
    rest = {key: value for key, value in instance.items() if key != source}
    return len(instance[source]) + len(json.dumps({source: "", **rest}))


def score_request(backend: Backend, request: Request) -> list[Row]:
    """The rows of one request. A batch that fails as a whole (one image crashing the function,
    a gateway timeout) is sent again one image at a time, so that the others are still scored."""
    if len(request.items) == 1:
        return [row_for(request.items[0].image, backend.answer(request.instances[0]))]
    answer = backend.answer({"instances": request.instances})
    predictions = answer.get("predictions")
    if isinstance(predictions, list) and len(predictions) == len(request.items):
        return [row_for(item.image, p) for item, p in zip(request.items, predictions, strict=True)]
    if answer.get("error", {}).get("code") == "throttled":  # alone, each would be throttled as well
        return [row_for(item.image, answer) for item in request.items]
    rows = []
    for item, instance in zip(request.items, request.instances, strict=True):
        single = Request()
        single.add(item, instance, 0)
        rows += score_request(backend, single)
    return rows
