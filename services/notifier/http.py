"""Acknowledging from a phone: a small page behind the signed link (GET shows, POST acknowledges:
link scanners that follow GETs acknowledge nothing), a code endpoint, and alert status."""

from __future__ import annotations

import html
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from services.notifier.acknowledging import UnknownAck, acknowledge, alert_for_code
from services.notifier.acks import InvalidAckLink, read_token
from services.notifier.adapters.tables import (
    alerts,
    delivery_attempts,
    escalation_steps,
    notifications,
)
from services.notifier.deps import NotifierDeps

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem}}
button{{font-size:1.2rem;padding:.8rem 1.6rem}}</style></head><body>{content}</body></html>"""


class CodeAck(BaseModel):
    code: Annotated[str, Field(min_length=4, max_length=16)]


def build_http_app(deps: NotifierDeps) -> FastAPI:
    app = FastAPI(title="Safeguarding notifier", version="1")

    @app.get("/ack/{token}", response_class=HTMLResponse, include_in_schema=False)
    async def ack_page(token: str) -> HTMLResponse:
        try:
            claim = read_token(deps.ack_secret, token, deps.clock.now())
        except InvalidAckLink as error:
            return _page("Link not valid", f"<p>{html.escape(str(error))}</p>", 403)
        async with deps.engine.connect() as connection:
            alert = (
                await connection.execute(
                    sa.select(alerts).where(alerts.c.alert_id == claim.alert_id)
                )
            ).first()
        if alert is None:
            return _page("Unknown alert", "<p>No such alert.</p>", 404)
        about = html.escape(alert.case_reference or f"{alert.kind} alert")
        if alert.status != "open":
            return _page("Already acknowledged", f"<p>{about} was acknowledged already.</p>", 200)
        return _page(
            "Acknowledge alert",
            f"<p>Acknowledge the alert for <strong>{about}</strong>? Further calls and messages "
            "about it will stop.</p><form method='post'><button type='submit'>Acknowledge</button></form>",
            200,
        )

    @app.post("/ack/{token}", response_class=HTMLResponse, include_in_schema=False)
    async def ack_by_link(token: str) -> HTMLResponse:
        try:
            claim = read_token(deps.ack_secret, token, deps.clock.now())
            result = await acknowledge(deps, claim.alert_id, claim.person_id, via="link")
        except InvalidAckLink as error:
            return _page("Link not valid", f"<p>{html.escape(str(error))}</p>", 403)
        except UnknownAck:
            return _page("Unknown alert", "<p>No such alert.</p>", 404)
        when = result.acknowledged_at.strftime("%H:%M %d %b")
        text = "was already acknowledged" if result.already else "is acknowledged"
        return _page(
            "Acknowledged",
            f"<p>The alert {text} (by {html.escape(result.acknowledged_by)}, {when} UTC).</p>",
            200,
        )

    @app.post("/v1/acks", summary="Acknowledge an alert by the code in its message")
    async def ack_by_code(body: CodeAck) -> JSONResponse:
        try:
            alert_id, person_id = await alert_for_code(deps, body.code)
            result = await acknowledge(deps, alert_id, person_id, via="code")
        except UnknownAck:
            return JSONResponse({"title": "unknown acknowledgement code"}, status_code=404)
        return JSONResponse(
            {
                "alert_id": result.alert_id,
                "case_references": list(result.case_references),
                "acknowledged_by": result.acknowledged_by,
                "already_acknowledged": result.already,
            }
        )

    @app.get("/v1/alerts/{alert_id}", summary="An alert's state: steps, notifications, ledger")
    async def alert_status(alert_id: str) -> Any:
        async with deps.engine.connect() as connection:
            alert = (
                await connection.execute(sa.select(alerts).where(alerts.c.alert_id == alert_id))
            ).first()
            if alert is None:
                return JSONResponse({"title": "no such alert"}, status_code=404)
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

    return app


def _page(title: str, content: str, status: int) -> HTMLResponse:
    return HTMLResponse(PAGE.format(title=html.escape(title), content=content), status_code=status)
