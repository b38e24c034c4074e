"""Security headers on every response (a CSP, no framing and no-store on HTML pages) and access
log lines that keep neither an acknowledgement link's token nor a query string."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from shared.events import ReferralOpenedV1, trusted_correlation_id
from shared.http_guards import SecurityHeaders
from shared.logging import MaskAccessPaths, route_library_loggers
from tests.support.events import referral


async def page(_: Request) -> Response:
    return HTMLResponse("<p>hello</p>")


async def data(_: Request) -> Response:
    return JSONResponse({"a": 1}, headers={"Cache-Control": "no-store, private"})


APP = SecurityHeaders(Starlette(routes=[Route("/ack/x", page), Route("/docs", page),
                                        Route("/v1/data", data)]))  # fmt: skip


async def get(path: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=APP), base_url="http://s") as c:
        return await c.get(path)


async def test_html_pages_forbid_scripts_framing_and_storage() -> None:
    response = await get("/ack/x")
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "script-src" not in policy  # nothing may run
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_json_keeps_its_own_cache_control_and_gets_no_page_policy() -> None:
    response = await get("/v1/data")
    assert response.headers["cache-control"] == "no-store, private"
    assert "content-security-policy" not in response.headers
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_api_docs_may_load_their_cdn_scripts_and_nothing_else() -> None:
    policy = (await get("/docs")).headers["content-security-policy"]
    assert "script-src 'unsafe-inline' https://cdn.jsdelivr.net;" in policy
    assert "frame-ancestors 'none'" in policy


@pytest.mark.parametrize(
    ("target", "logged"),
    [
        ("/ack/eyJhbGVydCI6IjEyMyJ9.0123456789abcdef", "/ack/[token]"),
        ("/v1/cases/MS-2026-7KQ2M4/personal-data?purpose=Canary+Wilhelmina+asked",
         "/v1/cases/MS-2026-7KQ2M4/personal-data?[query]"),
        ("/healthz", "/healthz"),
    ],
)  # fmt: skip
def test_access_lines_keep_the_path_shape_only(
    target: str, logged: str, caplog: pytest.LogCaptureFixture
) -> None:
    route_library_loggers()
    access = logging.getLogger("uvicorn.access")
    access.disabled = False
    assert any(isinstance(item, MaskAccessPaths) for item in access.filters)
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        # Exactly how uvicorn's httptools/h11 protocols log a request.
        access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:50000", "GET", target, "1.1", 200)
    assert caplog.records[-1].getMessage() == f'127.0.0.1:50000 - "GET {logged} HTTP/1.1" 200'


@pytest.mark.parametrize(
    ("value", "trusted"),
    [("0b9f3c1e-8d5a-4a77-9d0e-2f1c6b7a8e90", True), ("c-17", True), ("NFK:op-kestrel.3", True),
     ("", False), (None, False), ("Canary Wilhelmina", False), ("c-1\nforged log line", False),
     ("x" * 65, False), ("-leading-dash", False), (42, False)],
)  # fmt: skip
def test_correlation_ids_from_outside_are_used_only_when_they_have_the_shape(
    value: object, trusted: bool
) -> None:
    assert trusted_correlation_id(value) == (value if trusted else None)


def test_an_event_with_a_sentence_for_a_correlation_id_is_refused() -> None:
    good = referral("MS-2026-T00001", datetime(2026, 11, 28, 9, 0, tzinfo=UTC)).model_dump(
        mode="json"
    )
    with pytest.raises(ValidationError, match="correlation_id"):
        ReferralOpenedV1.model_validate({**good, "correlation_id": "Canary Wilhelmina, 12 Quay St"})
