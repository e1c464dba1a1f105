"""Waiting on conditions, never on sleeps alone: shared by the worker tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from errors import AppError


def wait_for(condition: Callable, what: str, timeout: float = 60, every: float = 0.05):
    """`condition()`'s first true value, asked every `every` s; fails saying `what` after
    `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def run_in_thread(run: Callable, *args) -> tuple[threading.Thread, dict]:
    """`run(*args)` in a started thread; its outcome dict gets "result" or the AppError "error"."""
    outcome: dict = {}

    def work():
        try:
            outcome["result"] = run(*args)
        except AppError as err:
            outcome["error"] = err

    thread = threading.Thread(target=work)
    thread.start()
    return thread, outcome
