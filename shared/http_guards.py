"""Checks every service's HTTP side makes before a request reaches its routes."""

from __future__ import annotations

import json
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.problems import PROBLEM_MEDIA_TYPE, problem_body
from shared.safety import is_loopback_host

MAX_BUFFERED_BODY = 1024 * 1024  # no API of ours takes more; intake refuses past 64 KiB itself
# A JSON escape of U+0000: `\u0000` whose backslash is not itself escaped (an odd run of
# backslashes before the u). `\\u0000` is an escaped backslash and the text "u0000": allowed.
ESCAPED_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


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
        if b"json" in content_type and ESCAPED_NUL.search(body):
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


class LocalClientsOnly:
    """`dev` and `test` serve this machine only: a request from any other address is refused
    before it reaches a route, whatever address the server was told to bind. The launcher binds
    127.0.0.1 too; this makes a forgotten `--host 0.0.0.0` harmless rather than an open door to
    the public dev secrets."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            client = scope.get("client")
            if client is None or not is_loopback_host(str(client[0])):
                await _refuse(send, 403, "this environment serves this machine only")
                return
        await self.app(scope, receive, send)


# Our own pages (the acknowledgement page) run no script and load nothing from elsewhere. FastAPI's
# /docs and /redoc pages load Swagger UI / ReDoc from their CDN with an inline bootstrap script:
# they get a policy that allows exactly that.
PAGE_POLICY = (
    "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
DOCS_POLICY = (
    "default-src 'none'; script-src 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com "
    "https://cdn.redoc.ly; connect-src 'self'; worker-src blob:; frame-ancestors 'none'; "
    "base-uri 'none'"
)
DOCS_PATHS = ("/docs", "/redoc")


class SecurityHeaders:
    """Headers every response carries (no MIME sniffing, no referrer: a link may hold a token),
    and, on HTML pages, a content security policy that forbids framing and scripts, and
    `no-store` so a shared phone's browser keeps no copy of a page about a case."""

    def __init__(self, app: ASGIApp, page_policy: str = PAGE_POLICY) -> None:
        self.app, self.page_policy = app, page_policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = str(scope.get("path", "")).startswith(DOCS_PATHS)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                content_type = dict(headers).get(b"content-type", b"").lower()
                added = [(b"x-content-type-options", b"nosniff"),
                         (b"referrer-policy", b"no-referrer")]  # fmt: skip
                if content_type.startswith(b"text/html"):
                    policy = DOCS_POLICY if docs else self.page_policy
                    added += [(b"content-security-policy", policy.encode()),
                              (b"x-frame-options", b"DENY"),
                              (b"cache-control", b"no-store")]  # fmt: skip
                replaced = {name for name, _ in added}
                headers = [item for item in headers if item[0].lower() not in replaced] + added
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


async def _refuse(send: Send, status: int, detail: str) -> None:
    """A Problem (shared/problems.py), as every other refusal; sent here, before any route."""
    body = json.dumps(problem_body(status, detail)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
