"""Checks every service's HTTP side makes before a request reaches its routes."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BUFFERED_BODY = 1024 * 1024  # no API of ours takes more; intake refuses past 64 KiB itself


class RefuseNulCharacters:
    """PostgreSQL text cannot hold U+0000: a NUL in a path, query or JSON body reached the database
    and came back as a 500 (found by the fault suite's fuzz). Refuse it at the edge with a 422, the
    same on SQLite and PostgreSQL, before any handler runs. The body is read here and handed on
    unchanged."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        target = (scope.get("raw_path") or scope["path"].encode()) + scope.get("query_string", b"")
        if b"\x00" in target or b"%00" in target or "\x00" in scope["path"]:
            await _refuse(send, 422, "NUL characters are not accepted")
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BUFFERED_BODY:
                await _refuse(send, 413, "the request body is too large")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        # A raw NUL byte makes a body invalid JSON, which the routes refuse themselves (and a body
        # of another type gets its 415 there); a JSON-escaped one would parse, so catch it here.
        content_type = dict(scope.get("headers") or []).get(b"content-type", b"").lower()
        if b"json" in content_type and b"\\u0000" in body.lower():
            await _refuse(send, 422, "NUL characters are not accepted")
            return
        handed = False

        async def replay() -> Message:
            nonlocal handed
            if not handed:
                handed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _refuse(send: Send, status: int, title: str) -> None:
    payload: dict[str, Any] = {"title": title}
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
