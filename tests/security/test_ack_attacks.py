"""Attacks on acknowledging without a sign-in, against the notifier in-process on the real broker,
on SQLite and PostgreSQL: guessing codes (one client, one code from many clients, many clients),
re-using a code on a closed alert, an expired code, forged and closed links. Every refusal must be
the same answer; nothing is acknowledged by a guess; a valid code still acknowledges and stops the
escalation; no code and no client address reaches the log. The code generator is also forced to
collide: the notification gets a fresh code instead of being dropped.

The notifier's clock starts on an hour boundary and is moved by hand, so the one-hour rate-limit
windows of this test begin where the test says and codes can be made to expire."""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from services.notifier import domain, escalating
from services.notifier.adapters.tables import alerts, notifications
from services.notifier.domain import ACK_CODE_ALPHABET, group_ack_code
from services.notifier.main import create_app as create_notifier
from services.notifier.settings import NotifierSettings
from shared.app import ServiceApp
from shared.db import create_engine
from shared.topics import REFERRALS
from tests.support import system
from tests.support.databases import DatabaseUrls
from tests.support.http_gateway import Gateway, RunningGateway
from tests.support.kafka import produce
from tests.support.notifier import referral, write_policy, write_rota
from tests.support.smtp import SmtpSink
from tests.support.waiting import wait_until

pytestmark = pytest.mark.security

WINDOW = timedelta(hours=1)
LIMITS: dict[str, Any] = {
    "ack_limit_window_seconds": 3600,
    "ack_failures_per_client": 5,
    "ack_failures_per_code": 3,
    "ack_failures_global": 30,
    "ack_code_hours": 1.5,
}
CODE = re.compile(r"Ack ([A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}|[A-Z2-9]{8})\b")
LINK = re.compile(r"Acknowledge: http://127\.0\.0\.1:8002(/ack/\S+) ")
# Steps at 0, 5, 10 (backup) and 15 s (head of service). Alert A is acknowledged about 0.2 s after
# its first SMS (18 requests in process), long before the backup's step at 10 s, which the test
# requires it to stop; a late acknowledgement fails the test rather than passing it.
STEP_SECONDS = 5.0


class ShiftedClock:
    """Real time, starting at a chosen instant, moved forward by hand."""

    def __init__(self, start: datetime) -> None:
        self._offset = start - datetime.now(UTC)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def advance(self, by: timedelta) -> None:
        self._offset += by


def case(number: int) -> str:
    return f"MS-2026-T{number:05d}"


def guess() -> str:
    return group_ack_code("".join(secrets.choice(ACK_CODE_ALPHABET) for _ in range(12)))


@dataclass
class Attack:
    app: ServiceApp
    gateway: Gateway
    smtp: SmtpSink
    clock: ShiftedClock
    database_url: str
    kafka: str
    prefix: str
    log_lines: list[str]
    table: list[tuple[str, str, str, str]] = field(default_factory=list)
    bodies: list[str] = field(default_factory=list)  # the 403 answers to codes

    async def publish(self, number: int) -> None:
        event = referral(number)
        await produce(self.kafka, REFERRALS.full_name(self.prefix),
                      event.model_dump_json().encode(), key=event.case_reference.encode())  # fmt: skip

    def client(self, address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app.http_app, client=(address, 50_000))
        return httpx.AsyncClient(transport=transport, base_url="http://notifier")

    async def post(self, what: str, address: str, path: str, code: str | None) -> httpx.Response:
        async with self.client(address) as client:
            if code is None:
                response = await client.post(path)
            else:
                response = await client.post(path, json={"code": code})
        if response.status_code == 403:
            answer = "generic refusal"
            if code is not None:
                self.bodies.append(response.text)
        elif response.status_code == 429:
            answer = f"too many attempts, Retry-After {response.headers['retry-after']} s"
        else:
            answer = response.text if code is not None else _page_text(response.text)
        self.table.append((what, address, code or "link", f"{response.status_code} {answer}"))
        return response

    def sms(self, person: str, number: int) -> list[str]:
        return [
            item.message
            for item in self.gateway.to(f"sms/{person}")
            if case(number) in item.message
        ]

    def code(self, person: str, number: int) -> str:
        found = CODE.search(self.sms(person, number)[0])
        assert found is not None
        return found.group(1)

    def has_email(self, person: str, number: int) -> bool:
        try:
            self.link(person, number)
        except AssertionError:
            return False
        return True

    def link(self, person: str, number: int) -> str:
        for message in self.smtp.inbox.messages:
            body = message.get_body(preferencelist=("plain",))
            text = body.get_content() if body is not None else ""
            if str(message["to"]) == f"{person}@test.local" and case(number) in text:
                found = LINK.search(text)
                assert found is not None
                return found.group(1)
        raise AssertionError(f"no email to {person} about {case(number)}")

    async def statuses(self) -> dict[str, str]:
        engine = create_engine(self.database_url)
        try:
            async with engine.connect() as connection:
                rows = await connection.execute(sa.select(alerts.c.case_reference, alerts.c.status))
                return {str(row.case_reference): str(row.status) for row in rows}
        finally:
            await engine.dispose()

    async def notified_after_ack(self, number: int) -> int:
        """Notifications of the alert created after it was acknowledged (one made just before,
        and sent just after, is not the escalation going on)."""
        engine = create_engine(self.database_url)
        try:
            async with engine.connect() as connection:
                query = (
                    sa.select(sa.func.count())
                    .select_from(notifications.join(alerts))
                    .where(
                        alerts.c.case_reference == case(number),
                        notifications.c.created_at > alerts.c.acknowledged_at,
                    )
                )
                return int((await connection.execute(query)).scalar_one())
        finally:
            await engine.dispose()

    def print_table(self, title: str) -> None:
        """Consecutive tries with the same purpose and answer on one line, with their count."""
        print(f"\n{title}")
        print(f"{'what was tried':<44} {'n':>3} {'clients':<23} answer")
        rows: list[list[str]] = []
        for what, address, _, answer in self.table:
            if rows and rows[-1][0] == what and rows[-1][3] == answer:
                rows[-1][1] = str(int(rows[-1][1]) + 1)
                first = rows[-1][2].split("…")[0]
                rows[-1][2] = first if first == address else f"{first}…{address}"
            else:
                rows.append([what, "1", address, answer])
        for what, count, clients, answer in rows:
            print(f"{what:<44} {count:>3} {clients:<23} {answer[:90]}")
        refusal = next((a for a in self.bodies if a), "")
        print(f"the generic refusal (every 403 above, byte for byte): {refusal}")


def _page_text(page: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.split("<body>", 1)[-1])).strip()


@contextmanager
def captured_log() -> Iterator[list[str]]:
    """Every log line as the service writes it (the formatter its logging setup installed)."""
    lines: list[str] = []
    root = logging.getLogger()

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    keep = Keep()
    if root.handlers and root.handlers[0].formatter is not None:
        keep.setFormatter(root.handlers[0].formatter)
    root.addHandler(keep)
    try:
        yield lines
    finally:
        root.removeHandler(keep)


@pytest.fixture
async def attack(
    kafka_bootstrap: str,
    topic_prefix: str,
    tmp_path: Path,
    database_urls: DatabaseUrls,
    database_kind: str,
) -> AsyncIterator[Attack]:
    now = datetime.now(UTC)
    clock = ShiftedClock(
        now.replace(minute=0, second=0, microsecond=0) + WINDOW + timedelta(seconds=1)
    )
    database_url = await database_urls.new("notifier")
    async with RunningGateway() as gateway, AsyncExitStack() as stack:
        smtp = stack.enter_context(SmtpSink())
        settings = NotifierSettings(
            **system.common(kafka_bootstrap, topic_prefix, database_url),
            **system.TEST_SETTINGS_NOTIFIER | {
                "rota_file": write_rota(tmp_path, gateway, smtp.port),
                "alerting_file": write_policy(tmp_path, STEP_SECONDS),
            },
            **LIMITS,
            dispatch_poll_seconds=0.2,
        )  # fmt: skip
        app = create_notifier(settings, clock=clock)
        log_lines = stack.enter_context(captured_log())
        await system.start(stack, {"notifier": app})
        attack = Attack(
            app, gateway, smtp, clock, database_url, kafka_bootstrap, topic_prefix, log_lines
        )
        try:
            yield attack
        finally:  # what was tried and what happened, also when an assertion failed
            if attack.table:
                attack.print_table(f"acknowledgement attacks ({database_kind}), limits {LIMITS}")


