"""The response contract, in one place: what a prediction, a batch answer and an error look like,
every error code with its HTTP status, and what every client shares (the codes a client writes
itself, the request size and time it allows, the results CSV's columns).

The README's error tables are generated from `ERRORS` and `CLIENT_ERRORS` (`python -m
skinlesion.contract`) and a test keeps them equal, so a new code cannot be added without being
documented.
"""

from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

from skinlesion.classes import CLASS_CODES, CLASS_NAMES, MALIGNANT_CODES


@dataclass(frozen=True)
class ErrorCode:
    status: int
    when: str  # what the client did (or what went wrong on our side), for the documentation


ERRORS: dict[str, ErrorCode] = {
    "invalid_request": ErrorCode(
        400, "the JSON is not an object with exactly one of `url`, `image`, `instances`"
    ),
    "invalid_json": ErrorCode(400, "an HTTP body that is not JSON (or nested too deep to read)"),
    "invalid_body": ErrorCode(400, "an HTTP body that is not a string"),
    "empty_body": ErrorCode(400, "an HTTP request without a body"),
    "invalid_base64": ErrorCode(400, "`image` (or a base64 body) that is not valid base64"),
    "invalid_url": ErrorCode(400, "`url` that is not a string, too long, or not a URL"),
    "url_refused": ErrorCode(
        400, "a URL that is not http(s), carries credentials, or resolves to a non-public address"
    ),
    "invalid_explain": ErrorCode(400, "`explain` that is not true, false or a class code"),
    "explain_unavailable": ErrorCode(501, "`explain` asked of a model without class activation maps"),
    "invalid_metadata": ErrorCode(
        400, "`age` that is not a number of years from 0 to 120, or `sex` or `site` that is not one we know"
    ),
    "metadata_unavailable": ErrorCode(501, "`age`, `sex` or `site` sent to a model without a metadata model"),
    "method_not_allowed": ErrorCode(405, "not POST (OPTIONS gets a CORS preflight answer)"),
    "body_too_large": ErrorCode(413, "the request body is over 6 MiB"),
    "image_too_large": ErrorCode(413, "an image over `MAX_IMAGE_BYTES`"),
    "too_many_pixels": ErrorCode(413, "an image over `MAX_PIXELS`, read from its header"),
    "batch_too_large": ErrorCode(413, "more instances than `MAX_BATCH`"),
    "not_an_image": ErrorCode(415, "not JPEG, PNG, WebP, BMP, GIF or TIFF"),
    "undecodable_image": ErrorCode(422, "a truncated or corrupt image"),
    "model_unavailable": ErrorCode(500, "the model could not be loaded (our fault; details in the logs)"),
    "internal_error": ErrorCode(500, "anything unexpected (our fault; details in the logs)"),
    "fetch_failed": ErrorCode(502, "the URL answered an error, was unreachable, or cut the download short"),
    "too_many_redirects": ErrorCode(502, "the URL redirected more than 3 times"),
    "fetch_timeout": ErrorCode(504, "the download was too slow"),
}


# Codes that a client writes itself, never the service: what went wrong between them. The
# scorer (`skinlesion.score`) and the clinic page both use these and only these.
CLIENT_ERRORS: dict[str, str] = {
    "throttled": "Lambda or API Gateway refused for load (429, `TooManyRequestsException`), still so after "
    "the retries",
    "http_NNN": "an HTTP status NNN that is not the service's own answer (the gateway's 403 for a "
    "missing API key, a 502 or 504 of its own), still so after the retries",
    "lambda_error": "the function itself failed (a crash, or its time limit): the runtime's `errorMessage`",
    "invalid_response": "an answer that is not JSON, or lacks the prediction asked for",
    "timeout": "no answer within `REQUEST_TIMEOUT_S` (the page)",
    "network_error": "the service could not be reached (the page)",
    "file_unreadable": "the browser could not read or prepare the file (the page)",
    "too_large_to_send": "an image too large for one request even after the page reduced it (the page)",
}


