"""Which event loop and which HTTP parser a process actually runs on, said once in its log.

uvloop and httptools are dependencies (pyproject.toml), and both runners pick them when they are
installed: `faststream run` builds its loop with `uvloop.new_event_loop`, and uvicorn's defaults
(`--loop auto --http auto`) choose uvloop and httptools. Nothing fails if a build lacks them (they
fall back to asyncio's loop and h11, several times slower per request and per callback), so each
process reports what it got on its first HTTP request (the first readiness poll): the operator and
tests/integration/test_runtime.py read it there rather than trusting the defaults.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Receive, Scope, Send

from shared.logging import get_logger

log = get_logger(__name__)


def event_loop_name() -> str:
    """`uvloop.Loop`, or asyncio's `asyncio.unix_events._UnixSelectorEventLoop`."""
    kind = type(asyncio.get_running_loop())
    return f"{kind.__module__}.{kind.__qualname__}"


def http_parser_name(receive: Receive) -> str:
    """The uvicorn protocol whose request cycle owns `receive` (as uvicorn hands it to the app,
    before any middleware wraps it): `httptools` or `h11`; `unknown` under another server."""
    owner = getattr(receive, "__self__", None)
    module = type(owner).__module__ if owner is not None else ""
    prefix = "uvicorn.protocols.http."
    if module.startswith(prefix):
        return module.removeprefix(prefix).removesuffix("_impl")
    return "unknown"


class ServerReport:
    """Logs `serving` once, with the event loop and the HTTP parser, on the first HTTP request.
    Put it outermost: it must see uvicorn's own `receive`. One attribute test a request after."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.reported = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.reported and scope["type"] == "http":
            self.reported = True
            report_server(receive)
        await self.app(scope, receive, send)


def report_server(receive: Receive) -> None:
    log.info("serving", event_loop=event_loop_name(), http_parser=http_parser_name(receive))
