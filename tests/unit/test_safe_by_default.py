"""Safe by default: no default environment, dev secrets in dev only, strict keys, no development
stand-ins (loopback, insecure mail, plain-HTTP webhooks, http links, plaintext Kafka) outside dev
and test, and `python -m deploy.check` saying all of it before anything starts."""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from deploy import check
from services.notifier.settings import NotifierSettings
from shared.event_signing import public_key_of
from shared.http_guards import LocalClientsOnly
from shared.rota import Rota, duty_periods, load_rota, safety_problems
from shared.safety import (
    DEV_ACK_SECRET,
    DEV_POLICE_KEY,
    DEV_VAULT_KEY,
    SERVICES,
    channel_problem,
    decode_key,
    is_dev_secret,
    public_url_problem,
)
from tests.support.signing import event_settings

ROOT = Path(__file__).resolve().parents[2]
KEY = base64.b64encode(bytes(range(32))).decode()
POSTGRES = "postgresql+asyncpg://svc@db.internal/svc"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(
            (
                "INTAKE_",
                "NOTIFIER_",
                "CASEWORK_",
                "MEETINGS_",
                "KAFKA_",
                "SAFEGUARDING_",
                "EVENT_",
                "STAFF_",
            )
        ):
            monkeypatch.delenv(name)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("", "at least 32 bytes"),
        (base64.b64encode(bytes(31)).decode(), "at least 32 bytes"),
        (KEY + "\n", "not strict base64"),
        (KEY[:-1] + "$", "not strict base64"),
        (KEY.rstrip("="), "not strict base64"),
        # The same 32 bytes with non-zero trailing bits: decodes, but is not the canonical form.
        (KEY[:-2] + "F=", "not canonical"),
    ],
)
def test_weak_or_lax_keys_are_refused(value: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        decode_key("K", value)


def test_a_strict_32_byte_key_is_accepted() -> None:
    assert decode_key("K", KEY) == bytes(range(32))


@pytest.mark.parametrize(
    "value",
    [DEV_VAULT_KEY, DEV_POLICE_KEY, DEV_ACK_SECRET, "dev-coordinator",
     base64.b64encode(b"dev-only-some-other-secret-00000").decode()],
)  # fmt: skip
def test_every_published_dev_secret_is_recognised(value: str) -> None:
    assert is_dev_secret(value)


def test_a_real_secret_is_not_mistaken_for_a_dev_one() -> None:
    assert not is_dev_secret(KEY)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("mailto://127.0.0.1:1025?from=a@x.org&to=b@x.org&mode=insecure", "mode=insecure"),
        ("mailto://localhost:25?from=a@x.org&to=b@x.org", "loopback"),
        ("json://[::1]:8080/sms", "loopback"),
        ("json://gateway.example.org/sms", "plain-HTTP webhook"),
        ("mailtos://smtp.example.org?from=a@x.org&to=b@x.org&mode=INSECURE", "mode=insecure"),
    ],
)
def test_development_stand_in_channels_are_named(url: str, why: str) -> None:
    problem = channel_problem(url)
    assert problem is not None
    assert why in problem


@pytest.mark.parametrize(
    "url",
    ["jsons://gateway.example.org/sms", "mailtos://user:pw@smtp.example.org?to=b@x.org",
     "twilio://sid:token@15551234567/15557654321"],
)  # fmt: skip
def test_real_channels_pass(url: str) -> None:
    assert channel_problem(url) is None


@pytest.mark.parametrize(
    ("url", "fit"),
    [("http://alerts.example.org", False), ("https://127.0.0.1:8002", False),
     ("https://localhost", False), ("https://alerts.example.org", True)],
)  # fmt: skip
def test_public_urls_must_be_https_and_not_loopback(url: str, fit: bool) -> None:
    assert (public_url_problem(url) is None) is fit


def rota(people: list[dict[str, Any]], last_resort: str = "head") -> Rota:
    return Rota.model_validate(
        {"people": people, "last_resort": last_resort,
         "weekly": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00",
                     "person": "advisor"}]}
    )  # fmt: skip