def client_error_code(code: str) -> str:
    """`code`, checked against `CLIENT_ERRORS` (`http_` and a status stands for `http_NNN`)."""
    known = "http_NNN" if code.startswith("http_") and code[5:].isdigit() and len(code) == 8 else code
    if known not in CLIENT_ERRORS:
        raise ValueError(f"unknown client error code {code!r}; add it to skinlesion.contract.CLIENT_ERRORS")
    return code


# The function's time limit (template.yaml `Timeout`): no answer takes longer.
FUNCTION_TIMEOUT_S = 30
# How long a client waits for one answer: the function's limit, plus 90 s to send the largest request
# (`PAYLOAD_LIMIT` at 0.5 Mbit/s, a clinic's slow uplink, takes 88 s).
REQUEST_TIMEOUT_S = FUNCTION_TIMEOUT_S + 90
# JSON bytes a client puts in one request: Lambda refuses a synchronous event over 6 MB, and API
# Gateway wraps its own fields around the body.
PAYLOAD_LIMIT = 5_500_000

# The request's optional patient fields, in the order the results CSV shows them.
METADATA_FIELDS = ("age", "sex", "site")
# One row per image, as the scorer writes `--out` and the clinic page downloads its table: the
# metadata the service used, the answer, or the error's code and message.
RESULT_COLUMNS: tuple[str, ...] = (
    "image",
    *METADATA_FIELDS,
    "prediction",
    "label",
    *(f"p_{code}" for code in CLASS_CODES),
    "malignant_probability",
    "melanoma_alert",
    "malignant_alert",
    "out_of_distribution",
    "ood_reasons",
    "error_code",
    "error_message",
)


class ServiceError(Exception):
    """A request that cannot be answered with a prediction; the message is safe to show."""

    def __init__(self, code: str, message: str) -> None:
        if code not in ERRORS:
            raise ValueError(f"unknown error code {code!r}; add it to skinlesion.contract.ERRORS")
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def status(self) -> int:
        return ERRORS[self.code].status

    def to_dict(self) -> "ErrorAnswer":
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}


class ModelInfo(TypedDict):
    name: str
    version: str
    sha256: str  # the start of the .tflite file's hash


ALERT_MEANING = {
    "melanoma": "refer / review: P(melanoma) is at or above the threshold that caught {sensitivity:.0%} "
    "of melanomas in validation (specificity {specificity:.0%}). Decision support only, not a diagnosis.",
    "malignant": "refer / review: P(melanoma) + P(basal cell carcinoma) + P(actinic keratosis / Bowen's) "
    "is at or above the threshold that caught {sensitivity:.0%} of these in validation (specificity "
    "{specificity:.0%}). Decision support only, not a diagnosis.",
}
OOD_MESSAGE = (
    "This image does not look like the dermoscopy images the model was trained on (a photo, a screenshot, "
    "a clinical close-up without dermoscope, a blank frame?): its probabilities should not be trusted."
)


class Alert(TypedDict):
    flag: bool  # score >= threshold
    probability: float  # the score compared: P(mel), or malignant_probability
    threshold: float
    sensitivity: float  # measured on validation at this threshold
    specificity: float
    meaning: str


class OutOfDistribution(TypedDict):
    flag: bool  # outside what the model knows: any of the checks below failed
    score: float  # the detector's logit of "not dermoscopy" (model 2.5.0 on; 2.4.0: a Mahalanobis distance)
    threshold: float  # for the score; with the texture checks, 5 % of validation images are flagged
    reasons: list[str]  # which checks failed (features, contrast, texture)
    message: NotRequired[str]  # only when flagged


# A class activation map: where the evidence for `class` stands out, as a grid (`grid_shape`: 12x16
# for the shipped model; rows top to bottom, in [0, 1]) and as a base64 PNG of the image with the
# map over it.
Explanation = TypedDict(
    "Explanation", {"class": str, "grid": list[list[float]], "grid_shape": list[int], "overlay_png": str}
)


