"""Acknowledging from a phone: a small page behind the signed link (GET shows, POST acknowledges:
link scanners that follow GETs acknowledge nothing), a code endpoint, and alert status.

Neither door needs a sign-in, so neither answer names a case or a person: a code or link that
acknowledges gets "acknowledged" (and the link page its time), anything else one refusal, the same
status and body whatever the reason. Codes are rate limited (services/notifier/ack_limits.py);
links are not (an HMAC cannot be guessed), so a spent global budget never stops a link."""

from __future__ import annotations

import html
from datetime import datetime
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.notifier.ack_limits import AckLimiter, Limited
from services.notifier.acknowledging import AckRefused, acknowledge, alert_for_code
from services.notifier.acks import ExpiredAckLink, InvalidAckLink, read_token
from services.notifier.adapters.tables import (
    alerts,
    delivery_attempts,
    escalation_steps,
    notifications,
)
from services.notifier.console_api import add_console_routes
from services.notifier.deps import NotifierDeps
from services.notifier.domain import normalise_ack_code
from services.notifier.figures_api import add_figure_routes
from services.notifier.rota_import_api import add_rota_import_route
from shared.logging import get_logger
from shared.problems import problem_response, problems
from shared.staff_auth import Staff, StaffAuth, StaffRole, StaffRoute

