"""`GET /heartbeat`: when the last heartbeat went end to end, for any HTTP uptime monitor
(Uptime Kuma, Healthchecks.io's HTTP checks, a load balancer probe) to poll.

No sign-in: the answer is one timestamp and its age, nothing about a case or a person, and a
monitor outside the system must be able to read it without a staff account."""

from __future__ import annotations

from typing import Literal

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from services.notifier.heartbeat import HeartbeatMonitor
from shared.api_times import UtcTimestamp


class HeartbeatStatus(BaseModel):
    status: Literal["ok", "stale", "waiting"]  # waiting: none yet since the notifier started
    last_end_to_end: UtcTimestamp | None
    age_seconds: float  # since the last heartbeat end to end, or since the start before one
    stale_after_seconds: float  # 0: the watchdog is off (dev and test only)


def add_heartbeat_route(app: FastAPI, monitor: HeartbeatMonitor) -> None:
    @app.get(
        "/heartbeat",
        tags=["health"],
        summary="The dead-man's switch: 200 while heartbeats go end to end, 503 when stale",
        response_model=HeartbeatStatus,
        responses={503: {"model": HeartbeatStatus, "description": "No heartbeat for too long"}},
    )
    async def heartbeat() -> JSONResponse:
        healthy, body = monitor.status()
        return JSONResponse(body, status_code=200 if healthy else 503)