class Prediction(TypedDict):
    prediction: str  # the most probable class code
    label: str  # its name
    probabilities: dict[str, float]  # every class code, summing to 1 (calibrated when the card says so)
    malignant_probability: NotRequired[float]  # P(mel) + P(bcc) + P(akiec)
    alerts: NotRequired[dict[str, Alert]]  # melanoma, malignant: when the card has operating points
    out_of_distribution: NotRequired[OutOfDistribution]  # when the model has a score
    explanation: NotRequired[Explanation]  # when asked with "explain"
    # The patient's age, sex and site that were used, as read (a site in HAM10000's word); when present,
    # probabilities, malignant_probability and alerts are those of image and metadata together.
    metadata: NotRequired[dict[str, Any]]
    model: NotRequired[ModelInfo]  # once per answer: a batch carries it at its top level


class ErrorBody(TypedDict):
    code: str
    message: str
    status: int


class ErrorAnswer(TypedDict):
    error: ErrorBody


class BatchAnswer(TypedDict):
    predictions: list[Prediction | ErrorAnswer]  # in the order of the request's instances
    model: ModelInfo


def malignant_probability(probabilities: dict[str, float]) -> float:
    return sum(probabilities[code] for code in MALIGNANT_CODES)


def alerts(probabilities: dict[str, float], operating_points: dict[str, dict[str, Any]]) -> dict[str, Alert]:
    """Each alert of the card, flagged when its score reaches the threshold chosen on validation."""
    scores = {"melanoma": probabilities["mel"], "malignant": malignant_probability(probabilities)}
    answer: dict[str, Alert] = {}
    for name, point in operating_points.items():
        figures = {key: float(point[key]) for key in ("threshold", "sensitivity", "specificity")}
        answer[name] = {
            "flag": scores[name] >= figures["threshold"],
            "probability": scores[name],
            **figures,
            "meaning": ALERT_MEANING[name].format(**figures),
        }
    return answer


def out_of_distribution(score: float, threshold: float, reasons: list[str]) -> OutOfDistribution:
    answer: OutOfDistribution = {
        "flag": bool(reasons),
        "score": score,
        "threshold": threshold,
        "reasons": reasons,
    }
    if reasons:
        answer["message"] = OOD_MESSAGE
    return answer


def prediction(
    probabilities: dict[str, float],
    model: ModelInfo | None = None,
    *,
    operating_points: dict[str, dict[str, Any]] | None = None,
    ood: OutOfDistribution | None = None,
    explanation: Explanation | None = None,
    metadata: dict[str, Any] | None = None,
) -> Prediction:
    """A single answer (with `model`) or a batch item (without): classes always in CLASS_CODES order."""
    top = max(probabilities, key=probabilities.__getitem__)
    answer: Prediction = {
        "prediction": top,
        "label": CLASS_NAMES[top],
        "probabilities": {code: probabilities[code] for code in CLASS_CODES},
        "malignant_probability": malignant_probability(probabilities),
    }
    if operating_points:
        answer["alerts"] = alerts(probabilities, operating_points)
    if ood is not None:
        answer["out_of_distribution"] = ood
    if explanation is not None:
        answer["explanation"] = explanation
    if metadata:
        answer["metadata"] = metadata
    if model is not None:
        answer["model"] = model
    return answer


def batch_answer(items: list[Prediction | ServiceError], model: ModelInfo) -> BatchAnswer:
    return {
        "predictions": [item.to_dict() if isinstance(item, ServiceError) else item for item in items],
        "model": model,
    }


def error_table() -> str:
    """The README's Markdown tables of error codes: the service's, grouped by status, then the
    clients' own."""
    statuses = sorted({error.status for error in ERRORS.values()})
    lines = ["| status | code | when |", "|---|---|---|"]
    for status in statuses:
        for code, error in ERRORS.items():
            if error.status == status:
                lines.append(f"| {status} | `{code}` | {error.when} |")
    lines += ["", "Written by a client (the scorer, the clinic page), never by the service:", ""]
    lines += ["| code | when |", "|---|---|"]
    lines += [f"| `{code}` | {when} |" for code, when in CLIENT_ERRORS.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(error_table(), end="")
