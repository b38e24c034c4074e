"""The four services built in-process against the real broker, each with its own database."""

from __future__ import annotations

import base64
import time
import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from faststream import TestApp

from services.casework.main import create_app as create_casework
from services.casework.settings import CaseworkSettings
from services.intake.auth import signed_headers
from services.intake.main import create_app as create_intake
from services.intake.settings import IntakeSettings
from services.meeting_scheduler.main import create_app as create_scheduler
from services.meeting_scheduler.settings import SchedulerSettings
from services.notifier.main import create_app as create_notifier
from services.notifier.settings import NotifierSettings
from shared.app import ServiceApp
from tests.support.databases import DatabaseUrls
from tests.support.signing import event_settings

ROOT = Path(__file__).resolve().parents[2]


def common(kafka: str, prefix: str, database_url: str) -> dict[str, Any]:
    return {
        "SAFEGUARDING_ENV": "test",
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "KAFKA_TOPIC_PREFIX": prefix,
        "database_url": database_url,
        "consumer_retry_backoff_seconds": 0.05,
        "outbox_poll_seconds": 0.5,
    }


TEST_VAULT_KEY = "dGVzdC1vbmx5LXZhdWx0LWtleS0zMi1ieXRlcyEhISE="  # 32 bytes, tests only
TEST_POLICE_KEY_ID = "police-test-1"
TEST_POLICE_KEY = base64.b64encode(b"test-only-police-hmac-key-32byte").decode()
TEST_SETTINGS_INTAKE: dict[str, Any] = {
    **event_settings("intake"),
    "vault_key": TEST_VAULT_KEY,
    "vault_key_id": "test-1",
    "police_keys": {TEST_POLICE_KEY_ID: TEST_POLICE_KEY},
    # Off unless a test is about the dead-man's switch (tests/fault/test_dead_mans_switch.py):
    # a heartbeat is one more record on two topics and a row in intake's outbox, in every count.
    "heartbeat_seconds": 0,
}


TEST_SETTINGS_NOTIFIER: dict[str, Any] = {
    **event_settings("notifier"),
    "ack_secret": base64.b64encode(b"test-only-ack-link-secret-000000").decode(),
    "rota_file": ROOT / "deploy" / "config" / "rota.yaml",
    "alerting_file": ROOT / "deploy" / "config" / "alerting.yaml",
    "staff_tokens": {"head-of-service": "test-token-head"},  # GET /v1/alerts/{id} needs staff
}


STAFF_TOKENS = {
    "head-of-service": "test-token-head",
    "advisor-day": "test-token-advisor-day",
    "advisor-night": "test-token-advisor-night",
}
TEST_SETTINGS_CASEWORK: dict[str, Any] = {
    **event_settings("casework"),
    "staff_tokens": STAFF_TOKENS,
    "config_file": ROOT / "deploy" / "config" / "casework.yaml",
    "rota_file": ROOT / "deploy" / "config" / "rota.yaml",
    "directory_file": ROOT / "deploy" / "config" / "services-directory.yaml",
    "chase_poll_seconds": 0.5,
}


TEST_SETTINGS_MEETINGS: dict[str, Any] = {
    **event_settings("meeting_scheduler"),
    "coordinator_tokens": {"coordinator": "test-token-coordinator"},
    "head_of_service_tokens": {"head-of-service": "test-token-head"},  # the funder's report
    "calendar_file": ROOT / "deploy" / "config" / "meetings.yaml",
    # Off unless a test is about it (tests/integration/test_training_pace.py): once the shipped
    # project start is far enough back, a warning would be one more e-mail in every count.
    "training_pace_warnings": False,
}


def signed(
    body: bytes, request_id: str | None = None, timestamp: int | None = None
) -> dict[str, str]:
    """Headers of a correctly signed police request (plus the JSON content type)."""
    return {
        "content-type": "application/json",
        **signed_headers(
            TEST_POLICE_KEY_ID,
            base64.b64decode(TEST_POLICE_KEY),
            request_id or uuid.uuid4().hex,
            timestamp if timestamp is not None else int(time.time()),
            body,
        ),
    }


async def post_contact(client: httpx.AsyncClient, body: bytes) -> httpx.Response:
    return await client.post("/v1/contacts", content=body, headers=signed(body))


def intake_app(kafka: str, prefix: str, database_url: str) -> ServiceApp:
    return create_intake(
        IntakeSettings(**common(kafka, prefix, database_url), **TEST_SETTINGS_INTAKE)
    )


def notifier_app(kafka: str, prefix: str, database_url: str) -> ServiceApp:
    return create_notifier(
        NotifierSettings(
            **common(kafka, prefix, database_url),
            **TEST_SETTINGS_NOTIFIER,
            dispatch_poll_seconds=0.2,
        )
    )


def casework_app(kafka: str, prefix: str, database_url: str) -> ServiceApp:
    return create_casework(
        CaseworkSettings(**common(kafka, prefix, database_url), **TEST_SETTINGS_CASEWORK)
    )


def scheduler_app(kafka: str, prefix: str, database_url: str) -> ServiceApp:
    return create_scheduler(
        SchedulerSettings(**common(kafka, prefix, database_url), **TEST_SETTINGS_MEETINGS)
    )


@dataclass
class Running:
    apps: dict[str, ServiceApp]
    stack: AsyncExitStack
    databases: dict[str, str] = field(default_factory=dict)  # service → URL, from start_services

    def client(self, service: str, as_person: str = "head-of-service") -> httpx.AsyncClient:
        """Casework and the notifier take a staff token (by default the head of service's, who
        sees all); the meeting scheduler, the coordinator's."""
        transport = httpx.ASGITransport(app=self.apps[service].http_app)
        headers: dict[str, str] = {}
        if service in ("casework", "notifier"):
            headers = {"Authorization": f"Bearer {STAFF_TOKENS[as_person]}"}
        elif service == "meeting_scheduler":
            headers = {"Authorization": "Bearer test-token-coordinator"}
        return httpx.AsyncClient(transport=transport, base_url=f"http://{service}", headers=headers)


async def start(stack: AsyncExitStack, apps: dict[str, ServiceApp]) -> Running:
    for app in apps.values():
        await stack.enter_async_context(TestApp(app))
    return Running(apps, stack)


BUILDERS = {
    "intake": intake_app,
    "notifier": notifier_app,
    "casework": casework_app,
    "meeting_scheduler": scheduler_app,
}


async def start_services(
    stack: AsyncExitStack,
    kafka: str,
    prefix: str,
    databases: DatabaseUrls,
    names: tuple[str, ...] = tuple(BUILDERS),
) -> Running:
    """The named services in-process on the real broker, each with a fresh database."""
    urls = {name: await databases.new(name) for name in names}
    running = await start(
        stack, {name: BUILDERS[name](kafka, prefix, urls[name]) for name in names}
    )
    running.databases.update(urls)
    return running
