"""The console's Prometheus metrics: requests by route template and status, their duration, and
the signed-in sessions. Served at /metrics under the same rules as every service's
(shared/app.py add_metrics_route).

Labels are route templates (`/cases/{case}`), never the path a browser asked for: a path
carries a case reference, and an unknown path would be a new time series per guess."""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "POST", "HEAD"})


class ConsoleMetrics:
    def __init__(self, enabled: bool, sessions: Callable[[], int]) -> None:
        self.enabled = enabled
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "safeguarding_console_requests_total",
            "Console HTTP requests by route template, method and status code",
            ("route", "method", "status"),
            registry=self.registry,
        )
        self.seconds = Histogram(
            "safeguarding_console_request_seconds",
            "Time the console took to answer, by route template (includes its calls to services)",
            ("route",),
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=self.registry,
        )
        sessions_gauge = Gauge(
            "safeguarding_console_sessions",
            "Signed-in console sessions held by this process",
            registry=self.registry,
        )
        sessions_gauge.set_function(lambda: float(sessions()))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class RequestMetrics:
    """ASGI middleware counting each HTTP request once it has answered."""

    def __init__(self, app: ASGIApp, metrics: ConsoleMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception that escapes answers 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            template = (
                route.path
                if isinstance(route, BaseRoute) and hasattr(route, "path")
                else (UNMATCHED)
            )
            method = scope["method"] if scope["method"] in METHODS else "other"
            self.metrics.requests.labels(route=template, method=method, status=str(status)).inc()
            self.metrics.seconds.labels(route=template).observe(time.perf_counter() - started)
