"""Intake's HTTP API in process: signed police contacts in, audited personal-data reads out, and the
retention purge. FastStream's in-memory broker, SQLite under tmp_path, a FixedClock."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from faststream import TestApp
from faststream.kafka import TestKafkaBroker
from sqlalchemy.ext.asyncio import AsyncEngine

from services.intake.adapters.tables import cases, request_ids, vault_access_log, vault_records
from services.intake.auth import signed_headers
from services.intake.http import UNAUTHENTICATED
from services.intake.main import create_app
from services.intake.settings import DEV_POLICE_KEY, IntakeSettings
from services.intake.vault_access import PurgeResult, purge_expired
from shared.app import ServiceApp
from shared.clock import FixedClock
from shared.db import create_engine
from tests.support.system import TEST_POLICE_KEY, TEST_POLICE_KEY_ID, TEST_SETTINGS_INTAKE, signed
from tests.unit.builders import example_dict

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)  # after the example's recorded_at (27 Nov 22:41Z)
READER = "advisor-ann"
READER_TOKEN = "reader-token-123"
PURPOSE = "strategy meeting preparation"
MAX_BODY = 64 * 1024
RETENTION = timedelta(days=30)
REQUEST_ID_WINDOW = timedelta(minutes=10)

EXAMPLE: dict[str, Any] = example_dict()
PERSON_NAME: str = EXAMPLE["person"]["name"]
NOTES: str = EXAMPLE["notes"]
OFFICER_PHONE: str = EXAMPLE["officer"]["phone"]
OFFICER_NAME: str = EXAMPLE["officer"]["name"]
OFFICER_EMAIL: str = EXAMPLE["officer"]["email"]
POLICE_REFERENCE: str = EXAMPLE["police_reference"]


def body_of(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


EXAMPLE_BODY = body_of(EXAMPLE)


def other_contact(police_reference: str, name: str) -> dict[str, Any]:
    document = example_dict()
    document["police_reference"] = police_reference
    document["person"]["name"] = name
    return document


@dataclass
class Intake:
    app: ServiceApp
    client: httpx.AsyncClient
    clock: FixedClock
    database_url: str
    database_file: Path
    engine: AsyncEngine  # our own, on the same file: for checks and the purge

    def now_ts(self) -> int:
        return int(self.clock.now().timestamp())

    async def post(
        self, body: bytes, request_id: str | None = None, timestamp: int | None = None
    ) -> httpx.Response:
        headers = signed(body, request_id, self.now_ts() if timestamp is None else timestamp)
        return await self.client.post("/v1/contacts", content=body, headers=headers)

    async def personal_data(
        self, reference: str, token: str | None = READER_TOKEN, purpose: str | None = PURPOSE
    ) -> httpx.Response:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        params = {} if purpose is None else {"purpose": purpose}
        return await self.client.get(
            f"/v1/cases/{reference}/personal-data", headers=headers, params=params
        )

    async def rows(self, table: sa.Table, order_by: Any = None) -> list[sa.Row[Any]]:
        query = sa.select(table)
        if order_by is not None:
            query = query.order_by(order_by)
        async with self.engine.connect() as connection:
            return list((await connection.execute(query)).all())

    async def purge(self, at: datetime) -> PurgeResult:
        return await purge_expired(self.engine, at, RETENTION, request_id_window=REQUEST_ID_WINDOW)


async def start_intake(
    stack: AsyncExitStack, tmp_path: Path, settings: dict[str, Any], clock: FixedClock
) -> Intake:
    database_file = tmp_path / "intake.sqlite3"
    database_url = f"sqlite+aiosqlite:///{database_file}"
    app = create_app(
        IntakeSettings(
            **{
                "verify_topics_on_start": False,
                "outbox_poll_seconds": 0.2,
                "purge_interval_seconds": 3600.0,  # the app's own purger stays out of the way
                "database_url": database_url,
                **settings,
            }
        ),
        clock,
    )
    await stack.enter_async_context(TestKafkaBroker(app.kafka_broker))
    await stack.enter_async_context(TestApp(app))
    transport = httpx.ASGITransport(app=app.http_app, raise_app_exceptions=False)
    client = await stack.enter_async_context(
        httpx.AsyncClient(transport=transport, base_url="http://intake")
    )
    engine = create_engine(database_url)
    stack.push_async_callback(engine.dispose)
    return Intake(app, client, clock, database_url, database_file, engine)


TEST_ENVIRONMENT: dict[str, Any] = {
    "SAFEGUARDING_ENV": "test",
    **TEST_SETTINGS_INTAKE,
    "vault_readers": {READER: READER_TOKEN},
    "retention_days": 30,
}


@pytest.fixture
async def intake(tmp_path: Path) -> AsyncIterator[Intake]:
    async with AsyncExitStack() as stack:
        yield await start_intake(stack, tmp_path, TEST_ENVIRONMENT, FixedClock(T0))


@pytest.fixture
async def dev_intake(tmp_path: Path) -> AsyncIterator[Intake]:
    async with AsyncExitStack() as stack:
        yield await start_intake(stack, tmp_path, {"SAFEGUARDING_ENV": "dev"}, FixedClock(T0))


def problem(response: httpx.Response) -> tuple[int, str]:
    payload: dict[str, Any] = response.json()
    return response.status_code, payload["detail"]


def accepted(response: httpx.Response) -> tuple[int, str]:
    payload: dict[str, Any] = response.json()
    assert payload["case_reference"].startswith("MS-2026-"), payload
    assert len(payload["case_reference"]) == len("MS-2026-7KQ2M4")
    return response.status_code, payload["outcome"]


# --- signed contacts -------------------------------------------------------------------------


async def test_signed_contact_is_accepted_and_an_exact_replay_with_a_new_id_is_200(
    intake: Intake,
) -> None:
    first = await intake.post(EXAMPLE_BODY, request_id="req-first-0001")
    second = await intake.post(EXAMPLE_BODY, request_id="req-second-0001")
    assert accepted(first) == (202, "opened")
    assert accepted(second) == (200, "replayed")
    assert second.json()["case_reference"] == first.json()["case_reference"]
    assert [row.request_id for row in await intake.rows(request_ids, request_ids.c.request_id)] == [
        "req-first-0001",
        "req-second-0001",
    ]
    assert len(await intake.rows(cases)) == 1


async def test_unsigned_contact_is_401_and_nothing_is_stored(intake: Intake) -> None:
    response = await intake.client.post(
        "/v1/contacts", content=EXAMPLE_BODY, headers={"content-type": "application/json"}
    )
    assert problem(response) == (401, UNAUTHENTICATED)
    assert await intake.rows(cases) == []
    assert await intake.rows(request_ids) == []


async def test_wrong_signature_is_401(intake: Intake) -> None:
    headers = {
        "content-type": "application/json",
        **signed_headers(
            TEST_POLICE_KEY_ID, b"not the police key, a guess at it", "req-guess-0001",
            intake.now_ts(), EXAMPLE_BODY,
        ),
    }  # fmt: skip
    response = await intake.client.post("/v1/contacts", content=EXAMPLE_BODY, headers=headers)
    assert problem(response) == (401, UNAUTHENTICATED)
    assert await intake.rows(cases) == []


async def test_an_unknown_key_id_gets_the_same_refusal_as_a_bad_signature(intake: Intake) -> None:
    headers = {
        "content-type": "application/json",
        **signed_headers("police-guess-9", TEST_POLICE_KEY.encode(), "req-kid-00001",
                         intake.now_ts(), EXAMPLE_BODY),
    }  # fmt: skip
    response = await intake.client.post("/v1/contacts", content=EXAMPLE_BODY, headers=headers)
    assert problem(response) == (401, UNAUTHENTICATED)
    assert "errors" not in response.json()  # nothing to say which check failed


async def test_signature_over_a_different_body_is_401(intake: Intake) -> None:
    headers = signed(EXAMPLE_BODY, "req-swap-0001", intake.now_ts())
    tampered = body_of(other_contact(POLICE_REFERENCE, "Someone Else"))
    response = await intake.client.post("/v1/contacts", content=tampered, headers=headers)
    assert problem(response) == (401, UNAUTHENTICATED)


async def test_stale_timestamp_is_401_and_does_not_use_up_the_request_id(intake: Intake) -> None:
    ten_minutes_ago = int((T0 - timedelta(minutes=10)).timestamp())
    stale = await intake.post(EXAMPLE_BODY, "req-stale-0001", timestamp=ten_minutes_ago)
    assert problem(stale) == (401, UNAUTHENTICATED)
    assert await intake.rows(request_ids) == []
    fresh = await intake.post(EXAMPLE_BODY, "req-stale-0001")
    assert accepted(fresh) == (202, "opened")


async def test_timestamp_from_the_future_is_401(intake: Intake) -> None:
    ahead = int((T0 + timedelta(minutes=6)).timestamp())
    response = await intake.post(EXAMPLE_BODY, "req-ahead-0001", timestamp=ahead)
    assert problem(response) == (401, UNAUTHENTICATED)


async def test_same_request_id_twice_is_403_even_when_correctly_signed(intake: Intake) -> None:
    first = await intake.post(EXAMPLE_BODY, "req-once-only-01")
    assert accepted(first) == (202, "opened")
    reference = first.json()["case_reference"]
    again = await intake.post(EXAMPLE_BODY, "req-once-only-01")
    assert problem(again) == (403, "request id already used: sign each request with a new id")
    changed = example_dict()
    changed["notes"] = "A changed note that must not be stored."
    replayed_id = await intake.post(body_of(changed), "req-once-only-01")
    assert problem(replayed_id) == (403, "request id already used: sign each request with a new id")
    held = await intake.personal_data(reference)
    assert held.json()["notes"] == NOTES
    [case] = await intake.rows(cases)
    assert case.updated_at == T0


def with_raw_header(headers: dict[str, str], name: str, value: bytes) -> list[tuple[bytes, bytes]]:
    """Headers as bytes, one replaced: h11 passes latin-1 bytes such as 0xB2 ('²') to the app."""
    return [
        (key.encode(), value if key == name else text.encode()) for key, text in headers.items()
    ]


@pytest.mark.parametrize(
    ("header", "value"),
    [
        pytest.param("X-Timestamp", b"\xb2", id="timestamp_²"),
        pytest.param("X-Signature", b"\xe9" * 64, id="signature_é"),
    ],
)
async def test_latin1_header_bytes_are_401_not_500(
    intake: Intake, header: str, value: bytes
) -> None:
    """'²'.isdigit() is True and hmac.compare_digest raises on non-ASCII text: both once gave 500."""
    headers = signed(EXAMPLE_BODY, "req-latin-0001", intake.now_ts())
    raw = with_raw_header(headers, header, value)
    response = await intake.client.post("/v1/contacts", content=EXAMPLE_BODY, headers=raw)
    assert problem(response) == (401, UNAUTHENTICATED)
    assert await intake.rows(request_ids) == []


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/jsonx", "application/x-www-form-urlencoded", "application/xml"],
)
async def test_non_json_content_type_is_415(intake: Intake, content_type: str) -> None:
    headers = signed(EXAMPLE_BODY, "req-text-0001", intake.now_ts()) | {
        "content-type": content_type
    }
    response = await intake.client.post("/v1/contacts", content=EXAMPLE_BODY, headers=headers)
    assert problem(response) == (415, "Content-Type must be application/json")
    assert await intake.rows(cases) == []
    assert await intake.rows(request_ids) == []


async def test_missing_content_type_is_415(intake: Intake) -> None:
    headers = signed(EXAMPLE_BODY, "req-none-0001", intake.now_ts())
    del headers["content-type"]
    response = await intake.client.post("/v1/contacts", content=EXAMPLE_BODY, headers=headers)
    assert "content-type" not in response.request.headers
    assert problem(response) == (415, "Content-Type must be application/json")


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "Application/JSON"])
async def test_json_content_type_with_parameters_or_other_case_is_accepted(
    intake: Intake, content_type: str
) -> None:
    headers = signed(EXAMPLE_BODY, "req-json-0001", intake.now_ts()) | {
        "content-type": content_type
    }
    response = await intake.client.post("/v1/contacts", content=EXAMPLE_BODY, headers=headers)
    assert accepted(response) == (202, "opened")


async def test_body_over_64_kib_is_413(intake: Intake) -> None:
    body = EXAMPLE_BODY + b" " * (MAX_BODY + 1 - len(EXAMPLE_BODY))
    assert len(body) == MAX_BODY + 1
    response = await intake.post(body, "req-large-0001")
    assert problem(response) == (413, f"body larger than {MAX_BODY} bytes")
    assert await intake.rows(cases) == []


async def test_body_over_64_kib_without_a_content_length_is_413(intake: Intake) -> None:
    body = EXAMPLE_BODY + b" " * (MAX_BODY + 1 - len(EXAMPLE_BODY))

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 4096):
            yield body[start : start + 4096]

    headers = signed(body, "req-chunks-0001", intake.now_ts())
    response = await intake.client.post("/v1/contacts", content=chunks(), headers=headers)
    assert "content-length" not in response.request.headers
    assert problem(response) == (413, f"body larger than {MAX_BODY} bytes")


async def test_body_of_exactly_64_kib_is_accepted(intake: Intake) -> None:
    body = EXAMPLE_BODY + b" " * (MAX_BODY - len(EXAMPLE_BODY))
    assert len(body) == MAX_BODY
    assert accepted(await intake.post(body, "req-limit-0001")) == (202, "opened")


async def test_invalid_contact_is_422_with_paths_and_never_values(intake: Intake) -> None:
    document = example_dict()
    document["force_code"] = "SECRETFORCE9"
    document["person"]["phone"] = "call-me-SECRETPHONE"
    document["person"]["name"] = 12345
    document["officer"]["email"] = "not-an-email-SECRETMAIL"
    document["shoe_size"] = "SECRET-EXTRA-VALUE"
    body = body_of(document)
    response = await intake.post(body, "req-invalid-0001")
    assert response.status_code == 422
    payload = response.json()
    assert payload["detail"] == "the contact does not match contract v1"
    assert sorted((error["location"], error["type"]) for error in payload["errors"]) == [
        ("(a field not in the contract)", "extra_forbidden"),
        ("force_code", "string_too_long"),
        ("officer.email", "string_pattern_mismatch"),
        ("person.name", "string_type"),
        ("person.phone", "string_pattern_mismatch"),
    ]
    for value in (
        "SECRETFORCE9",
        "SECRETPHONE",
        "12345",
        "SECRETMAIL",
        "SECRET-EXTRA-VALUE",
        "shoe_size",
    ):
        assert value not in response.text
    for value in (NOTES, OFFICER_PHONE, OFFICER_NAME, "Example Person"):
        assert value not in response.text
    assert await intake.rows(cases) == []


async def test_malformed_json_is_422_without_echoing_it(intake: Intake) -> None:
    body = b'{"person": {"name": "SECRET-NAME-IN-BROKEN-JSON"'
    response = await intake.post(body, "req-broken-0001")
    assert response.status_code == 422
    assert [error["location"] for error in response.json()["errors"]] == ["(body)"]
    assert "SECRET-NAME" not in response.text


async def test_dev_accepts_an_unsigned_contact_but_not_a_wrong_signature(
    dev_intake: Intake,
) -> None:
    unsigned = await dev_intake.client.post(
        "/v1/contacts", content=EXAMPLE_BODY, headers={"content-type": "application/json"}
    )
    assert accepted(unsigned) == (202, "opened")

    body = body_of(other_contact("NFK/2026/200001", "Dev Person"))
    wrong = {
        "content-type": "application/json",
        **signed_headers("dev-1", b"not the dev key", "req-dev-wrong-1", dev_intake.now_ts(), body),
    }
    response = await dev_intake.client.post("/v1/contacts", content=body, headers=wrong)
    assert problem(response) == (401, UNAUTHENTICATED)

    right = {
        "content-type": "application/json",
        **signed_headers(
            "dev-1", base64.b64decode(DEV_POLICE_KEY), "req-dev-right-1", dev_intake.now_ts(), body
        ),
    }
    response = await dev_intake.client.post("/v1/contacts", content=body, headers=right)
    assert accepted(response) == (202, "opened")
    assert len(await dev_intake.rows(cases)) == 2


# --- the vault --------------------------------------------------------------------------------


async def opened(intake: Intake, document: dict[str, Any], request_id: str) -> str:
    response = await intake.post(body_of(document), request_id)
    assert accepted(response) == (202, "opened")
    reference: str = response.json()["case_reference"]
    return reference


async def test_personal_data_needs_a_reader_token(intake: Intake) -> None:
    reference = await opened(intake, EXAMPLE, "req-vault-0001")
    missing = await intake.personal_data(reference, token=None)
    unknown = await intake.personal_data(reference, token="reader-token-124")
    empty_bearer = await intake.client.get(
        f"/v1/cases/{reference}/personal-data",
        params={"purpose": PURPOSE},
        headers={"Authorization": "Basic cmVhZGVyLXRva2VuLTEyMw=="},
    )
    for response in (missing, unknown, empty_bearer):
        assert (response.status_code, response.json()) == (
            401,
            {
                "type": "about:blank",
                "title": "Unauthorized",
                "status": 401,
                "detail": "sign-in required",
            },
        )
        assert PERSON_NAME not in response.text
    assert await intake.rows(vault_access_log) == []


async def test_reader_gets_the_personal_data_and_the_read_is_audited(intake: Intake) -> None:
    reference = await opened(intake, EXAMPLE, "req-vault-0002")
    response = await intake.personal_data(reference)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    document = response.json()
    assert document["person"]["name"] == PERSON_NAME
    assert document["person"]["date_of_birth"] == "1990-05-17"
    assert document["officer"]["phone"] == OFFICER_PHONE
    assert document["notes"] == NOTES
    [audit] = await intake.rows(vault_access_log)
    assert (audit.case_reference, audit.accessor, audit.purpose, audit.action) == (
        reference,
        READER,
        PURPOSE,
        "read",
    )
    assert audit.accessed_at == T0


async def test_purpose_is_required_and_an_unknown_case_is_404(intake: Intake) -> None:
    reference = await opened(intake, EXAMPLE, "req-vault-0003")
    no_purpose = await intake.personal_data(reference, purpose=None)
    short_purpose = await intake.personal_data(reference, purpose="why")
    unknown_case = await intake.personal_data("MS-2026-ZZZZZZ")
    assert no_purpose.status_code == 422
    assert short_purpose.status_code == 422
    assert problem(unknown_case) == (404, "no personal data held for that case")
    assert await intake.rows(vault_access_log) == []


# --- retention --------------------------------------------------------------------------------


async def test_purge_removes_expired_personal_data_and_keeps_the_case_row(intake: Intake) -> None:
    reference = await opened(intake, EXAMPLE, "req-retain-0001")
    purge_at = T0 + timedelta(days=31)
    result = await intake.purge(purge_at)
    assert result == PurgeResult(cases_purged=1, request_ids_forgotten=1)

    assert await intake.rows(vault_records) == []
    [case] = await intake.rows(cases)
    # The police reference and the content fingerprint link the case to the person: both go.
    assert (case.case_reference, case.police_reference, case.fingerprint, case.purged_at) == (
        reference,
        f"purged:{reference}",
        "",
        purge_at,
    )
    assert case.updated_at == T0
    [audit] = await intake.rows(vault_access_log)
    assert (audit.case_reference, audit.accessor, audit.action, audit.accessed_at) == (
        reference,
        "retention",
        "purge",
        purge_at,
    )
    gone = await intake.personal_data(reference)
    assert problem(gone) == (404, "no personal data held for that case")
    again = await intake.purge(purge_at + timedelta(days=1))
    assert again == PurgeResult(cases_purged=0, request_ids_forgotten=0)


async def test_purge_keeps_a_case_updated_within_the_period(intake: Intake) -> None:
    expiring = await opened(intake, EXAMPLE, "req-retain-0002")
    kept_document = other_contact("NFK/2026/300001", "Kept Person")
    kept = await opened(intake, kept_document, "req-retain-0003")

    intake.clock.advance(timedelta(days=20))
    kept_document["notes"] = "Seen again; an update within the retention period."
    updated = await intake.post(body_of(kept_document), "req-retain-0004")
    assert accepted(updated) == (202, "updated")
    assert updated.json()["case_reference"] == kept

    purge_at = T0 + timedelta(days=31)
    assert await intake.purge(purge_at) == PurgeResult(cases_purged=1, request_ids_forgotten=3)
    assert [row.case_reference for row in await intake.rows(vault_records)] == [kept]
    purged = {row.case_reference: row.purged_at for row in await intake.rows(cases)}
    assert purged == {expiring: purge_at, kept: None}
    intake.clock.advance(timedelta(days=11))
    response = await intake.personal_data(kept)
    assert response.status_code == 200
    assert response.json()["person"]["name"] == "Kept Person"
    assert response.json()["notes"] == kept_document["notes"]
    assert (await intake.personal_data(expiring)).status_code == 404


async def test_purge_forgets_old_request_ids_and_keeps_recent_ones(intake: Intake) -> None:
    await opened(intake, EXAMPLE, "req-ids-old-0001")
    intake.clock.advance(timedelta(minutes=5))
    replay = await intake.post(EXAMPLE_BODY, "req-ids-old-0002")
    assert accepted(replay) == (200, "replayed")
    intake.clock.advance(timedelta(minutes=6))  # T0 + 11 min
    other = await intake.post(body_of(other_contact("NFK/2026/400001", "Id Person")), "req-new-1")
    assert accepted(other) == (202, "opened")

    result = await intake.purge(T0 + timedelta(minutes=11))
    assert result == PurgeResult(cases_purged=0, request_ids_forgotten=1)
    remaining = [row.request_id for row in await intake.rows(request_ids, request_ids.c.seen_at)]
    assert remaining == ["req-ids-old-0002", "req-new-1"]
    # A forgotten id is older than the signature tolerance, so it cannot be replayed anyway;
    # a remembered one is still refused.
    again = await intake.post(EXAMPLE_BODY, "req-ids-old-0002")
    assert problem(again) == (403, "request id already used: sign each request with a new id")


async def test_personal_data_stored_again_after_a_purge_is_purged_again(intake: Intake) -> None:
    reference = await opened(intake, EXAMPLE, "req-again-0001")
    assert (await intake.purge(T0 + timedelta(days=31))).cases_purged == 1

    intake.clock.advance(timedelta(days=40))
    changed = example_dict()
    changed["notes"] = "Seen again after the purge."
    # Retention ended the old case and forgot its police reference: the contact is a new case.
    again = await intake.post(body_of(changed), "req-again-0002")
    assert (again.status_code, again.json()["outcome"]) == (202, "opened")
    assert again.json()["case_reference"].startswith("MS-2027-"), "a case of the year it came"
    assert (await intake.personal_data(reference)).status_code == 404
    renewed = again.json()["case_reference"]
    assert (await intake.personal_data(renewed)).json()["notes"] == "Seen again after the purge."

    later = T0 + timedelta(days=40 + 31)
    result = await intake.purge(later)
    assert await intake.rows(vault_records) == []
    assert result.cases_purged == 1


# --- nothing in plain text at rest ------------------------------------------------------------


def database_bytes(intake: Intake) -> bytes:
    files = sorted(intake.database_file.parent.glob(intake.database_file.name + "*"))
    assert intake.database_file in files
    return b"".join(path.read_bytes() for path in files)


async def test_database_holds_no_personal_data_in_plain_text(intake: Intake) -> None:
    reference = await opened(intake, EXAMPLE, "req-plain-0001")
    read = await intake.personal_data(reference)
    assert read.json()["person"]["name"] == PERSON_NAME  # it is held, only sealed
    stored = database_bytes(intake)
    # The file really holds this contact: its non-personal identifiers are there.
    assert reference.encode() in stored
    assert POLICE_REFERENCE.encode() in stored
    personal = [
        PERSON_NAME,
        NOTES,
        OFFICER_PHONE,
        OFFICER_NAME,
        OFFICER_EMAIL,
        "wages are withheld",
    ]
    for text in personal:
        assert text.encode() not in stored, text
        assert text.encode("utf-16-le") not in stored, text
