"""structlog JSON logging for every service, with the correlation id bound per message.

Standard-library loggers (FastStream, aiokafka, uvicorn) are routed through the same processors, so
every line is JSON and passes the same redaction.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog
from opentelemetry import trace

from shared.redaction import redact_mapping, safe_reason


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    return redact_mapping(event)


def _safe_exception(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Replace exc_info by the exception's type and a safe reason: tracebacks of validation errors
    carry the input values, and those may be personal data."""
    exc_info = event.pop("exc_info", None)
    if exc_info:
        if exc_info is True:
            exc_info = sys.exc_info()
        error = exc_info if isinstance(exc_info, BaseException) else exc_info[1]
        if error is not None:
            event["error_type"] = type(error).__name__
            event["error"] = safe_reason(error)
    return event


def _add_trace_ids(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """The current span's trace and span id (shared/tracing.py), so a trace found in the tracing
    backend leads to its log lines and a log line to its trace."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event.setdefault("trace_id", format(context.trace_id, "032x"))
        event.setdefault("span_id", format(context.span_id, "016x"))
    return event


SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    _add_trace_ids,
    structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    _safe_exception,
    _redact,
]


def configure_logging(service: str, level: str = "INFO", console: bool = False) -> None:
    """JSON lines, one per event. `console` (dev on a terminal only, see ServiceSettings): the
    same events coloured for a person, without the health checks' access lines."""
    structlog.configure(
        processors=[
            *SHARED_PROCESSORS,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *SHARED_PROCESSORS],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.dev.ConsoleRenderer(colors=True)
            if console
            else structlog.processors.JSONRenderer(),
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    if console:
        handler.addFilter(QuietHealthChecks())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    route_library_loggers()
    # Providers' libraries log URLs and bodies at debug/info; keep them to warnings.
    for noisy in ("apprise", "aiokafka", "aiosqlite", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)


class MaskAccessPaths(logging.Filter):
    """Uvicorn's access line quotes the request target. An acknowledgement link's path is a bearer
    token (whoever holds it acknowledges), and a query string may carry free text: keep the path's
    shape only. A line of another shape passes unchanged."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], mask_target(args[2]), args[3], args[4])
        return True


class QuietHealthChecks(logging.Filter):
    """Drops the access lines of successful /healthz and /readyz polls (the launcher and any
    orchestrator poll every few seconds); a failing probe is still shown."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
            return not (str(args[2]) in HEALTH_PATHS and args[4] == 200)
        return True


HEALTH_PATHS = frozenset({"/healthz", "/readyz"})


def mask_target(target: str) -> str:
    path, _, query = target.partition("?")
    if path.startswith("/ack/"):
        path = "/ack/[token]"
    return f"{path}?[query]" if query else path


def route_library_loggers() -> None:
    """Uvicorn installs its own plain-text handlers when it starts (after the app factory ran), so
    services call this again from their startup hook."""
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "faststream", "faststream.access"):
        library_logger = logging.getLogger(name)
        library_logger.handlers[:] = []
        library_logger.propagate = True
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(item, MaskAccessPaths) for item in access.filters):
        access.addFilter(MaskAccessPaths())


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger
