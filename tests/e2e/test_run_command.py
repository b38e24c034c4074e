"""The system as a user runs it: the README's run command, the example contact, the results.

Also the canary test: distinctive identity values sent in through both doors (HTTP and the
ingress topic) must appear in no log line of any process, no Kafka record, no alert, no agenda,
and nowhere in the databases outside the vault's ciphertext.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import httpx
import pypdf
import pytest

from deploy.kafka_broker import free_port
from shared.topics import AGENDA, ALERTS, ALL_TOPICS, POLICE_CONTACTS, REFERRALS, TASKS
from tests.support.allow_list import check_messages
from tests.support.kafka import produce, read_all, wait_consumed
from tests.support.waiting import eventually, wait_until

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DEV_HEAD = {"Authorization": "Bearer dev-head-of-service"}  # dev's token for the head of service
DEV_COORDINATOR = {"Authorization": "Bearer dev-coordinator"}
# The alert should reach the advisor within seconds (the figure is printed); the bound is loose
# enough for a busy two-core machine, and still fails if the alert never comes.
ALERT_WITHIN = 15.0
# Every consumer group of every service (services/*/router.py), with the topic it reads.
CONSUMER_GROUPS = [
    ("intake", POLICE_CONTACTS), ("notifier", REFERRALS), ("notifier.tasks", TASKS),
    ("notifier.agenda", AGENDA), ("casework", REFERRALS), ("casework.alerts", ALERTS),
    ("meeting_scheduler", REFERRALS), ("meeting_scheduler.tasks", TASKS),
    ("meeting_scheduler.alerts", ALERTS),
]  # fmt: skip
CANARIES = {
    "name": "Canary Ottoline Brackenbury",
    "date_of_birth": "1987-03-14",
    "phone": "+447700900123",
    "notes": "canary-note-4f1e: kept in a caravan behind the packing shed",
}


def _free_port_block(size: int) -> int:
    for base in range(23000, 60000, 97):
        ports = range(base + 1, base + 1 + size)
        if all(_is_free(port) for port in ports):
            return base
    raise RuntimeError("no free block of ports")


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@dataclass
class System:
    process: subprocess.Popen[bytes]
    output: Path
    state_dir: Path
    port_base: int
    prefix: str

    def url(self, offset: int) -> str:
        return f"http://127.0.0.1:{self.port_base + offset}"

    def log_text(self) -> str:
        return self.output.read_text(errors="replace")

    def child_pids(self) -> list[int]:
        return [
            int(line.rsplit("pid ", 1)[1].rstrip(")"))
            for line in self.log_text().splitlines()
            if line.startswith("launcher: started ")
        ]


@pytest.fixture
async def running_system(kafka_bootstrap: str, tmp_path: Path) -> AsyncIterator[System]:
    prefix = f"e2e{uuid.uuid4().hex[:8]}."
    port_base = _free_port_block(5)  # four services and the console
    mail_port = free_port()
    output = tmp_path / "launcher.log"
    env = os.environ | {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "KAFKA_TOPIC_PREFIX": prefix,
        "PYTHONUNBUFFERED": "1",
    }
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "deploy.launcher", "--state-dir", str(tmp_path / "state"),
             "--port-base", str(port_base), "--mail-port", str(mail_port)],
            cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    system = System(process, output, tmp_path / "state", port_base, prefix)
    try:
        # Keycloak (the local sign-in) takes most of the start: 20-40 s on two busy cores.
        deadline = time.monotonic() + 240
        while "launcher: all services ready" not in system.log_text():
            assert process.poll() is None, f"launcher exited early:\n{system.log_text()[-3000:]}"
            assert time.monotonic() < deadline, f"not ready in 240s:\n{system.log_text()[-3000:]}"
            await asyncio.sleep(0.2)
        yield system
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _plain_text(mail: Path) -> str:
    message = message_from_bytes(mail.read_bytes(), policy=default)
    assert isinstance(message, EmailMessage)
    body = message.get_body(preferencelist=("plain",))
    return body.get_content() if body is not None else ""


def _mails(system: System) -> list[Path]:
    folder = system.state_dir / "mail"
    return sorted(folder.glob("*.eml")) if folder.exists() else []


def _pdf_text(document: bytes) -> str:
    """The text of every page (an agenda runs past one page as items accumulate)."""
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(document)).pages)


async def _everything_consumed(bootstrap: str, prefix: str) -> None:
    """Every consumer group has committed every record now on the topic it reads: each handler
    has returned, its effects and its log lines are written (tests/support/kafka.py)."""
    for group, spec in CONSUMER_GROUPS:
        await wait_consumed(bootstrap, group, [spec.full_name(prefix)], within=30)


async def test_new_user_journey(
    running_system: System, example_contact: bytes, kafka_bootstrap: str
) -> None:
    system = running_system
    async with httpx.AsyncClient(timeout=10) as client:
        # The console is up, and signing in goes to the local OpenID provider's login form.
        console = await client.get(f"{system.url(5)}/now", follow_redirects=True)
        assert console.status_code == 200, console.status_code
        assert "/realms/safeguarding/protocol/openid-connect/auth" in str(console.url)
        assert 'id="kc-form-login"' in console.text
        assert f"Staff console: {system.url(5)}/" in system.log_text()  # how to sign in
        posted_at = time.monotonic()
        response = await client.post(
            f"{system.url(1)}/v1/contacts", content=example_contact,
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        assert response.status_code == 202, response.text
        reference = response.json()["case_reference"]

        while not _mails(system):
            waited = time.monotonic() - posted_at
            assert waited < ALERT_WITHIN, f"no alert email within {ALERT_WITHIN:.0f} s"
            await asyncio.sleep(0.05)
        alert_seconds = time.monotonic() - posted_at
        print(f"\nalert email at the mail sink {alert_seconds:.2f} s after the POST")
        assert reference in _mails(system)[0].read_text()
        check_messages([_plain_text(mail) for mail in _mails(system)])

        tasks = await eventually(
            lambda: client.get(f"{system.url(3)}/v1/cases/{reference}/tasks", headers=DEV_HEAD),
            lambda r: len(r.json()) == 6,
            what="six tasks (four needs + first contact + Duty to Notify check)",
        )
        assert {t["kind"] for t in tasks.json()} >= {
            "safe_accommodation",
            "healthcare",
            "legal_advice",
            "interpreter",
        }
        meetings = await eventually(
            lambda: client.get(f"{system.url(4)}/v1/meetings", headers=DEV_COORDINATOR),
            lambda r: sum(m["items"] for m in r.json()) == 1,
            what="one agenda item",
        )
        agenda_url = next(m["agenda_url"] for m in meetings.json() if m["items"])
        assert (
            reference
            in (await client.get(f"{system.url(4)}{agenda_url}", headers=DEV_COORDINATOR)).text
        )
        # The coordinator opens the agenda as a PDF and finds the case in it.
        pdf_url = next(m["pdf_url"] for m in meetings.json() if m["items"])
        pdf = await client.get(f"{system.url(4)}{pdf_url}", headers=DEV_COORDINATOR)
        assert pdf.headers["content-type"] == "application/pdf"
        assert reference in _pdf_text(pdf.content)

        again = await client.post(
            f"{system.url(1)}/v1/contacts", content=example_contact,
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        assert again.status_code == 200
        # A positive signal that anything the replay caused has been handled: another contact,
        # sent after it, has its alert. Intake's outbox relays events in the order they were
        # written, so a referral event from the replay would be on the topic before this one.
        later = json.loads(example_contact) | {"police_reference": "NFK/2026/AFTER-REPLAY"}
        sentinel = await client.post(
            f"{system.url(1)}/v1/contacts", content=json.dumps(later).encode(),
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        assert sentinel.status_code == 202, sentinel.text
        after = sentinel.json()["case_reference"]
        await wait_until(
            lambda: any(after in mail.read_text() for mail in _mails(system)),
            within=ALERT_WITHIN, what="the alert of the contact sent after the replay",
        )  # fmt: skip
        await _everything_consumed(kafka_bootstrap, system.prefix)
        referrals = await read_all(kafka_bootstrap, [REFERRALS.full_name(system.prefix)])
        events = [json.loads(record.value) for record in referrals]
        # The dead-man's switch shares the topic: intake's heartbeat (one at start, then every
        # minute) takes a referral's path, and the notifier says it went end to end.
        heartbeats = [e for e in events if e["event_type"] == "heartbeat.v1"]
        assert heartbeats, "the run command emits heartbeats"
        events = [e for e in events if e["event_type"] != "heartbeat.v1"]
        assert sorted(e["case_reference"] for e in events) == sorted([reference, after])
        pulse = await client.get(f"{system.url(2)}/heartbeat")
        assert pulse.status_code == 200, pulse.text
        assert pulse.json()["status"] == "ok"
        alerted = [mail.name for mail in _mails(system) if reference in mail.read_text()]
        assert len(alerted) == 1, f"posting it again must not alert again: {alerted}"
        assert (
            len(
                (
                    await client.get(
                        f"{system.url(3)}/v1/cases/{reference}/tasks", headers=DEV_HEAD
                    )
                ).json()
            )
            == 6
        )

    # Ctrl-C stops every process the launcher started.
    children = system.child_pids()
    # Keycloak, the mail sink, four services and the console (the broker is the session's here).
    assert len(children) == 7
    system.process.send_signal(signal.SIGINT)
    assert system.process.wait(timeout=60) == 0
    for pid in children:
        assert (
            not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
        ), pid


async def test_canary_identity_leaks_nowhere(
    running_system: System, example_contact: bytes, kafka_bootstrap: str
) -> None:
    system = running_system
    contacts = []
    for number, door in enumerate(("http", "kafka")):
        contact = json.loads(example_contact)
        contact["police_reference"] = f"NFK/CANARY/{number}"
        contact["person"].update(
            name=CANARIES["name"], date_of_birth=CANARIES["date_of_birth"], phone=CANARIES["phone"]
        )
        contact["notes"] = CANARIES["notes"]
        contacts.append((door, json.dumps(contact).encode()))
    # A bad record carrying the canaries too: it must reach the dead letters without them.
    poison = json.loads(contacts[0][1]) | {"immediate_risk": "maybe"}

    async with httpx.AsyncClient(timeout=10) as client:
        http_response = await client.post(
            f"{system.url(1)}/v1/contacts",
            content=contacts[0][1],
            headers={"Content-Type": "application/json"},
        )
        assert http_response.status_code == 202
        invalid = await client.post(
            f"{system.url(1)}/v1/contacts",
            content=json.dumps(poison),
            headers={"Content-Type": "application/json"},
        )
        assert invalid.status_code == 422
        ingress = POLICE_CONTACTS.full_name(system.prefix)
        await produce(kafka_bootstrap, ingress, contacts[1][1])
        await produce(kafka_bootstrap, ingress, json.dumps(poison).encode())
        await wait_until(lambda: len(_mails(system)) >= 2, what="two alerts")
        # Every service has handled every record (its log lines written), the poison included.
        await _everything_consumed(kafka_bootstrap, system.prefix)

    leaks: list[str] = []
    probes = [value.encode() for value in CANARIES.values()] + [
        CANARIES["name"].split()[1].encode()
    ]
    for record in await read_all(
        kafka_bootstrap,
        [spec.full_name(system.prefix) for spec in ALL_TOPICS if spec is not POLICE_CONTACTS],
    ):
        leaks += [f"kafka {record.topic}" for probe in probes if probe in (record.value or b"")]
    logs = system.log_text().encode()
    leaks += [f"logs: {probe!r}" for probe in probes if probe in logs]
    leaks += [f"422 body: {probe!r}" for probe in probes if probe in invalid.content]
    for mail in _mails(system):
        leaks += [f"mail {mail.name}" for probe in probes if probe in mail.read_bytes()]
    async with httpx.AsyncClient(timeout=10) as client:
        for meeting in (
            await client.get(f"{system.url(4)}/v1/meetings", headers=DEV_COORDINATOR)
        ).json():
            for fmt in ("md", "html", "pdf", "ics"):
                url = meeting["agenda_url"].replace("agenda.md", f"agenda.{fmt}")
                document = (
                    await client.get(f"{system.url(4)}{url}", headers=DEV_COORDINATOR)
                ).content
                if fmt == "pdf":
                    document = _pdf_text(document).encode()
                leaks += [f"agenda {url}" for probe in probes if probe in document]
    for database in (system.state_dir / "db").glob("*.sqlite3*"):
        leaks += [f"database {database.name}" for probe in probes if probe in database.read_bytes()]
    assert not leaks, leaks
    assert b"dead_letter.v1" in b"".join(
        r.value or b""
        for r in await read_all(kafka_bootstrap, [f"{system.prefix}safeguarding.dead-letters.v1"])
    ), "the poison record was dead-lettered"