async def test_guessing_replaying_and_expired_codes_acknowledge_nothing(
    attack: Attack, database_kind: str
) -> None:
    # A: the guessing target, then acknowledged with its code. B: closed by advisor-a, then
    # advisor-b's code for it. C: acknowledged by link while codes are locked out. D: expires.
    for number in (1, 2, 3, 4):
        await attack.publish(number)
    await wait_until(lambda: all(attack.sms("advisor-a", n) for n in (1, 2, 3, 4)), within=30,
                     what="first SMS of each alert")  # fmt: skip
    code_a, code_b, code_d = (attack.code("advisor-a", n) for n in (1, 2, 4))
    used_codes = [code_a, code_b, code_d]

    # 1. One client guesses: refused until its failures reach the limit, then 429.
    burst = [guess() for _ in range(12)]
    used_codes += burst
    answers = [await attack.post("burst of guesses, one client", "127.0.0.2", "/v1/acks", code)
               for code in burst]  # fmt: skip
    statuses = [answer.status_code for answer in answers]
    assert statuses == [403] * 5 + [429] * 7, statuses
    assert all(0 < int(answer.headers["retry-after"]) <= 3600 for answer in answers[5:])
    assert set((await attack.statuses()).values()) == {"open"}, "a guess acknowledged something"

    # 2. One code value from many clients: its own limit.
    unknown = guess()
    used_codes.append(unknown)
    answers = [await attack.post("one unknown code, many clients", f"127.0.0.{3 + n}", "/v1/acks",
                                 unknown.lower().replace("-", " ")) for n in range(5)]  # fmt: skip
    assert [answer.status_code for answer in answers] == [403, 403, 403, 429, 429]

    # 3. A valid code acknowledges, answers nothing but that, and stops the escalation.
    valid = await attack.post("valid code (alert A, advisor-a)", "127.0.0.20", "/v1/acks", code_a)
    assert valid.status_code == 200
    assert valid.json() == {"status": "acknowledged"}

    # 4. B: advisor-a acknowledges once advisor-b (step 2) has a code too; advisor-b's code is then
    # refused like any other; advisor-a sending the same code again is answered "acknowledged".
    # The step's channels are sent concurrently, and a notification still queued when its alert is
    # acknowledged is not sent: wait for both of advisor-b's messages before acknowledging B.
    await wait_until(lambda: bool(attack.sms("advisor-b", 2)), within=30, what="backup paged for B")
    await wait_until(
        lambda: attack.has_email("advisor-b", 2), within=30, what="backup's e-mail for B"
    )
    code_b_backup = attack.code("advisor-b", 2)
    used_codes.append(code_b_backup)
    first = await attack.post("valid code (alert B, advisor-a)", "127.0.0.21", "/v1/acks", code_b)
    assert first.json() == {"status": "acknowledged"}
    closed = await attack.post("advisor-b's code, B already acknowledged", "127.0.0.22",
                               "/v1/acks", code_b_backup)  # fmt: skip
    again = await attack.post("advisor-a's code again (a retry)", "127.0.0.21", "/v1/acks", code_b)
    assert again.status_code == 200
    assert again.json() == {"status": "acknowledged"}
    unknown_answer = await attack.post("an unknown code", "127.0.0.23", "/v1/acks", guess())
    malformed = await attack.post("a malformed code", "127.0.0.24", "/v1/acks", "K7Q2-M4XD-9B0O")
    assert closed.status_code == unknown_answer.status_code == malformed.status_code == 403
    assert closed.content == unknown_answer.content == malformed.content
    assert b"MS-2026" not in closed.content
    assert b"advisor" not in closed.content

    # Links: a forged one and advisor-b's for the closed alert get one page, naming nothing.
    link_b_backup = attack.link("advisor-b", 2)
    closed_link = await attack.post("advisor-b's link, B already acknowledged", "127.0.0.25",
                                    link_b_backup, None)  # fmt: skip
    forged = await attack.post("forged link", "127.0.0.25", link_b_backup[:-4] + "abcd", None)
    assert closed_link.status_code == forged.status_code == 403
    assert closed_link.content == forged.content
    assert b"MS-2026" not in closed_link.content

    # The escalation of A stopped: D's last step (head of service) has been sent, A's has not.
    await wait_until(lambda: bool(attack.sms("head", 4)), within=30, what="head paged for D")
    assert attack.sms("head", 1) == []
    assert attack.sms("advisor-b", 1) == []
    assert await attack.notified_after_ack(1) == 0, "a notification about A after its ack"

    # 5. The next window: many clients together spend the global failure budget; then even a
    # valid code waits (the price of the budget), but the signed link still acknowledges.
    attack.clock.advance(WINDOW)
    await wait_until(lambda: bool(attack.sms("head", 3)), within=30, what="head paged for C")
    code_c_head = attack.code("head", 3)
    used_codes.append(code_c_head)
    spent = [await attack.post("guesses from 16 clients, 2 each", f"127.0.1.{1 + n // 2}",
                               "/v1/acks", guess()) for n in range(32)]  # fmt: skip
    assert [answer.status_code for answer in spent] == [403] * 30 + [429] * 2
    locked = await attack.post("valid code (C, head) after the budget", "127.0.2.1", "/v1/acks",
                               code_c_head)  # fmt: skip
    assert locked.status_code == 429
    by_link = await attack.post("advisor-a's link for C", "127.0.2.1", attack.link("advisor-a", 3),
                                None)  # fmt: skip
    assert by_link.status_code == 200
    assert "is acknowledged" in by_link.text
    assert "MS-2026" not in by_link.text

    # 6. Past the codes' expiry (and in a fresh window): D is still open, its code is refused alike.
    attack.clock.advance(WINDOW)
    expired = await attack.post("expired code (D still open)", "127.0.2.2", "/v1/acks", code_d)
    assert expired.status_code == 403
    assert expired.content == closed.content
    assert (await attack.statuses())[case(4)] == "open"
    assert (await attack.statuses())[case(2)] == "acknowledged"

    # The log: refusals and limits are there, with no code and no client address.
    log = "\n".join(attack.log_lines)
    assert '"ack_refused"' in log
    assert '"ack_rate_limited"' in log
    leaked = [code for code in used_codes if code in log or code.replace("-", "") in log]
    assert not leaked, f"codes in the log: {leaked}"
    addresses = {address for _, address, _, _ in attack.table}
    assert not [a for a in addresses if re.search(re.escape(a) + r"(?![0-9])", log)]
    refusals = sum(1 for line in attack.log_lines if '"ack_refused"' in line)
    limited = sum(1 for line in attack.log_lines if '"ack_rate_limited"' in line)
    print(f"log: {refusals} ack_refused and {limited} ack_rate_limited lines, no code, no address")


