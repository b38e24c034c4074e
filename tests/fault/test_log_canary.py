"""Log canary: distinctive identity values sent through every door and every failure path must turn
up nowhere but the police ingress topic and intake's vault ciphertext.

The system runs as real processes on a broker of this test's own, so that after the run the broker's
on-disk log segments can be read byte by byte. The canaries go in through a valid POST, a valid
ingress record, invalid POSTs (422, 401, 413), invalid ingress records (dead-lettered), a POST and
a record sent while intake's vault refuses writes (an injected database fault: the HTTP 500 path,
the consumer's retry and dead-letter paths), replays (same request id, fresh request id, the same
record again), an update, and the alert's acknowledgement by link and by code. Then every service
log, every Kafka record but the ingress topic's, every broker segment file but the ingress topic's
(with a positive control: the canaries ARE found in the ingress segments), the dead letters, the
SMS and emails, the agendas, the casework and notifier APIs, and the databases are searched for
the canaries and simple variants of them (any case, other date formats, phones without +44)."""

from __future__ import annotations

import base64
import io
import json
import random
import re
import sqlite3
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any

import httpx
import pypdf
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from deploy.kafka_broker import start_and_wait
from services.casework.directory import NEED_KINDS
from services.casework.quarters import last_closed_quarter
from shared.kafka import ensure_topics
from shared.topics import AGENDA, ALL_TOPICS, DEAD_LETTERS, POLICE_CONTACTS
from tests.fault.conftest import Offsets, Sinks, caught_up, early_agendas, settled
from tests.support import system
from tests.support.ground_truth import Contact, contact_body, expected_tasks
from tests.support.kafka import produce, read_all
from tests.support.live import SERVICES, LiveSystem
from tests.support.postgres import Cluster
from tests.support.waiting import eventually, wait_until

pytestmark = pytest.mark.fault

PERSON_NAME = "Zephyrine Quackenbush-Olumide"
OFFICER_NAME = "PC Thaddeus Wobblecombe"
DATE_OF_BIRTH = "1979-08-23"
PERSON_PHONE = "+447700900417"
OFFICER_PHONE = "+441632960871"
OFFICER_EMAIL = "t.wobblecombe.canary@police.example"
NATIONALITY = "Ruritanian"
POSTCODE_SECTOR = "ZQ9 4"
NOTES = "canary-note-7b2c: locked in the walk-in freezer at Grimsdyke Farm"

# The values as sent, which the positive control must find in the ingress topic's segments.
PRIMARY = {
    "name": PERSON_NAME,
    "date of birth": DATE_OF_BIRTH,
    "phone": PERSON_PHONE,
    "email": OFFICER_EMAIL,
    "notes": NOTES,
}
# Everything searched for, compared case-insensitively: the values and simple variants of them.
PROBES: dict[str, str] = {
    "name": PERSON_NAME,
    "name (first)": "Zephyrine",
    "name (surname)": "Quackenbush",
    "name (second surname)": "Olumide",
    "officer name": "Thaddeus Wobblecombe",
    "officer surname": "Wobblecombe",
    "dob iso": DATE_OF_BIRTH,
    "dob dd/mm/yyyy": "23/08/1979",
    "dob yyyymmdd": "19790823",
    "dob dd-mm-yyyy": "23-08-1979",
    "dob dd.mm.yyyy": "23.08.1979",
    "dob yyyy/mm/dd": "1979/08/23",
    "dob mm/dd/yyyy": "08/23/1979",
    "dob in words": "23 Aug 1979",
    "phone": PERSON_PHONE,
    "phone without +": PERSON_PHONE[1:],
    "phone national": "07700900417",
    "phone without prefix": "7700900417",
    "phone spaced": "07700 900417",
    "phone spaced international": "+44 7700 900417",
    "officer phone": OFFICER_PHONE,
    "officer phone national": "01632960871",
    "officer phone without prefix": "1632960871",
    "email": OFFICER_EMAIL,
    "email local part": OFFICER_EMAIL.split("@")[0],
    "nationality": NATIONALITY,
    "postcode sector": POSTCODE_SECTOR,
    "notes": NOTES,
    "notes token": "canary-note-7b2c",
    "notes phrase": "Grimsdyke",
}
LOWERED = {label: value.lower().encode() for label, value in PROBES.items()}

KINDS = (
    "service log", "broker log", "kafka record", "dead letter", "segment file",
    "other broker file", "sms", "email", "agenda document", "http answer",
    "database file", "database row", "postgres log", "email part",
    "unpacked (base64 decoded, PDF text)",
)  # fmt: skip


