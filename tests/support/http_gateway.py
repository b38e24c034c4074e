"""A real HTTP server standing in for SMS and voice gateways: apprise's json:// plugin POSTs to
it; it records every request and can be told to answer 503 (an outage)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from deploy.kafka_broker import free_port
from tests.support.allow_list import check_messages


@dataclass
class Received:
    path: str
    title: str
    message: str
    at: float


@dataclass
class Gateway:
    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    refused: int = 0
    down_until: float = 0.0
    refuse_next: int = 0  # requests still to refuse, whenever they come (see `refuse`)

    def url(self, path: str) -> str:
        return f"json://127.0.0.1:{self.port}/{path.strip('/')}"

    def outage(self, seconds: float) -> None:
        self.down_until = time.monotonic() + seconds

    def refuse(self, requests: int) -> None:
        """An outage counted in requests rather than seconds: the next `requests` are refused
        however late they come, so a test does not depend on how fast the notifier gets here."""
        self.refuse_next = requests

    def to(self, path: str) -> list[Received]:
        return [item for item in self.received if item.path == "/" + path.strip("/")]

    async def handle(self, request: Request) -> JSONResponse:
        if time.monotonic() < self.down_until or self.refuse_next > 0:
            self.refuse_next = max(0, self.refuse_next - 1)
            self.refused += 1
            return JSONResponse({"error": "unavailable"}, status_code=503)
        payload: dict[str, Any] = json.loads(await request.body())
        self.received.append(
            Received(
                request.url.path,
                str(payload.get("title", "")),
                str(payload.get("message", "")),
                time.monotonic(),
            )
        )
        return JSONResponse({"status": "queued"})


class RunningGateway:
    """`async with RunningGateway() as gateway:` serves on 127.0.0.1 until the block ends.

    The server runs on its own thread and event loop, as a real provider runs apart from the
    test: on the test's loop, any stretch the test spends busy (a fault scenario's generator,
    its polling of four databases) would hold back the gateway's answer, and an answer later than
    the notifier's 4 s provider timeout makes it record the SMS as failed and send it again. (An
    overloaded machine can still delay an answer that long; the fault tests allow exactly those
    duplicates: tests/support/ground_truth.py, assert_no_message_duplicates.) The gateway's
    state is plain attributes and a list, which both threads may touch."""

    def __init__(self) -> None:
        self.gateway = Gateway()
        app = Starlette(routes=[Route("/{path:path}", self.gateway.handle, methods=["POST"])])
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.gateway.port, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    async def __aenter__(self) -> Gateway:
        self._thread = threading.Thread(
            target=asyncio.run, args=(self._server.serve(),), name="sms-gateway", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("gateway did not start")
            await asyncio.sleep(0.02)
        return self.gateway

    async def __aexit__(self, exc_type: object, *exc: object) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 10)
            if self._thread.is_alive() and exc_type is None:  # else the test's own error counts
                raise RuntimeError("gateway did not stop in 10 s")
        if exc_type is None:  # every message the notifier sent in the test must be allow-listed
            check_messages(
                [text for item in self.gateway.received for text in (item.title, item.message)]
            )
