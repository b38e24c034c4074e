"""The published OpenAPI documents tell the truth: Schemathesis, a third-party API fuzzer, runs
against the four live services (real processes, real Kafka, their own SQLite databases) with every
check it has (`--checks all`: undocumented statuses, response bodies and content types against
their schemas, schema-valid requests refused, schema-invalid requests accepted, the Allow header,
authentication ignored, ...), 25 s per service, signed in with staff tokens.

A failure fails the test unless ALLOWED below explains it. Each entry names the check and the
exact refusal (status and Problem detail), so an allowed case cannot hide a different failure.
`CONTRACT_SECONDS` changes the time per service (e.g. 120 for a longer soak before a release).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shared.problems import INVALID_REQUEST
from tests.support.databases import DatabaseUrls
from tests.support.http_gateway import RunningGateway
from tests.support.live import LIVE_STAFF_TOKENS, SERVICES, LiveSystem
from tests.support.smtp import SmtpSink

pytestmark = pytest.mark.contract

SECONDS = int(os.environ.get("CONTRACT_SECONDS", "25"))
# CONTRACT_SERVICES=notifier,casework runs those only (all four are started either way).
CHOSEN = tuple(os.environ.get("CONTRACT_SERVICES", ",".join(SERVICES)).split(","))
VAULT_READER_TOKEN = "test-token-vault-reader"
# Who each service's requests are signed in as: someone whose role reaches every operation.
TOKENS = {
    "intake": VAULT_READER_TOKEN,
    "notifier": LIVE_STAFF_TOKENS["head"],
    "casework": LIVE_STAFF_TOKENS["head"],
    # tests/support/live.py's head of service: every coordinator route, and the funder's report.
    "meeting_scheduler": "test-token-head",
}


@dataclass(frozen=True)
class Allowed:
    """A failure explained: which check, and the service's exact answer."""

    check: str
    status: int
    detail: str  # a regular expression the Problem's detail must match in full
    why: str


# Schema-valid requests that a service refuses for a reason no JSON schema can state: the answer
# depends on the data or on today's date, not on the shape of the request. Each is a 422 Problem
# with its own detail; the documents list these refusals in the 422 description of the operation.
ALLOWED = (
    Allowed(
        "positive_data_acceptance", 422, "NUL characters are not accepted",
        "PostgreSQL text cannot hold U+0000, so every service refuses it in any path, query or "
        "JSON string (shared/http_guards.py), the same on SQLite; JSON Schema cannot say 'any "
        "string but NUL' short of a pattern on every string of every document.",
    ),
    Allowed(
        "positive_data_acceptance", 422, "no such person in the rota",
        "casework: a task goes only to someone on the rota, which is data, not schema.",
    ),
    Allowed(
        "positive_data_acceptance", 422, "referred_on may not be in the future",
        "casework: depends on today's date.",
    ),
    Allowed(
        "positive_data_acceptance", 422,
        r"a financial year is two consecutive years, e\.g\. 2026-27"
        r"|\S+ ended before the project started",
        "casework: a quarter's name whose two years are not consecutive (2026-28) is beyond a "
        "plain pattern; a quarter before the project's start (configuration) has no figures.",
    ),
    Allowed(
        "positive_data_acceptance", 409, r"\S+ has not (ended|started) yet",
        "casework: a quarter is rebuilt once it has ended, read once it has started: today's "
        "date (services/casework/quarter_http.py).",
    ),
    Allowed(
        "positive_data_acceptance", 422, r"start must be from \S+ to \S+",
        "notifier: the rota is kept for a window around today.",
    ),
    Allowed(
        "positive_data_acceptance", 422,
        r"person_id is nobody on the rota"
        r"|starts_at and ends_at must be on the quarter hour \(London time\)"
        r"|ends_at must be after starts_at|the change would be over already"
        r"|a change may end at most \d+ days ahead"
        r"|\S+ is a \S+: cover is by an advisor or the head of service",
        "notifier: leave and cover name someone on the rota, on the quarter hour, within the "
        "window the rota is kept for (services/notifier/rota_changes.py).",
    ),
    Allowed(
        "positive_data_acceptance", 422,
        r"the text is not an iCalendar calendar|the text must hold exactly one VCALENDAR"
        r"|the calendar has more than \d+ leave and cover occurrences in the next \d+ days",
        "notifier: POST /v1/rota/imports takes text/calendar; that a string is an iCalendar "
        "calendar (RFC 5545) is beyond a schema (services/notifier/rota_calendar.py).",
    ),
    Allowed(
        "positive_data_acceptance", 422, "a learning theme may not name a case reference",
        "meeting scheduler: themes are free text checked for case references.",
    ),
    Allowed(
        "positive_data_acceptance", 422,
        "Value error, (an item's minutes need a decision or an action"
        "|each item \\(or the meeting as a whole\\) appears once"
        "|each organisation is listed once: present or apologies)",
        "meeting scheduler: minutes and attendance rules across fields "
        "(services/meeting_scheduler/minutes_api.py model validators).",
    ),
    Allowed(
        "positive_data_acceptance", 422,
        "an action is due between the meeting's date and a year after it",
        "meeting scheduler: depends on the meeting's date.",
    ),
)  # fmt: skip