# A named vault reader for intake (casework's tokens are LiveSystem's: "head" is its head).
# The meeting scheduler publishes agendas up to 14 days ahead (the shipped calendar: 48 hours) and
# looks every second, so the agenda with the canary cases is published in this test: the event
# (its files in base64) on the agenda topic, the files in the notifier's database, and the email
# to the coordinator with the files attached.
def extra_env(folder: Path) -> dict[str, dict[str, str]]:
    return {
        "intake": {
            "INTAKE_VAULT_READERS": json.dumps({"canary-auditor": "test-token-canary-auditor"})
        },
        "meeting_scheduler": early_agendas(folder),
    }


HEAD = {"Authorization": "Bearer test-token-head"}
COORDINATOR = {"Authorization": "Bearer test-token-coordinator"}
VAULT_READER = {"Authorization": "Bearer test-token-canary-auditor"}
ACK_TOKEN = re.compile(r"/ack/([A-Za-z0-9_=-]+\.[0-9a-f]{32})")
ACK_CODE = re.compile(
    r"\b[Cc]ode ([A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4})\b|\bAck ([A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4})\b"
)
BASE64_RUN = re.compile(rb"[A-Za-z0-9+/]{64,}={0,2}")


def hits(data: bytes) -> list[str]:
    lowered = data.lower()
    return [label for label, probe in LOWERED.items() if probe in lowered]


def pdf_text(data: bytes) -> bytes | None:
    try:
        pages = pypdf.PdfReader(io.BytesIO(data)).pages
        return "\n".join(page.extract_text() for page in pages).encode()
    except Exception:  # not a whole PDF (a fragment in a raw file): nothing to extract
        return None


def unpacked(data: bytes, depth: int = 0) -> list[bytes]:
    """The data and what is packed in it: base64 runs decoded (an attachment in a JSON event),
    the text of PDFs (whose page streams are compressed)."""
    pieces = [data]
    if depth < 2:
        for run in BASE64_RUN.finditer(data):
            try:
                decoded = base64.b64decode(run.group(0), validate=True)
            except ValueError:  # binascii.Error: not base64 after all
                continue
            pieces += unpacked(decoded, depth + 1)
    start = data.find(b"%PDF-")
    while start != -1:
        text = pdf_text(data[start:])
        if text is not None:
            pieces.append(b"%PDF text\n" + text)
        start = data.find(b"%PDF-", start + 5)
    return pieces


@dataclass
class Scan:
    """What was searched (how many items and bytes of each kind) and every canary found."""

    counts: Counter[str] = field(default_factory=Counter)
    leaks: list[str] = field(default_factory=list)
    pdf_texts: list[bytes] = field(default_factory=list)

    def check(self, kind: str, where: str, data: bytes) -> None:
        self.counts[kind] += 1
        self.counts[f"{kind} bytes"] += len(data)
        pieces = unpacked(data)
        self.counts["unpacked (base64 decoded, PDF text)"] += len(pieces) - 1
        self.pdf_texts += [piece for piece in pieces if piece.startswith(b"%PDF text")]
        found = {label for piece in pieces for label in hits(piece)}
        self.leaks += [f"{kind} {where}: {label}" for label in sorted(found)]

    def line(self, kinds: Iterable[str]) -> str:
        return ", ".join(
            f"{kind} {self.counts[kind]}"
            + (f" ({self.counts[f'{kind} bytes']} bytes)" if f"{kind} bytes" in self.counts else "")
            for kind in kinds
        )


def canary_contact(police_reference: str, **changes: Any) -> dict[str, Any]:
    """An adult not at immediate risk (a priority alert: SMS and email), carrying every canary."""
    body = contact_body(police_reference, random.Random(police_reference))
    body["officer"] = {
        "collar_number": "4471",
        "name": OFFICER_NAME,
        "phone": OFFICER_PHONE,
        "email": OFFICER_EMAIL,
    }
    body["location"]["postcode_sector"] = POSTCODE_SECTOR
    body["person"].update(
        name=PERSON_NAME, date_of_birth=DATE_OF_BIRTH, phone=PERSON_PHONE, nationality=NATIONALITY
    )
    body["notes"] = NOTES
    return body | changes