def test_a_person_paged_for_immediate_alerts_needs_a_phone_channel() -> None:
    email_only = rota(
        [{"id": "advisor", "role": "advisor", "channels": {"email": "mailtos://s.example.org?to=a@x.org"}},
         {"id": "head", "role": "head_of_service", "channels": {"sms": "jsons://g.example.org/h"}},
         {"id": "coordinator", "role": "meeting_coordinator",
          "channels": {"email": "mailtos://s.example.org?to=c@x.org"}}]
    )  # fmt: skip
    assert safety_problems(email_only) == [
        "advisor: can be paged for an immediate alert but has no sms or voice channel"
    ]


def test_the_shipped_dev_rota_is_unfit_outside_dev_and_says_why_without_urls() -> None:
    problems = safety_problems(load_rota(ROOT / "deploy" / "config" / "rota.yaml", environ={}))
    assert "advisor-day: email channel: mode=insecure sends without TLS" in problems
    assert (
        "advisor-day: can be paged for an immediate alert but has no sms or voice channel"
        in problems
    )
    assert "coordinator: can be paged" not in " ".join(problems)  # e-mail is right for them
    assert not any("127.0.0.1" in problem or "mailto" in problem for problem in problems)


def test_duty_periods_follow_shift_boundaries_and_mark_gaps() -> None:
    people: list[dict[str, Any]] = [{"id": "advisor", "role": "advisor", "channels": {"sms": "jsons://g.example.org/a"}},
              {"id": "head", "role": "head_of_service", "channels": {"sms": "jsons://g.example.org/h"}}]  # fmt: skip
    # Friday 4 December 2026, GMT (UTC+0): on duty 09:00–17:00, then a gap until Monday 09:00.
    start = datetime(2026, 12, 4, 8, 7, tzinfo=UTC)
    end = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    periods = [
        (a.strftime("%a %H:%M"), b.strftime("%a %H:%M"), p.id if p else None)
        for a, b, p in duty_periods(rota(people), start, end)
    ]
    assert periods == [
        ("Fri 08:07", "Fri 09:00", None),
        ("Fri 09:00", "Fri 17:00", "advisor"),
        ("Fri 17:00", "Mon 09:00", None),
        ("Mon 09:00", "Mon 10:00", "advisor"),
    ]


def test_notifier_refuses_http_links_outside_dev_and_test() -> None:
    common: dict[str, Any] = {"SAFEGUARDING_ENV": "production", "database_url": POSTGRES, "ack_secret": KEY,
              "KAFKA_SECURITY": "ssl", **event_settings("notifier"),
              "staff_oidc": {"issuer": "https://login.example.org/realms/s"},
              "heartbeat_urls": ["jsons://sms.example.org/heartbeat"],
              "operator_urls": ["mailtos://ops:pw@smtp.ops.example.net?to=oncall@example.net"]}  # fmt: skip
    with pytest.raises(ValidationError, match="NOTIFIER_PUBLIC_URL must be https"):
        NotifierSettings(**common, public_url="http://alerts.example.org")
    assert NotifierSettings(**common, public_url="https://alerts.example.org")


def test_notifier_refuses_a_short_ack_secret_in_every_environment() -> None:
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        NotifierSettings(SAFEGUARDING_ENV="dev", ack_secret=base64.b64encode(b"short").decode())


