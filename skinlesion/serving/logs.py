"""Structured logs: one JSON object per line on stdout, each carrying the invocation's request id.

CloudWatch Logs Insights reads the fields of such lines directly (`filter status >= 500`,
`stats avg(ms) by prediction`), and CloudWatch turns the request line's embedded metric format
block (`_aws`, from metrics.py) into metrics. Records do not propagate to the root logger, where
Lambda's runtime client would print them a second time as text.
"""

import json
import logging
import sys
import time
from typing import Any

# The invocation being answered: one at a time per Lambda execution environment.
_context: dict[str, Any] = {"request_id": None, "cold_start": None}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **{key: value for key, value in _context.items() if value is not None},
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever `sys.stdout` is at the time (the runtime's, or a test's capture)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stdout
        super().emit(record)


def get_logger(name: str) -> logging.Logger:
    logger = logging.getLogger(name)
    if not logger.handlers:
        handler = _StdoutHandler()
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


def bind(request_id: str | None, cold_start: bool) -> None:
    """Every line logged until the next call carries this invocation's id and cold-start flag."""
    _context.update(request_id=request_id, cold_start=cold_start)