def encoded(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


def invalid_bodies(base: dict[str, Any]) -> dict[str, bytes]:
    """Bodies carrying the canaries that the contract refuses, each for a different reason."""
    person = base["person"]
    return {
        "wrong type": encoded(base | {"immediate_risk": "maybe"}),
        "dob in another format": encoded(
            base | {"person": person | {"date_of_birth": "23/08/1979"}}
        ),
        "phone with a name in it": encoded(
            base | {"person": person | {"phone": f"{PERSON_PHONE} {PERSON_NAME}"}}
        ),
        "unknown field": encoded(base | {"person": person | {"alias": PERSON_NAME}}),
        "notes too long": encoded(base | {"notes": (NOTES + " ") * 80}),
        "malformed json": encoded(base)[:-40],
    }


async def sql(url: str, statements: Iterable[str]) -> None:
    """Run DDL on a service's database from outside the service (SQLite: the stdlib driver)."""
    if url.startswith("sqlite"):
        database = sa.engine.make_url(url).database
        assert database is not None
        connection = sqlite3.connect(database, timeout=30)
        try:
            for statement in statements:
                connection.execute(statement)
            connection.commit()
        finally:
            connection.close()
        return
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for statement in statements:
                await conn.execute(sa.text(statement))
    finally:
        await engine.dispose()


def fault_on(kind: str) -> list[str]:
    """Intake's vault refuses every write: a database fault inside the handler's transaction.
    (Holding a lock would not raise: SQLite waits up to 30 s for it, shared/sqlite_driver.py,
    and PostgreSQL waits without a limit, no lock_timeout being set.)"""
    if kind == "sqlite":
        return [
            "CREATE TRIGGER canary_fault BEFORE INSERT ON vault_records "
            "BEGIN SELECT RAISE(ABORT, 'injected fault: vault unavailable'); END"
        ]
    return [
        "CREATE FUNCTION canary_fault() RETURNS trigger LANGUAGE plpgsql AS "
        "$$BEGIN RAISE EXCEPTION 'injected fault: vault unavailable'; END$$",
        "CREATE TRIGGER canary_fault BEFORE INSERT ON vault_records "
        "FOR EACH ROW EXECUTE FUNCTION canary_fault()",
    ]


def fault_off(kind: str) -> list[str]:
    if kind == "sqlite":
        return ["DROP TRIGGER canary_fault"]
    return ["DROP TRIGGER canary_fault ON vault_records", "DROP FUNCTION canary_fault()"]


async def all_rows(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, found by reflection."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            metadata = sa.MetaData()
            await connection.run_sync(metadata.reflect)
            return {
                name: [dict(row._mapping) for row in await connection.execute(sa.select(table))]
                for name, table in metadata.tables.items()
            }
    finally:
        await engine.dispose()


def value_bytes(value: object) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode()


async def rota_imports(
    client: httpx.AsyncClient, notifier: str
) -> list[tuple[str, httpx.Response]]:
    """POST /v1/rota/imports (services/notifier/rota_import_api.py) with the canaries in every
    free-text property: imported (a month ahead), refused by UID, and refused as a whole."""
    day = f"{datetime.now(UTC) + timedelta(days=30):%Y%m%d}"

    def event(uid: str, summary: str) -> str:
        return (
            f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:{summary}\r\n"
            f"DESCRIPTION:{NOTES} {PERSON_PHONE}\r\nLOCATION:{POSTCODE_SECTOR}\r\n"
            f"DTSTART;VALUE=DATE:{day}\r\nEND:VEVENT"
        )

    events = [
        event("canary-leave@cal.example", f"Leave advisor-b - {PERSON_NAME}"),
        event("canary-bad@cal.example", f"Cover {PERSON_NAME}"),
    ]
    text = "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//canary//EN", *events,
                         "END:VCALENDAR", ""])  # fmt: skip
    headers = {**HEAD, "content-type": "text/calendar"}
    url = f"{notifier}/v1/rota/imports"
    imported = await client.post(url, headers=headers, content=text.encode())
    assert imported.status_code == 200, imported.text
    assert (imported.json()["added"], len(imported.json()["not_taken"])) == (1, 1)
    refused = await client.post(url, headers=headers, content=f"{PERSON_NAME}\r\n".encode())
    assert refused.status_code == 422, refused.text
    return [("rota import", imported), ("rota import refused", refused)]


async def training_sessions(
    client: httpx.AsyncClient, scheduler: str
) -> list[tuple[str, httpx.Response]]:
    """The meeting scheduler's training sessions (services/meeting_scheduler/training_api.py): one
    recorded and held, then the canaries at its doors (a topic with a phone number or an e-mail
    address, a date of birth for a time, a phone number for an audience, a name in a field that
    does not exist), each refused without echoing it; then the list with its progress."""
    url = f"{scheduler}/v1/training-sessions"
    yesterday = f"{datetime.now(UTC) - timedelta(days=1):%Y-%m-%dT%H:%M}Z"
    body = {
        "starts_at": yesterday, "topic": "Spotting labour exploitation",
        "audience": ["Norfolk Constabulary"], "materials_url": "https://training.example.org/a.pdf",
    }  # fmt: skip
    added = await client.post(url, headers=COORDINATOR, json=body)
    assert added.status_code == 201, added.text
    held = await client.put(
        f"{url}/{added.json()['session_id']}/attendance", headers=COORDINATOR,
        json={"attending": 14},
    )  # fmt: skip
    assert held.status_code == 200, held.text
    answers = [("training session", added), ("training attendance", held)]
    for change in (
        {"topic": f"Call {PERSON_PHONE}"}, {"topic": f"Ask {OFFICER_EMAIL}"},
        {"starts_at": DATE_OF_BIRTH}, {"audience": [PERSON_PHONE]},
        {"organiser": PERSON_NAME},
    ):  # fmt: skip
        refused = await client.post(url, headers=COORDINATOR, json=body | change)
        assert refused.status_code == 422, refused.text
        answers.append(("training session refused", refused))
    listed = await get_ok(client, url, headers=COORDINATOR)
    assert len(listed.json()["sessions"]) == 1
    return [*answers, ("training sessions", listed)]