async def test_dev_and_test_serve_this_machine_only() -> None:
    app = LocalClientsOnly(Starlette(routes=[Route("/", lambda _: PlainTextResponse("hello"))]))
    answers = {}
    for client in ("127.0.0.1", "::1", "10.1.2.3", "192.0.2.7"):
        transport = httpx.ASGITransport(app=app, client=(client, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://s") as http:
            answers[client] = (await http.get("/")).status_code
    assert answers == {"127.0.0.1": 200, "::1": 200, "10.1.2.3": 403, "192.0.2.7": 403}


def fit_production(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    gateway = "jsons://gateway.example.org/{}"
    people = [
        {"id": "advisor-day", "role": "advisor", "channels": {"sms": gateway.format("a")}},
        {"id": "head-of-service", "role": "head_of_service", "channels": {"voice": gateway.format("h")}},
        {"id": "coordinator", "role": "meeting_coordinator",
         "channels": {"email": "mailtos://smtp.example.org?to=c@example.org"}},
    ]  # fmt: skip
    rota_file = tmp_path / "rota.yaml"
    rota_file.write_text(json.dumps({
        "people": people, "last_resort": "head-of-service",
        "weekly": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00",
                    "person": "advisor-day"}],
    }))  # fmt: skip
    other_key = base64.b64encode(bytes(range(1, 33))).decode()
    seeds = {service: bytes([n]) * 32 for n, service in enumerate(SERVICES, 7)}
    public = {service: {f"{service}-1": public_key_of(seed)} for service, seed in seeds.items()}
    monkeypatch.setenv("EVENT_PUBLIC_KEYS", json.dumps(public))
    monkeypatch.setenv("STAFF_OIDC_ISSUER", "https://login.example.org/realms/safeguarding")
    for prefix, service in (("INTAKE", "intake"), ("NOTIFIER", "notifier"),
                            ("CASEWORK", "casework"), ("MEETINGS", "meeting_scheduler")):  # fmt: skip
        monkeypatch.setenv(f"{prefix}_EVENT_SIGNING_KEY_ID", f"{service}-1")
        monkeypatch.setenv(f"{prefix}_EVENT_SIGNING_KEY", base64.b64encode(seeds[service]).decode())
    for name, value in {
        "SAFEGUARDING_ENV": "production", "KAFKA_SECURITY": "ssl",
        "INTAKE_DATABASE_URL": POSTGRES, "INTAKE_VAULT_KEY": KEY,
        "INTAKE_POLICE_KEYS": json.dumps({"police-1": other_key}),
        "NOTIFIER_DATABASE_URL": POSTGRES, "NOTIFIER_ACK_SECRET": other_key,
        "NOTIFIER_PUBLIC_URL": "https://alerts.example.org", "NOTIFIER_ROTA_FILE": str(rota_file),
        "NOTIFIER_HEARTBEAT_URLS": json.dumps(["jsons://gateway.example.org/heartbeat"]),
        "NOTIFIER_OPERATOR_URLS": json.dumps(["mailtos://ops:pw@smtp.ops.example.net?to=oncall@example.net"]),
        "CASEWORK_DATABASE_URL": POSTGRES, "CASEWORK_ROTA_FILE": str(rota_file),
        "MEETINGS_DATABASE_URL": POSTGRES,
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)


def test_check_passes_a_fit_production_environment_and_prints_the_rota_with_gaps(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fit_production(monkeypatch, tmp_path)
    monkeypatch.chdir(ROOT)  # the default casework and meeting config paths are relative
    status = check.main(["--days", "14"])
    out = capsys.readouterr().out
    assert status == 0, out
    for service in ("intake", "notifier", "casework", "meeting_scheduler"):
        assert f"{service}: fit" in out
    assert "fit to start" in out
    assert "on duty for the next 14 days (Europe/London):" in out
    assert "advisor-day" in out
    assert "GAP: nobody on duty, alerts go to head-of-service" in out  # evenings and weekends


def test_check_names_every_problem_without_printing_a_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fit_production(monkeypatch, tmp_path)
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("KAFKA_SECURITY", "plaintext")
    monkeypatch.setenv("NOTIFIER_ACK_SECRET", DEV_ACK_SECRET)
    monkeypatch.setenv("STAFF_OIDC_ISSUER", "http://login.example.org/realms/safeguarding")
    monkeypatch.setenv("CASEWORK_STAFF_TOKENS", json.dumps({"advisor-day": "handed-out-token-1"}))
    monkeypatch.setenv("NOTIFIER_ROTA_FILE", str(ROOT / "deploy" / "config" / "rota.yaml"))
    monkeypatch.setenv("INTAKE_POLICE_KEYS", json.dumps({"p": base64.b64encode(b"short").decode()}))
    status = check.main(["--days", "1"])
    out = capsys.readouterr().out
    assert status == 1
    assert "KAFKA_SECURITY=plaintext is for dev and test only" in out
    assert "NOTIFIER_ACK_SECRET holds a public dev secret" in out
    assert "INTAKE_POLICE_KEYS[p]: a key must be at least 32 bytes" in out
    assert "STAFF_OIDC_ISSUER and STAFF_OIDC_JWKS_URL must be https" in out
    assert "CASEWORK_STAFF_TOKENS: static staff tokens are for dev and test only" in out
    assert DEV_ACK_SECRET not in out
    assert "handed-out-token-1" not in out
    assert base64.b64encode(b"short").decode() not in out


def test_check_refuses_a_missing_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(ROOT)
    assert check.main(["--days", "1"]) == 1
    assert "SAFEGUARDING_ENV is required" in capsys.readouterr().out
