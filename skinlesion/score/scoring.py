"""The run: requests fanned out over the backend's threads, rows written and the progress bar moved
as answers come, with the memory of a large run bounded."""

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager

from tqdm import tqdm

from skinlesion.score.backends import Backend
from skinlesion.score.batches import Request, plan, score_request
from skinlesion.score.inputs import Item
from skinlesion.score.results import Row


def run(
    todo: list[Item],
    backend: Backend,
    write: Callable[[list[Row]], None],
    bar: tqdm,
    stop: threading.Event,
) -> Counter[str]:
    """Score `todo`, writing rows as answers come; returns the count of each error code. At most
    two requests per thread are prepared at once, which bounds the memory of a large run."""
    errors: Counter[str] = Counter()

    def record(rows: list[Row]) -> None:
        write(rows)
        bar.update(len(rows))
        errors.update(row["error_code"] for row in rows if row["error_code"])
        if errors:
            bar.set_postfix(errors=errors.total(), refresh=False)

    pool = ThreadPoolExecutor(max_workers=backend.concurrency, thread_name_prefix="score")
    pending: list[Future[list[Row]]] = []  # in the order sent: answers that come together are written so

    def collect(keep: int) -> None:
        nonlocal pending
        while len(pending) > keep:
            done = wait(pending, return_when=FIRST_COMPLETED).done
            for future in [future for future in pending if future in done]:
                record(future.result())
            pending = [future for future in pending if future not in done]

    try:
        for unit in plan(todo, backend):
            if isinstance(unit, Request):
                pending.append(pool.submit(score_request, backend, unit))
                collect(2 * backend.concurrency - 1)
            else:
                record([unit])
        collect(0)
    finally:
        stop.set()  # threads waiting to retry give up at once
        pool.shutdown(wait=True, cancel_futures=True)
    return errors


@contextmanager
def quiet_request_logs() -> Iterator[None]:
    """The handler logs a JSON line per request, for CloudWatch; here they would bury the progress
    bar. Errors still print."""
    logger = logging.getLogger("skinlesion.serving")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)
