"""Every service's 422 names the bad field, never the value sent (FastAPI's default quotes it)."""

from __future__ import annotations

from pathlib import Path

import httpx

from services.casework.main import create_app as create_casework
from services.casework.settings import CaseworkSettings
from tests.support.system import TEST_SETTINGS_CASEWORK


async def test_casework_422_does_not_echo_the_input(tmp_path: Path) -> None:
    app = create_casework(
        CaseworkSettings(SAFEGUARDING_ENV="test", verify_topics_on_start=False,
                         database_url=f"sqlite+aiosqlite:///{tmp_path}/c.sqlite3", **TEST_SETTINGS_CASEWORK)
    )  # fmt: skip
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app.http_app), base_url="http://c",
        headers={"Authorization": "Bearer test-token-head"},
    )  # fmt: skip
    response = await client.get("/v1/tasks", params={"status": "Canary Ottoline"})
    assert response.status_code == 422
    assert "Canary Ottoline" not in response.text
    assert response.headers["content-type"] == "application/problem+json"
    # `status` may repeat: the location names which of its values was refused.
    assert response.json()["errors"][0]["location"] == "query.status.0"