async def get_ok(client: httpx.AsyncClient, url: str, **kwargs: Any) -> httpx.Response:
    response = await client.get(url, **kwargs)
    assert response.status_code == 200, (url, response.status_code, response.text[:300])
    return response


def logged(live: LiveSystem, service: str, event: str) -> int:
    return live[service].log.read_text(errors="replace").count(f'"event": "{event}"')


FAULT_MESSAGE = b"injected fault: vault unavailable"  # in the server's log: its positive control


async def postgres_server_log(cluster: Cluster, since: datetime) -> tuple[bytes, str | None]:
    """The PostgreSQL server's log and, if it could not be read, why. The throwaway cluster's is
    its file; an existing server's (TEST_POSTGRES_URL) is read through SQL: every file in its log
    directory written since `since`, which needs `logging_collector = on` and a superuser (or the
    pg_monitor and pg_read_server_files roles)."""
    if cluster.data_dir is not None:
        return (cluster.data_dir.parent / "log").read_bytes(), None
    import asyncpg

    connection = await asyncpg.connect(cluster.admin_url)
    try:
        if await connection.fetchval("SELECT pg_current_logfile()") is None:
            return b"", "the server does not collect its log (logging_collector = off)"
        directory = await connection.fetchval("SELECT current_setting('log_directory')")
        names = await connection.fetch(
            "SELECT name FROM pg_ls_logdir() WHERE modification >= $1 ORDER BY modification",
            since,
        )
        parts = [
            await connection.fetchval(
                "SELECT pg_read_binary_file($1)", f"{directory}/{row['name']}"
            )
            for row in names
        ]
    except asyncpg.InsufficientPrivilegeError as error:
        return b"", f"not allowed to read the server's log through SQL: {error}"
    finally:
        await connection.close()
    return b"".join(parts), None


def plain_texts(sinks: Sinks) -> list[str]:
    texts = [item.message for item in sinks.gateway.received]
    for message in sinks.smtp.inbox.messages:
        body = message.get_body(preferencelist=("plain",))
        texts.append(body.get_content() if body is not None else "")
    return texts


