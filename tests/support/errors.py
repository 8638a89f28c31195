"""Asserting which contract error a call raised."""

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from skinlesion.contract import ServiceError


@contextmanager
def expect_error(expected: str | int) -> Iterator[pytest.ExceptionInfo[ServiceError]]:
    """The block raises a ServiceError with this code (a str) or this HTTP status (an int)."""
    with pytest.raises(ServiceError) as caught:
        yield caught
    actual = caught.value.code if isinstance(expected, str) else caught.value.status
    assert actual == expected, caught.value.to_dict()
