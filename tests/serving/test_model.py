"""serving/model.py's timing loop: warm-up invokes are run but not timed."""

import time

from skinlesion.serving.model import median_invoke_ms


class SlowAfterWarmup:
    """An interpreter stand-in whose first `fast` invokes return at once and later ones take 2 ms."""

    def __init__(self, fast: int) -> None:
        self.fast = fast
        self.calls = 0

    def invoke(self) -> None:
        self.calls += 1
        if self.calls > self.fast:
            time.sleep(0.002)


def test_median_leaves_out_the_warm_up_and_runs_each_invoke_once() -> None:
    interpreter = SlowAfterWarmup(fast=3)
    assert median_invoke_ms(interpreter, invokes=5, warmup=3) >= 2.0
    assert interpreter.calls == 8


def test_without_warm_up_the_fast_invokes_set_the_median() -> None:
    interpreter = SlowAfterWarmup(fast=3)
    assert median_invoke_ms(interpreter, invokes=5, warmup=0) < 2.0
    assert interpreter.calls == 5
