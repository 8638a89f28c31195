"""Every limit and switch of the service, with its default, read once from the environment.

This is the one place a limit is defined: the fetcher, the decoder and the event parser get
theirs from a `Settings`.
"""

import os
from dataclasses import dataclass
from pathlib import Path

from skinlesion.image.decode import MAX_PIXELS
from skinlesion.paths import DEFAULT_MODEL_PATH
from skinlesion.serving.fetch import FetchLimits

MB = 1024 * 1024


def _env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def _env_number(name: str, default: float, cast: type = float) -> float:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    number = cast(value)
    if number <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return number


@dataclass(frozen=True)
class Settings:
    """Limits are explicit so that clients can be told exactly what was refused and why."""

    model_path: Path = DEFAULT_MODEL_PATH
    max_image_bytes: int = 10 * MB  # per image, downloaded or uploaded
    max_body_bytes: int = 6 * MB  # Lambda's synchronous payload limit
    max_pixels: int = MAX_PIXELS  # the decoder's default
    max_batch: int = 16
    fetch_connect_timeout: float = 3.0  # seconds
    fetch_read_timeout: float = 5.0  # seconds without a byte
    fetch_deadline: float = 10.0  # seconds for a whole download, redirects included
    max_redirects: int = 3
    allow_private_urls: bool = False  # local development and tests only
    cors_allow_origin: str = "*"
    num_threads: int | None = None

    @property
    def fetch_limits(self) -> FetchLimits:
        return FetchLimits(
            connect_timeout=self.fetch_connect_timeout,
            read_timeout=self.fetch_read_timeout,
            deadline=self.fetch_deadline,
            max_bytes=self.max_image_bytes,
            max_redirects=self.max_redirects,
            allow_private=self.allow_private_urls,
        )

    @classmethod
    def from_env(cls) -> "Settings":
        threads = os.environ.get("TFLITE_NUM_THREADS")
        return cls(
            model_path=Path(os.environ.get("MODEL_PATH") or DEFAULT_MODEL_PATH),
            max_image_bytes=int(_env_number("MAX_IMAGE_BYTES", cls.max_image_bytes, int)),
            max_pixels=int(_env_number("MAX_PIXELS", cls.max_pixels, int)),
            max_batch=int(_env_number("MAX_BATCH", cls.max_batch, int)),
            fetch_connect_timeout=_env_number("FETCH_CONNECT_TIMEOUT", cls.fetch_connect_timeout),
            fetch_read_timeout=_env_number("FETCH_READ_TIMEOUT", cls.fetch_read_timeout),
            fetch_deadline=_env_number("FETCH_DEADLINE", cls.fetch_deadline),
            allow_private_urls=_env_bool("ALLOW_PRIVATE_URLS"),
            cors_allow_origin=os.environ.get("CORS_ALLOW_ORIGIN") or cls.cors_allow_origin,
            num_threads=int(threads) if threads else None,
        )
