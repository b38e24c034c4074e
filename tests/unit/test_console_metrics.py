"""The console's /metrics: requests counted by route template (never the path a browser asked
for, which carries a case reference), sessions gauged; open in test, and in production only with
the bearer token (and absent without one), like every service's."""

from __future__ import annotations

import os
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.console.main import create_app
from services.console.settings import ConsoleSettings

ISSUER_LOCAL = "http://127.0.0.1:8080/realms/safeguarding"
FIT: dict[str, Any] = {
    "public_url": "https://console.example.org",
    "intake_url": "https://intake.internal.example.org",
    "notifier_url": "https://notifier.internal.example.org",
    "casework_url": "https://casework.internal.example.org",
    "meetings_url": "https://meetings.internal.example.org",
}
TOKEN = "m" * 40


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("CONSOLE_", "SAFEGUARDING_", "STAFF_", "METRICS_", "LOG_")):
            monkeypatch.delenv(name)


def client(app: object, host: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(host, 50_000))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8005")


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


async def test_requests_are_counted_by_route_template(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAFEGUARDING_ENV", "test")
    monkeypatch.setenv("STAFF_OIDC_ISSUER", ISSUER_LOCAL)
    app = create_app(ConsoleSettings())
    async with client(app) as browser:
        # Not signed in: each page sends the browser to sign in, which is still an answer.
        for reference in ("MS-2026-AAAAAA", "MS-2026-BBBBBB"):
            await browser.get(f"/cases/{reference}")
        await browser.get("/no-such-page-MS-2026-CCCCCC")
        await browser.get("/healthz")
        text = (await browser.get("/metrics")).text
    requests = samples(text, "safeguarding_console_requests_total")
    routes = {dict(labels)["route"]: value for labels, value in requests.items()}
    assert routes.get("/cases/{case}") == 2, requests
    assert routes.get("unmatched") == 1, requests
    assert routes.get("/healthz") == 1, requests
    assert "MS-2026" not in text
    assert samples(text, "safeguarding_console_sessions") == {(): 0.0}


async def test_production_serves_metrics_only_with_the_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SAFEGUARDING_ENV", "production")
    monkeypatch.setenv("STAFF_OIDC_ISSUER", "https://login.example.org/realms/safeguarding")
    without = create_app(ConsoleSettings(**FIT))
    async with client(without) as browser:
        assert (await browser.get("/metrics")).status_code == 404
    monkeypatch.setenv("METRICS_TOKEN", TOKEN)
    with_token = create_app(ConsoleSettings(**FIT))
    async with client(with_token) as browser:
        assert (await browser.get("/metrics")).status_code == 401
        wrong = {"authorization": "Bearer " + "x" * 40}
        assert (await browser.get("/metrics", headers=wrong)).status_code == 401
        right = {"authorization": f"Bearer {TOKEN}"}
        answer = await browser.get("/metrics", headers=right)
        assert answer.status_code == 200
        assert "safeguarding_console_requests_total" in answer.text


def test_a_short_token_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAFEGUARDING_ENV", "production")
    monkeypatch.setenv("STAFF_OIDC_ISSUER", "https://login.example.org/realms/safeguarding")
    monkeypatch.setenv("METRICS_TOKEN", "short")
    with pytest.raises(ValueError, match="at least 32 characters"):
        ConsoleSettings(**FIT)