@dataclass(frozen=True)
class Failure:
    service: str
    operation: str
    check: str
    status: int | None
    reasons: tuple[str, ...]  # the Problem's detail, then each error's message
    request: str

    def explained(self) -> Allowed | None:
        # An invalid request's detail is general; then each error's message must be allowed.
        texts = [text for text in self.reasons if text != INVALID_REQUEST] or self.reasons[:1]
        for allowed in ALLOWED:
            if (allowed.check, allowed.status) == (self.check, self.status) and all(
                re.fullmatch(allowed.detail, text) for text in texts
            ):
                return allowed
        return None

    def __str__(self) -> str:
        return (
            f"{self.service} {self.operation}: {self.check} "
            f"({self.status} {' | '.join(self.reasons)!r}) {self.request}"
        )


@pytest.fixture
async def live(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> AsyncIterator[LiveSystem]:
    databases = DatabaseUrls("sqlite", tmp_path, None)
    urls = {name: await databases.new(name) for name in SERVICES}
    readers = {"INTAKE_VAULT_READERS": json.dumps({"vault-reader": VAULT_READER_TOKEN})}
    async with RunningGateway() as gateway:
        with SmtpSink() as smtp:
            system = LiveSystem(
                kafka_bootstrap, topic_prefix, urls, tmp_path / "live", gateway, smtp.port,
                extra_env={"intake": readers},
            )  # fmt: skip
            async with system:
                yield system


async def test_every_answer_is_documented(live: LiveSystem, tmp_path: Path) -> None:
    failures: list[Failure] = []
    outputs: list[str] = []
    for name in CHOSEN:
        reports = tmp_path / "schemathesis" / name
        completed = await asyncio.to_thread(
            subprocess.run,
            [
                sys.executable, "-m", "schemathesis.cli", "run", f"{live[name].url}/openapi.json",
                "--checks", "all", "--max-time", str(SECONDS),
                # One worker: the machine is small, and Hypothesis's lambda-source cache is not
                # safe across threads (it raised "AST constructor recursion depth mismatch").
                "--workers", "1",
                "--header", f"Authorization: Bearer {TOKENS[name]}",
                "--report", "ndjson", "--report-dir", str(reports),
                "--generation-database", "none", "--no-color",
            ],
            capture_output=True, text=True, timeout=SECONDS + 120,
        )  # fmt: skip
        (tmp_path / f"schemathesis-{name}.txt").write_text(completed.stdout + completed.stderr)
        summary = completed.stdout[completed.stdout.rfind("= SUMMARY =") :]
        outputs.append(f"== {name} (exit {completed.returncode})\n{summary}")
        found = failures_in(name, next(reports.glob("*.ndjson")))
        assert completed.returncode == 0 or found, outputs[-1] + completed.stderr[-3000:]
        failures += found
    unexplained = [failure for failure in failures if failure.explained() is None]
    explained = sorted({str(f.explained().why) for f in failures if f.explained()})  # type: ignore[union-attr]
    print(f"schemathesis: {len(failures)} failures, {len(unexplained)} not in the allow-list")
    for why in explained:
        print(f"  allowed: {why}")
    report = "\n".join(map(str, unexplained)) + "\n\n" + "\n".join(outputs)
    assert not unexplained, f"{report}\nfull output: {tmp_path}/schemathesis-*.txt"


def failures_in(service: str, ndjson: Path) -> list[Failure]:
    """Every failed check of every case in a Schemathesis NDJSON report, with the response."""
    failures: list[Failure] = []
    for line in ndjson.read_text().splitlines():
        event = json.loads(line)
        finished = event.get("ScenarioFinished")
        if finished is None or finished.get("status") != "failure":
            continue
        recorder = finished["recorder"]
        for case_id, checks in recorder.get("checks", {}).items():
            for check in checks:
                if check.get("status") != "failure":
                    continue
                interaction = recorder.get("interactions", {}).get(case_id, {})
                failures.append(
                    Failure(
                        service, recorder.get("label", "?"), check["name"],
                        *_answer(interaction.get("response")),
                        _request(interaction.get("request")),
                    )
                )  # fmt: skip
    return failures


def _answer(response: dict[str, Any] | None) -> tuple[int | None, tuple[str, ...]]:
    if not response:
        return None, ("(no response)",)
    content = response.get("content") or {}
    raw = base64.b64decode(content["$base64"]) if "$base64" in content else b""
    try:
        body = json.loads(raw or content.get("string", "") or "null")
    except ValueError:
        body = None
    if not isinstance(body, dict) or "detail" not in body:
        return response.get("status_code"), (raw[:200].decode(errors="replace"),)
    reasons = [str(error.get("message")) for error in body.get("errors") or []]
    return response.get("status_code"), (str(body["detail"]), *reasons)


def _request(request: dict[str, Any] | None) -> str:
    return f"{request.get('method')} {request.get('uri')}" if request else ""