log = get_logger(__name__)

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem}}
button{{font-size:1.2rem;padding:.8rem 1.6rem}}</style></head><body>{content}</body></html>"""


class CodeAck(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a field we would drop is refused, not ignored

    code: Annotated[str, Field(min_length=4, max_length=24)]  # room for spaces and dashes


class CodeAcknowledged(BaseModel):
    status: Literal["acknowledged"]


ACKNOWLEDGED = {"status": "acknowledged"}
REFUSED_STATUS = 403
REFUSED_DETAIL = (
    "This code acknowledges nothing: it may be mistyped or out of date, or the alert is closed. "
    "Use the link in the message, or call the duty line."
)
REFUSED_PAGE = (
    "<p>This link acknowledges nothing: it may be incomplete or out of date, or the alert is "
    "closed. If you still need to act on it, call the duty line.</p>"
)


def build_http_app(deps: NotifierDeps, staff_auth: StaffAuth) -> FastAPI:
    app = FastAPI(title="Safeguarding notifier", version="1")
    app.router.route_class = StaffRoute  # sign-in is checked before the body is read
    staff = staff_auth.require(StaffRole.ADVISOR, StaffRole.HEAD_OF_SERVICE)

    @app.get("/ack/{token}", response_class=HTMLResponse, include_in_schema=False)
    async def ack_page(token: str, request: Request) -> HTMLResponse:
        try:
            claim = read_token(deps.ack_secret, token, deps.clock.now())
        except InvalidAckLink as error:
            return _refused_link(deps.ack_limiter, request, error)
        async with deps.engine.connect() as connection:
            alert = (
                await connection.execute(
                    sa.select(alerts).where(alerts.c.alert_id == claim.alert_id)
                )
            ).first()
        if alert is None:
            return _refused_link(deps.ack_limiter, request, AckRefused("unknown"))
        if alert.status != "open":
            if alert.acknowledged_by != claim.person_id:
                return _refused_link(deps.ack_limiter, request, AckRefused("closed"))
            return _acknowledged_page(alert.acknowledged_at)
        return _page(
            "Acknowledge alert",
            f"<p>Acknowledge this {html.escape(alert.urgency)} alert? Further calls and messages "
            "about it will stop.</p><form method='post'><button type='submit'>Acknowledge</button></form>",
            200,
        )

    @app.post("/ack/{token}", response_class=HTMLResponse, include_in_schema=False)
    async def ack_by_link(token: str, request: Request) -> HTMLResponse:
        try:
            claim = read_token(deps.ack_secret, token, deps.clock.now())
            result = await acknowledge(deps, claim.alert_id, claim.person_id, via="link")
        except (InvalidAckLink, AckRefused) as error:
            return _refused_link(deps.ack_limiter, request, error)
        deps.ack_limiter.ack_attempts_total["acknowledged"] += 1
        return _acknowledged_page(result.acknowledged_at)

    @app.post(
        "/v1/acks",
        summary="Acknowledge an alert by the code in its message",
        response_model=CodeAcknowledged,
        responses={
            **problems(
                {
                    403: "The code acknowledges nothing (one answer for every reason)",
                    429: "Too many failed codes: try again after Retry-After seconds",
                }
            ),
        },
    )
    async def ack_by_code(body: CodeAck, request: Request) -> JSONResponse:
        """Answers only "acknowledged" or one refusal: never a case, never a person."""
        limiter = deps.ack_limiter
        client = _client(request)
        code = normalise_ack_code(body.code) or body.code.strip().upper()
        reserved = await limiter.reserve(client, code, deps.clock.now())
        if isinstance(reserved, Limited):
            log.warning(
                "ack_rate_limited", via="code", scope=reserved.scope, client=limiter.tag(client)
            )
            return problem_response(
                429, "Too many attempts: try again later, or use the link in the message.",
                headers={"Retry-After": str(reserved.retry_after_seconds)},
            )  # fmt: skip
        try:
            alert_id, person_id = await alert_for_code(deps, body.code)
            await acknowledge(deps, alert_id, person_id, via="code")
        except AckRefused as refused:
            _count_refusal(limiter, "code", refused.reason, client)
            return problem_response(REFUSED_STATUS, REFUSED_DETAIL)
        await limiter.refund(reserved)
        limiter.ack_attempts_total["acknowledged"] += 1
        return JSONResponse(ACKNOWLEDGED)

    @app.get(
        "/v1/alerts/{alert_id}",
        summary="An alert's state: steps, notifications, ledger",
        responses=problems({404: "No such alert"}),
    )
    async def alert_status(alert_id: str, who: Staff = Depends(staff)) -> Any:
        """For advisors and the head of service (a staff access token)."""
        async with deps.engine.connect() as connection:
            alert = (
                await connection.execute(sa.select(alerts).where(alerts.c.alert_id == alert_id))
            ).first()
            if alert is None:
                return problem_response(404, "no such alert")
            steps = await connection.execute(
                sa.select(escalation_steps)
                .where(escalation_steps.c.alert_id == alert_id)
                .order_by(escalation_steps.c.step)
            )
            sent = await connection.execute(
                sa.select(
                    notifications.c.notification_id, notifications.c.step, notifications.c.person_id,
                    notifications.c.channel, notifications.c.status, notifications.c.attempts,
                    notifications.c.delivered_at,
                ).where(notifications.c.alert_id == alert_id).order_by(notifications.c.created_at)
            )  # fmt: skip
            ledger = await connection.execute(
                sa.select(delivery_attempts)
                .join(
                    notifications,
                    notifications.c.notification_id == delivery_attempts.c.notification_id,
                )
                .where(notifications.c.alert_id == alert_id)
                .order_by(delivery_attempts.c.id)
            )
            return {
                "alert_id": alert.alert_id, "kind": alert.kind, "urgency": alert.urgency,
                "status": alert.status, "raised_at": alert.raised_at,
                "acknowledged_at": alert.acknowledged_at, "acknowledged_by": alert.acknowledged_by,
                "steps": [dict(row._mapping) for row in steps],
                "notifications": [dict(row._mapping) for row in sent],
                "ledger": [dict(row._mapping) for row in ledger],
            }  # fmt: skip

    add_console_routes(app, deps, staff_auth)  # the staff console's API
    add_figure_routes(app, deps, staff_auth)
    add_rota_import_route(app, deps, staff_auth)  # leave and cover from a calendar
    return app


def _client(request: Request) -> str:
    """The peer address (behind a proxy, uvicorn's --proxy-headers puts the client's here)."""
    return request.client.host if request.client else "unknown"


def _count_refusal(limiter: AckLimiter, via: str, reason: str, client: str) -> None:
    """Logged and counted without the code, the link or the address (a keyed tag stands for it)."""
    limiter.ack_attempts_total[f"refused:{reason}"] += 1
    log.warning("ack_refused", via=via, reason=reason, client=limiter.tag(client))


def _refused_link(
    limiter: AckLimiter, request: Request, error: InvalidAckLink | AckRefused
) -> HTMLResponse:
    if isinstance(error, AckRefused):
        reason: str = error.reason
    else:
        reason = "expired" if isinstance(error, ExpiredAckLink) else "malformed"
    _count_refusal(limiter, "link", reason, _client(request))
    return _page("Not acknowledged", REFUSED_PAGE, REFUSED_STATUS)


def _acknowledged_page(when: datetime | None) -> HTMLResponse:
    at = f" ({when:%H:%M %d %b} UTC)" if when else ""
    return _page("Acknowledged", f"<p>The alert is acknowledged{at}.</p>", 200)


def _page(title: str, content: str, status: int) -> HTMLResponse:
    return HTMLResponse(PAGE.format(title=html.escape(title), content=content), status_code=status)