async def test_canaries_leak_nowhere(
    tmp_path: Path,
    sinks: Sinks,
    service_databases: dict[str, str],
    database_kind: str,
    request: pytest.FixtureRequest,
) -> None:
    started = time.monotonic()
    started_wall = datetime.now(UTC)
    scan = Scan()
    responses: list[tuple[str, httpx.Response]] = []  # every answer the services gave
    ingress = POLICE_CONTACTS.full_name("")
    intake_db = service_databases["intake"]
    broker = await start_and_wait(tmp_path / "kafka")
    try:
        await ensure_topics(broker.bootstrap_servers, "")
        async with (
            LiveSystem(
                broker.bootstrap_servers, "", service_databases, tmp_path / "live",
                sinks.gateway, sinks.smtp.port,
                extra_env=extra_env(tmp_path / "config"),
            ) as live,
            httpx.AsyncClient(base_url=live["intake"].url, timeout=20) as intake,
        ):  # fmt: skip

            async def post(what: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
                response = await intake.post("/v1/contacts", content=body, headers=headers)
                responses.append((f"POST {what}", response))
                return response

            bodies = {
                name: canary_contact(f"NFK/CANARY/{name.upper()}")
                for name in ("http", "kafka", "http-fault", "kafka-fault")
            }
            # A valid POST and a valid ingress record.
            first_headers = system.signed(encoded(bodies["http"]))
            accepted = await post("valid", encoded(bodies["http"]), first_headers)
            assert accepted.status_code == 202, accepted.text
            await produce(
                broker.bootstrap_servers, ingress, encoded(bodies["kafka"]), b"NFK/CANARY/KAFKA"
            )

            # Refused POSTs (422 for each contract failure, 401 unsigned and mis-signed, 413)
            # and the same bodies as ingress records, which must be dead-lettered.
            invalid = invalid_bodies(canary_contact("NFK/CANARY/INVALID"))
            for reason, body in invalid.items():
                refused = await post(f"invalid ({reason})", body, system.signed(body))
                assert refused.status_code == 422, (reason, refused.status_code, refused.text)
                await produce(broker.bootstrap_servers, ingress, body, b"NFK/CANARY/INVALID")
            oversize = encoded(bodies["http"]) + b" " * (70 * 1024)
            assert (await post("oversize", oversize, system.signed(oversize))).status_code == 413
            await produce(broker.bootstrap_servers, ingress, oversize, b"NFK/CANARY/OVERSIZE")
            unsigned = {"content-type": "application/json"}
            assert (await post("unsigned", encoded(bodies["http"]), unsigned)).status_code == 401
            forged = system.signed(b"something else")
            assert (await post("mis-signed", encoded(bodies["http"]), forged)).status_code == 401
            # A police operation announced ahead (services/intake/operations.py): a valid one (its
            # event goes to the referrals topic and on to the notifier and the agenda), and refused
            # ones carrying the canaries in an unknown field and in fields of the wrong type.
            ahead = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
            announcement = {
                "force_code": "NFK", "operation": "Op Canary Watch", "district": "norwich",
                "starts_at": ahead.isoformat(), "ends_at": (ahead + timedelta(hours=2)).isoformat(),
                "expected_victims": 12,
            }  # fmt: skip
            for what, announced, status in (
                ("valid", announcement, 202),
                ("unknown field", announcement | {"person": PERSON_NAME, "notes": NOTES}, 422),
                ("wrong types", announcement | {"expected_victims": PERSON_PHONE,
                                             "district": NATIONALITY, "starts_at": DATE_OF_BIRTH}, 422),
                ("unsigned", announcement | {"officer": OFFICER_EMAIL}, 401),
            ):  # fmt: skip
                announced_body = json.dumps(announced).encode()
                announced_headers = (
                    system.signed(announced_body)
                    if status != 401
                    else {"content-type": "application/json"}
                )
                announced_answer = await intake.post(
                    "/v1/operations", content=announced_body, headers=announced_headers
                )
                responses.append((f"POST operation {what}", announced_answer))
                assert announced_answer.status_code == status, (what, announced_answer.text)
            dead_letters_expected = len(invalid) + 1
            # Intake has taken in everything so far (the valid record too) before the fault.
            await wait_until(
                lambda: (
                    logged(live, "intake", "record_dead_lettered") >= dead_letters_expected
                    and logged(live, "intake", "contact_received") >= 2
                ),
                within=30,
                what="the valid record stored and the invalid ones dead-lettered",
            )

            # Intake's vault refuses writes: the POST fails (500) and the record is retried,
            # then dead-lettered. The police send both again once the fault has cleared.
            await sql(intake_db, fault_on(database_kind))
            try:
                failed = await post(
                    "during fault", encoded(bodies["http-fault"]),
                    system.signed(encoded(bodies["http-fault"])),
                )  # fmt: skip
                assert failed.status_code == 500, failed.text
                await produce(
                    broker.bootstrap_servers, ingress, encoded(bodies["kafka-fault"]),
                    b"NFK/CANARY/KAFKA-FAULT",
                )  # fmt: skip
                dead_letters_expected += 1
                await wait_until(
                    lambda: logged(live, "intake", "record_dead_lettered") >= dead_letters_expected,
                    within=30,
                    what="the faulted record dead-lettered after its retries",
                )
            finally:
                await sql(intake_db, fault_off(database_kind))
            assert logged(live, "intake", "handler_failed_retrying") >= 1, "no retry ran"
            retried = await post(
                "after fault", encoded(bodies["http-fault"]),
                system.signed(encoded(bodies["http-fault"])),
            )  # fmt: skip
            assert retried.status_code == 202, retried.text
            await produce(
                broker.bootstrap_servers, ingress, encoded(bodies["kafka-fault"]),
                b"NFK/CANARY/KAFKA-FAULT",
            )  # fmt: skip

            # Replays: the same signed request (refused), the same contact under a fresh request
            # id (answered 200, nothing new), the same ingress record again; then an update.
            replayed = await post("same request id", encoded(bodies["http"]), first_headers)
            assert replayed.status_code == 403, replayed.text
            again = await post(
                "fresh request id", encoded(bodies["http"]), system.signed(encoded(bodies["http"]))
            )
            assert again.status_code == 200, again.text
            assert again.json()["outcome"] == "replayed"
            await produce(
                broker.bootstrap_servers, ingress, encoded(bodies["kafka"]), b"NFK/CANARY/KAFKA"
            )
            changed = encoded(bodies["http"] | {"notes": NOTES + " (second statement)"})
            updated = await post("update", changed, system.signed(changed))
            assert updated.status_code == 202, updated.text
            assert updated.json()["outcome"] == "updated"

            contacts = [
                Contact(
                    body["police_reference"],
                    "http" if name.startswith("http") else "kafka",
                    encoded(body),
                    expected_tasks(body),
                    0.0,
                    acknowledged=True,
                )
                for name, body in bodies.items()
            ]
            found, _ = await settled(service_databases, contacts, sinks, within=60)
            assert found.problems(contacts) == {}
            assert found.missing_messages(contacts) == 0
            cases = [found.references[contact.police_reference] for contact in contacts]

            # The alerts are acknowledged: by the link (page, then POST, then POST again) for
            # one case, by the code for another; casework then gives the acknowledger the tasks.
            notifier = live["notifier"].url
            texts = plain_texts(sinks)
            link_case, code_case = cases[0], cases[1]
            token = next(
                match.group(1)
                for text in texts
                if link_case in text
                for match in ACK_TOKEN.finditer(text)
            )
            code = next(
                match.group(1) or match.group(2)
                for text in texts
                if code_case in text
                for match in ACK_CODE.finditer(text)
            )
            async with httpx.AsyncClient(timeout=20) as client:
                responses.append(("ack page", await get_ok(client, f"{notifier}/ack/{token}")))
                for attempt in ("ack link", "ack link again"):
                    answer = await client.post(f"{notifier}/ack/{token}")
                    assert answer.status_code == 200, answer.text
                    responses.append((attempt, answer))
                by_code = await client.post(f"{notifier}/v1/acks", json={"code": code})
                assert by_code.status_code == 200, by_code.text
                assert by_code.json() == {"status": "acknowledged"}  # names no case
                responses.append(("ack code", by_code))
                casework = live["casework"].url

                async def acknowledger_has_tasks() -> bool:
                    for case in (link_case, code_case):
                        url = f"{casework}/v1/cases/{case}/tasks"
                        listed = (await client.get(url, headers=HEAD)).json()
                        if not listed or any(t["assigned_by"] != "acknowledged" for t in listed):
                            return False
                    return True

                await eventually(
                    acknowledger_has_tasks, bool, within=20, what="tasks given to the acknowledger"
                )

                # Every status endpoint, and every service's metrics (open on loopback in test):
                # no label may carry a case, a person or anything the police sent.
                for name in SERVICES:
                    for endpoint in ("/healthz", "/readyz", "/metrics"):
                        url = f"{live[name].url}{endpoint}"
                        responses.append((f"{name} {endpoint}", await get_ok(client, url)))
                alert_ids = [
                    row["alert_id"] for row in (await all_rows(service_databases["notifier"]))["alerts"]
                ]  # fmt: skip
                for alert_id in alert_ids:
                    url = f"{notifier}/v1/alerts/{alert_id}"
                    responses.append((f"alert {alert_id}", await get_ok(client, url, headers=HEAD)))
                # The rota import: a calendar whose titles, descriptions and locations name the
                # person, an event naming them where a person id belongs, and no calendar at all.
                responses += await rota_imports(client, notifier)
                # Casework's task API, as the head of service (who sees every task).
                responses.append(
                    ("figures", await get_ok(client, f"{casework}/v1/figures", headers=HEAD))
                )
                every_task = await get_ok(client, f"{casework}/v1/tasks", headers=HEAD)
                responses.append(("tasks", every_task))
                assert {task["case_reference"] for task in every_task.json()} == set(cases)
                for case in cases:
                    url = f"{casework}/v1/cases/{case}/tasks"
                    responses.append((f"tasks of {case}", await get_ok(client, url, headers=HEAD)))
                # Criminal-justice support: a change recorded, then each case's record read.
                willing = await client.post(
                    f"{casework}/v1/cases/{cases[0]}/criminal-justice",
                    json={"state": "willing_to_give_account"}, headers=HEAD,
                )  # fmt: skip
                assert willing.status_code == 200, willing.text
                responses.append(("criminal-justice change", willing))
                for case in cases:
                    url = f"{casework}/v1/cases/{case}/criminal-justice"
                    responses.append((f"criminal justice of {case}", await get_ok(client, url, headers=HEAD)))  # fmt: skip
                # The funder's quarterly figures (counts only): the current quarter so far.
                quarter = last_closed_quarter(datetime.now(UTC)).following().name
                url = f"{casework}/v1/reports/quarters/{quarter}"
                responses.append(("quarter figures", await get_ok(client, url, headers=HEAD)))
                # The directory of local services, and each task's suggestions from it.
                responses.append(
                    ("directory", await get_ok(client, f"{casework}/v1/directory", headers=HEAD))
                )
                # Onward referrals: one on each case's first need task (its events on the tasks
                # topic), the first declined; then every task's referrals read with the rest.
                need_tasks: dict[str, dict[str, Any]] = {}
                for task in every_task.json():
                    if task["kind"] in NEED_KINDS:
                        need_tasks.setdefault(task["case_reference"], task)
                assert need_tasks, "the canary cases have need tasks"
                for number, task in enumerate(need_tasks.values()):
                    url = f"{casework}/v1/tasks/{task['task_id']}/referrals"
                    made = await client.post(url, headers=HEAD, json={
                        "organisation_name": "Norwich Law Centre", "method": "phone"})  # fmt: skip
                    assert made.status_code == 201, made.text
                    responses.append((f"referral made {number}", made))
                    if number == 0:
                        declined = await client.post(
                            f"{url}/{made.json()['referral_id']}/outcome", headers=HEAD,
                            json={"outcome": "declined", "decline_reason": "person_declined"},
                        )  # fmt: skip
                        assert declined.status_code == 200, declined.text
                        responses.append(("referral declined", declined))
                for task in every_task.json():
                    for suffix in ("", "/history", "/suggestions", "/referrals"):
                        url = f"{casework}/v1/tasks/{task['task_id']}{suffix}"
                        responses.append((url, await get_ok(client, url, headers=HEAD)))
                # Every agenda document of every upcoming meeting.
                scheduler = live["meeting_scheduler"].url
                meetings = await get_ok(client, f"{scheduler}/v1/meetings", headers=COORDINATOR)
                responses.append(("meetings", meetings))
                assert sum(meeting["items"] for meeting in meetings.json()) == len(cases)
                markdown = ""
                for meeting in meetings.json():
                    for fmt in ("md", "html", "pdf", "ics"):
                        url = scheduler + meeting["agenda_url"].replace(
                            "agenda.md", f"agenda.{fmt}"
                        )
                        document = await get_ok(client, url, headers=COORDINATOR)
                        responses.append((url, document))
                        if fmt == "md":
                            markdown += document.text
                assert all(case in markdown for case in cases), "the agendas list every case"
                # Training sessions: one held, and the canaries refused at the doors.
                responses += await training_sessions(client, scheduler)
                # The funder's quarterly report: casework rebuilds the last quarter ended and the
                # meeting scheduler renders it (PDF and CSV in its database, on the agenda topic,
                # e-mailed, and read here as data, PDF and CSV by the head of service).
                ended = last_closed_quarter(datetime.now(UTC)).name
                rebuilt = await client.post(f"{casework}/v1/reports/quarters/{ended}", headers=HEAD)
                assert rebuilt.status_code == 200, rebuilt.text

                async def funder_reports() -> list[dict[str, Any]]:
                    url = f"{scheduler}/v1/reports/quarterly"
                    return list((await client.get(url, headers=HEAD)).json())

                await eventually(
                    funder_reports, lambda found: ended in [item["quarter"] for item in found],
                    within=30, what="the funder's report",
                )  # fmt: skip
                for suffix in ("", "/report.pdf", "/report.csv"):
                    url = f"{scheduler}/v1/reports/quarterly/{ended}{suffix}"
                    responses.append((f"funder report{suffix}", await get_ok(client, url, headers=HEAD)))  # fmt: skip

                # Positive control for the vault: intake holds the canaries, readable only by a
                # named vault reader (audited). This answer is the one place they may appear.
                vault = await get_ok(
                    client, f"{live['intake'].url}/v1/cases/{cases[0]}/personal-data",
                    params={"purpose": "canary test: the vault holds the data"},
                    headers=VAULT_READER,
                )  # fmt: skip
                assert PERSON_NAME in vault.text
                assert NOTES in vault.text

            # The agenda naming every canary case is published, and the notifier took its files.
            async def agendas_published() -> int:
                topic = AGENDA.full_name("")
                events = [
                    json.loads(record.value or b"{}")
                    for record in await read_all(broker.bootstrap_servers, [topic], quiet_for=0.5)
                ]
                published = [e for e in events if e["event_type"] == "agenda.published.v1"]
                files = [
                    base64.b64decode(item["content_base64"])
                    for event in published
                    for item in event["attachments"]
                    if item["filename"].endswith(".md")
                ]
                if not any(all(case.encode() in md for case in cases) for md in files):
                    return 0
                alerts = (await all_rows(service_databases["notifier"]))["alerts"]
                taken = sum(alert["kind"] == "agenda" for alert in alerts)
                return len(published) if taken == len(published) else 0

            agendas = await eventually(
                agendas_published,
                lambda published: published > 0,
                within=30,
                what="the agenda of the canary cases published",
            )
            # Every consumer group has committed every record: each was handled (and logged)
            # before its offset was committed. The logs are read once the services have stopped.
            async with Offsets(broker.bootstrap_servers, "") as offsets:
                await caught_up(offsets, service_databases, sinks)

        # The services are stopped (their shutdown logged too). Every record of every topic but
        # the ingress topic, keys and headers included.
        topics = [spec.full_name("") for spec in ALL_TOPICS if spec is not POLICE_CONTACTS]
        records = await read_all(broker.bootstrap_servers, topics, quiet_for=2.0, within=30)
        per_topic: Counter[str] = Counter()
        for record in records:
            per_topic[record.topic] += 1
            where = f"{record.topic}/{record.partition}@{record.offset}"
            parts = [record.key or b"", record.value or b""]
            parts += [name.encode() + b"=" + (value or b"") for name, value in record.headers]
            kind = "dead letter" if record.topic == DEAD_LETTERS.full_name("") else "kafka record"
            scan.check(kind, where, b"\n".join(parts))
        letters = [
            json.loads(r.value or b"{}") for r in records if r.topic == DEAD_LETTERS.full_name("")
        ]
        assert len(letters) == dead_letters_expected, letters
        assert {letter["source_topic"] for letter in letters} == {ingress}
        assert sum(letter["error_type"] != "ValidationError" for letter in letters) >= 2
        ingress_records = await read_all(broker.bootstrap_servers, [ingress], quiet_for=1.0)
        assert all(
            value.encode() in b"".join(r.value or b"" for r in ingress_records)
            for value in PRIMARY.values()
        )
    finally:
        broker.stop()

    # The broker's files on disk: every file of every partition folder but the ingress topic's.
    data = tmp_path / "kafka" / "data"
    ingress_segments = b""
    for path in sorted(data.rglob("*")):
        if not path.is_file():
            continue
        folder = path.parent.name
        if path.parent != data and folder.rsplit("-", 1)[0] == ingress:
            if path.suffix == ".log":
                ingress_segments += path.read_bytes()
            continue
        kind = "segment file" if path.suffix == ".log" else "other broker file"
        scan.check(kind, str(path.relative_to(data)), path.read_bytes())
    missing = [label for label, value in PRIMARY.items() if value.encode() not in ingress_segments]
    assert not missing, f"positive control: the scan did not find {missing} in the ingress segments"
    for path in sorted((tmp_path / "kafka").glob("*.log")):  # the broker's own logs
        scan.check("broker log", path.name, path.read_bytes())

    # Every service log, every SMS, every email (raw, attachments included), every HTTP answer.
    for name in SERVICES:
        scan.check("service log", name, (tmp_path / "live" / f"{name}.log").read_bytes())
    for item in sinks.gateway.received:
        scan.check("sms", item.path, f"{item.path}\n{item.title}\n{item.message}".encode())
    for raw in sinks.smtp.inbox.raw:
        scan.check("email", "smtp", raw)
        for part in message_from_bytes(raw, policy=default).walk():
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                scan.check("email part", str(part.get_content_type()), payload)
    for what, response in responses:
        headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items()).encode()
        kind = "agenda document" if "/agenda." in what else "http answer"
        scan.check(kind, what, headers + b"\n" + response.content)

    # The databases. SQLite: the raw bytes of each file (WAL too), intake's included (its vault
    # holds ciphertext only). PostgreSQL: every column of every row of every table, and the
    # server's log.
    intake_rows = b""  # positive control: the scan reads intake's plain columns
    for name, url in service_databases.items():
        if database_kind == "sqlite":
            database = sa.engine.make_url(url).database
            assert database is not None
            for path in sorted(Path(database).parent.glob(f"{Path(database).name}*")):
                scan.check("database file", f"{name}: {path.name}", path.read_bytes())
        for table, rows in (await all_rows(url)).items():
            for row in rows:
                content = b"\x00".join(value_bytes(value) for value in row.values())
                scan.check("database row", f"{name}.{table}", content)
                intake_rows += content if name == "intake" else b""
    assert all(body["police_reference"].encode() in intake_rows for body in bodies.values())
    # Positive control for the unpacking: the agenda PDFs' text (from the API, the agenda topic's
    # base64 attachments and the notifier's stored files) was read, and names the cases.
    assert sum(all(c.encode() in text for c in cases) for text in scan.pdf_texts) >= 3
    assert any(subject.startswith("Agenda") for subject in sinks.email_subjects())
    postgres_log_unread: str | None = None
    if database_kind == "postgresql":
        cluster = request.getfixturevalue("postgres_cluster")
        server_log, postgres_log_unread = await postgres_server_log(cluster, started_wall)
        if postgres_log_unread is None:
            # Positive control: the log read is this server's, written during this test.
            assert FAULT_MESSAGE in server_log, "the PostgreSQL log read lacks the injected fault"
            scan.check("postgres log", cluster.describe(), server_log)

    print(
        f"\nlog canary ({database_kind}): {len(PROBES)} probes; scanned "
        + scan.line(KINDS)
        + f"; records by topic {dict(sorted(per_topic.items()))}; ingress records "
        f"{len(ingress_records)} and segment bytes {len(ingress_segments)} (positive control: all "
        f"{len(PRIMARY)} canaries found); agendas published {agendas}, PDF texts read "
        f"{len(scan.pdf_texts)}; leaks {len(scan.leaks)}; "
        + (f"POSTGRES LOG NOT SCANNED: {postgres_log_unread}; " if postgres_log_unread else "")
        + f"{time.monotonic() - started:.0f} s"
    )
    assert not scan.leaks, scan.leaks
    assert postgres_log_unread is None, (
        f"the PostgreSQL server's log was not scanned: {postgres_log_unread}. Use the throwaway "
        "cluster (unset TEST_POSTGRES_URL) or give the server's log to this test as described in "
        "postgres_server_log"
    )
