"""The service's rendered log lines, kept for a test to search for values that must never be
logged (a submitted canary, the text of minutes)."""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack


class LogLines(logging.Handler):
    """Keeps the service's rendered log lines instead of printing them."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def capture_logs(stack: AsyncExitStack) -> LogLines:
    """Route the root logger to a `LogLines` until `stack` closes. Call it after the app has
    configured logging, so the lines are rendered as the service renders them."""
    root = logging.getLogger()
    saved = root.handlers[:]
    logs = LogLines()
    logs.setFormatter(saved[0].formatter if saved else None)
    root.handlers[:] = [logs]

    def restore() -> None:
        root.handlers[:] = saved

    stack.callback(restore)
    return logs