async def test_a_colliding_code_is_drawn_again_never_dropped(
    attack: Attack, database_kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The generator is forced to give the SMS and the email of one step the same code: the
    second notification must get a fresh code, not vanish (ON CONFLICT DO NOTHING dropped it)."""
    real = domain.new_ack_code
    forced = iter(["AAAA-BBBB-CCCC", "AAAA-BBBB-CCCC", "AAAA-BBBB-CCCC"])
    drawn: list[str] = []

    def colliding() -> str:
        code = next(forced, None) or real()
        drawn.append(code)
        return code

    monkeypatch.setattr(escalating, "new_ack_code", colliding)
    await attack.publish(7)
    await wait_until(lambda: bool(attack.sms("advisor-a", 7)), within=30, what="SMS")
    await attack.smtp.inbox.wait_for(1, within=30)
    engine = create_engine(attack.database_url)
    try:
        async with engine.connect() as connection:
            rows = (
                await connection.execute(
                    sa.select(notifications.c.channel, notifications.c.ack_code).where(
                        notifications.c.step == 0
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    codes = {str(row.channel): str(row.ack_code) for row in rows}
    print(f"\ncollision ({database_kind}): drawn {drawn}; stored {codes}")
    assert set(codes) == {"sms", "email"}
    assert len(set(codes.values())) == 2
    assert any(json.loads(line).get("event") == "ack_code_collision" for line in attack.log_lines
               if line.startswith("{"))  # fmt: skip
