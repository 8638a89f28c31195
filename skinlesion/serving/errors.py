"""Errors a client can act on, each with its HTTP status and a stable code."""

from typing import Any


class ServiceError(Exception):
    """A request that cannot be answered with a prediction; the message is safe to show."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}


class BadRequest(ServiceError):
    status = 400
    code = "bad_request"


class UrlRefused(BadRequest):
    code = "url_refused"


class MethodNotAllowed(ServiceError):
    status = 405
    code = "method_not_allowed"


class TooLarge(ServiceError):
    status = 413
    code = "too_large"


class NotAnImage(ServiceError):
    status = 415
    code = "not_an_image"


class UndecodableImage(ServiceError):
    status = 422
    code = "undecodable_image"


class FetchFailed(ServiceError):
    status = 502
    code = "fetch_failed"


class FetchTimeout(ServiceError):
    status = 504
    code = "fetch_timeout"
