"""Staff sign-in against a real OpenID provider: Keycloak issues the tokens (password grant of the
realm's test clients), the four services, run as real processes (`faststream run`,
tests/support/live.py) configured with Keycloak's issuer through STAFF_OIDC_*, verify them against
its JWKS; every request goes over real HTTP to the service's port. The forgeries are the
attack: our own RSA key under Keycloak's key id, `alg: none`, HS256 keyed with Keycloak's public
key, a real token with its roles edited. Each refusal must be the same 401 body, whatever the
reason; a signed-in person without the endpoint's role gets 403; casework keeps its rules (an
advisor sees own and unassigned tasks, another's task is a 404)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from deploy.keycloak import API_AUDIENCE, LocalKeycloak, password_grant
from services.intake.adapters.tables import vault_access_log
from services.meeting_scheduler.adapters.tables import staff_actions
from shared.clock import LONDON
from shared.events import AlertAcknowledgedV1
from shared.kafka import ensure_topics
from shared.staff_auth import NOT_PERMITTED, NOT_SIGNED_IN, Staff, StaffAuth, StaffOidcSettings
from shared.staff_tokens import JwksCache, TokenPolicy, TokenRefused, TokenVerifier
from shared.topics import ALERTS, REFERRALS
from tests.support import system
from tests.support.events import referral
from tests.support.http_gateway import RunningGateway
from tests.support.kafka import produce
from tests.support.live import LiveSystem
from tests.support.smtp import SmtpSink
from tests.support.waiting import eventually

pytestmark = pytest.mark.security

ROOT = Path(__file__).resolve().parents[2]
# RFC 9457 problem details (shared/problems.py): the same body from every service.
REFUSED = (401, {"type": "about:blank", "title": "Unauthorized", "status": 401,
                 "detail": NOT_SIGNED_IN})  # fmt: skip
FORBIDDEN = (403, {"type": "about:blank", "title": "Forbidden", "status": 403,
                   "detail": NOT_PERMITTED})  # fmt: skip
PEOPLE = ("advisor-day", "advisor-night", "head-of-service", "coordinator")
# One staff endpoint of each service; the head of service may use all four.
ENDPOINTS = {
    "casework": "/v1/tasks",
    "meeting_scheduler": "/v1/meetings",
    "intake": "/v1/cases/{case}/personal-data?purpose=checking+sign-in",
    "notifier": "/v1/alerts/no-such-alert",
}


@dataclass
class Setup:
    provider: LocalKeycloak
    clients: dict[str, httpx.AsyncClient]
    tokens: dict[str, str]
    case: str
    databases: dict[str, str]
    prefix: str
    tried: list[tuple[str, str, str, int, str]] = field(default_factory=list)

    async def call(
        self,
        what: str,
        service: str,
        path: str,
        token: str | None,
        method: str = "GET",
        **kwargs: Any,
    ) -> tuple[int, Any]:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        response = await self.clients[service].request(method, path, headers=headers, **kwargs)
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        shown = json.dumps(body)[:40] if isinstance(body, dict) else f"{type(body).__name__}…"
        self.tried.append(
            (what, service, f"{method} {path.split('?')[0]}", response.status_code, shown)
        )
        return response.status_code, body


def staff_env(issuer: str, smtp_port: int) -> dict[str, dict[str, str]]:
    """Each process's environment beyond LiveSystem's: Keycloak's issuer (STAFF_OIDC_*), and the
    shipped rota (deploy/config/rota.yaml), whose people are the realm's users, with its e-mail
    pointed at the test's SMTP sink; the configured static tokens are the in-process suite's."""
    oidc = {
        "STAFF_OIDC_ISSUER": issuer,
        "STAFF_OIDC_AUDIENCE": API_AUDIENCE,
        "STAFF_OIDC_LEEWAY_SECONDS": "0",
    }
    config = ROOT / "deploy" / "config"
    return {
        # Intake reads the roles from Keycloak's own claim, the others from the realm's `roles`.
        "intake": oidc | {"STAFF_OIDC_ROLES_CLAIM": "realm_access.roles"},
        "notifier": oidc | {
            "NOTIFIER_ROTA_FILE": str(config / "rota.yaml"),
            "NOTIFIER_ALERTING_FILE": str(config / "alerting.yaml"),
            "NOTIFIER_STAFF_TOKENS": json.dumps({"head-of-service": "test-token-head"}),
            "MAIL_SINK_PORT": str(smtp_port),
        },
        "casework": oidc | {
            "CASEWORK_ROTA_FILE": str(config / "rota.yaml"),
            "CASEWORK_STAFF_TOKENS": json.dumps(system.STAFF_TOKENS),
        },
        "meeting_scheduler": oidc,
    }  # fmt: skip


@pytest.fixture(scope="module")
async def setup(
    oidc_provider: LocalKeycloak, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Setup]:
    folder = tmp_path_factory.mktemp("security")
    prefix = f"t{uuid.uuid4().hex[:10]}."
    await ensure_topics(kafka_bootstrap, prefix)
    urls = {name: f"sqlite+aiosqlite:///{folder}/{name}.sqlite3" for name in ENDPOINTS}
    async with AsyncExitStack() as stack:
        gateway = await stack.enter_async_context(RunningGateway())
        smtp = stack.enter_context(SmtpSink())
        live = await stack.enter_async_context(
            LiveSystem(
                kafka_bootstrap, prefix, urls, folder / "live", gateway, smtp.port,
                extra_env=staff_env(oidc_provider.issuer, smtp.port),
            )
        )  # fmt: skip
        clients = {}
        for name in ENDPOINTS:
            clients[name] = await stack.enter_async_context(
                httpx.AsyncClient(base_url=live[name].url, timeout=30)
            )
        tokens = {
            person: await asyncio.to_thread(password_grant, oidc_provider, person)
            for person in PEOPLE
        }
        contact = (ROOT / "docs" / "examples" / "police-contact.v1.json").read_bytes()
        opened = await system.post_contact(clients["intake"], contact)
        assert opened.status_code == 202, opened.text
        yield Setup(oidc_provider, clients, tokens, opened.json()["case_reference"], urls, prefix)


def print_table(tried: list[tuple[str, str, str, int, str]]) -> None:
    print(f"{'what was tried':44} {'service':18} {'request':38} status  body")
    for what, service, request, status, body in tried:
        print(f"{what:44} {service:18} {request:38} {status:<6}  {body}")


# --- forgeries -----------------------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    return jwt.get_unverified_header(token), jwt.decode(token, options={"verify_signature": False})


def with_alg(header: dict[str, Any], claims: dict[str, Any], alg: str) -> str:
    return b64(json.dumps(header | {"alg": alg}).encode()) + "." + b64(json.dumps(claims).encode())


async def provider_public_pem(provider: LocalKeycloak, kid: str) -> bytes:
    async with httpx.AsyncClient() as client:
        jwks = (await client.get(f"{provider.issuer}/protocol/openid-connect/certs")).json()
    key = jwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == kid)).key
    pem: bytes = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem


async def bad_tokens(setup: Setup) -> dict[str, str | None]:
    """Every kind of token that must be refused, each built from the head of service's real one
    (the person every endpoint admits), so only the flaw under test stands between it and a 200."""
    real = setup.tokens["head-of-service"]
    header, claims = unverified(real)
    own_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signing_input = with_alg(header, claims, "HS256")
    public_pem = await provider_public_pem(setup.provider, header["kid"])
    hs256 = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    head, _, signature = real.split(".")
    promoted = claims | {"roles": [*claims["roles"], "meeting_coordinator"]}
    expiring = await asyncio.to_thread(
        password_grant, setup.provider, "head-of-service", "safeguarding-tests-expiring"
    )
    other_audience = await asyncio.to_thread(
        password_grant, setup.provider, "head-of-service", "safeguarding-tests-other-audience"
    )
    # The expiring client's tokens live 2 s: wait until this one's own expiry (whole seconds, and
    # the services allow no leeway) is half a second past, not a fixed 3.5 s.
    lifetime = unverified(expiring)[1]
    assert lifetime["exp"] - lifetime["iat"] <= 5, lifetime
    await asyncio.sleep(max(lifetime["exp"] + 0.5 - time.time(), 0.0))
    return {
        "no token": None,
        "not a JWT": "not-a-jwt",
        "expired (Keycloak-signed)": expiring,
        "other audience (Keycloak-signed)": other_audience,
        "own RSA key, Keycloak's kid": jwt.encode(
            claims, own_key, algorithm="RS256", headers={"kid": header["kid"]}
        ),
        "own RSA key, unknown kid": jwt.encode(
            claims, own_key, algorithm="RS256", headers={"kid": "rotated-" + uuid.uuid4().hex}
        ),
        "alg none": with_alg(header, claims, "none") + ".",
        "HS256 keyed with Keycloak's public key": signing_input + "." + b64(hs256),
        "real signature, roles edited": head + "." + b64(json.dumps(promoted).encode()) + "." + signature,
        "dev static token (test environment)": "dev-head-of-service",
    }  # fmt: skip


# --- tests ---------------------------------------------------------------------------------------


async def test_every_bad_token_gets_the_same_401_and_a_real_one_is_accepted(setup: Setup) -> None:
    tried = await bad_tokens(setup)
    answers: dict[tuple[str, str], tuple[int, Any]] = {}
    for what, token in tried.items():
        for service, path in ENDPOINTS.items():
            path = path.format(case=setup.case)
            answers[(what, service)] = await setup.call(what, service, path, token)
    for service, path in ENDPOINTS.items():
        path = path.format(case=setup.case)
        answers[("real token", service)] = await setup.call(
            "real token (head of service)", service, path, setup.tokens["head-of-service"]
        )
    print_table(setup.tried)
    refused = {key: answer for key, answer in answers.items() if key[0] != "real token"}
    assert set(map(json.dumps, refused.values())) == {json.dumps(REFUSED)}, refused
    accepted = {service: answers[("real token", service)][0] for service in ENDPOINTS}
    assert accepted == {"casework": 200, "meeting_scheduler": 200, "intake": 200, "notifier": 404}


async def test_the_person_and_role_come_from_the_token(setup: Setup) -> None:
    tokens = setup.tokens
    path = ENDPOINTS["intake"].format(case=setup.case)
    rules = [
        ("casework", "/v1/tasks", "advisor-day", 200),
        ("casework", "/v1/tasks", "coordinator", 403),
        ("meeting_scheduler", "/v1/meetings", "coordinator", 200),
        ("meeting_scheduler", "/v1/meetings", "head-of-service", 200),
        ("meeting_scheduler", "/v1/meetings", "advisor-day", 403),
        ("intake", path, "head-of-service", 200),
        ("intake", path, "advisor-day", 403),
        ("intake", path, "coordinator", 403),
        ("notifier", ENDPOINTS["notifier"], "advisor-night", 404),  # signed in; no such alert
        ("notifier", ENDPOINTS["notifier"], "coordinator", 403),
    ]
    setup.tried.clear()
    results = []
    for service, endpoint, person, expected in rules:
        status, body = await setup.call(f"role: {person}", service, endpoint, tokens[person])
        results.append((service, person, status, expected))
        if status == 403:
            assert body == FORBIDDEN[1]
    print_table(setup.tried)
    assert [r[2] for r in results] == [r[3] for r in results], results
    # The vault read is audited under the person id from the token's preferred_username.
    engine = sa.create_engine(setup.databases["intake"].replace("+aiosqlite", ""))
    with engine.connect() as connection:
        readers = {row.accessor for row in connection.execute(sa.select(vault_access_log))}
    engine.dispose()
    assert readers == {"head-of-service"}


async def test_casework_rules_with_real_tokens(setup: Setup, kafka_bootstrap: str) -> None:
    """advisor-night acknowledged case A and advisor-day case B: the tasks follow (an advisor
    sees their own and unassigned tasks, and another's is a 404)."""
    prefix = setup.prefix
    now = datetime.now(UTC)
    nights, days = "MS-2026-SECA01", "MS-2026-SECB01"  # night's, day's
    for reference, person in ((nights, "advisor-night"), (days, "advisor-day")):
        ack = AlertAcknowledgedV1(
            occurred_at=now, correlation_id="c", producer="notifier", alert_id=str(uuid.uuid4()),
            case_references=(reference,), person_id=person, via="link",
        )  # fmt: skip
        await produce(kafka_bootstrap, f"{prefix}{ALERTS.name}", ack.model_dump_json().encode())
    for reference in (nights, days):
        event = referral(reference, now)
        await produce(
            kafka_bootstrap, f"{prefix}{REFERRALS.name}", event.model_dump_json().encode()
        )
    tokens = setup.tokens

    async def visible(person: str) -> set[str]:
        _, body = await setup.call(f"list as {person}", "casework", "/v1/tasks", tokens[person])
        return {task["case_reference"] for task in body}

    async def assignees() -> set[tuple[str, str]]:
        _, body = await setup.call("list", "casework", "/v1/tasks", tokens["head-of-service"])
        return {(task["case_reference"], task["assignee"]) for task in body}

    expected = {(nights, "advisor-night"), (days, "advisor-day")}
    await eventually(
        assignees,
        lambda seen: {pair for pair in seen if pair[0] in (nights, days)} == expected,
        what="tasks assigned by the acks",
    )
    setup.tried.clear()
    night_sees = await visible("advisor-night")
    assert nights in night_sees
    assert days not in night_sees
    day_sees = await visible("advisor-day")
    assert days in day_sees
    assert nights not in day_sees
    _, listed = await setup.call("list", "casework", "/v1/tasks", tokens["head-of-service"])
    night_task = next(t["task_id"] for t in listed if t["case_reference"] == nights)
    checks = [
        ("advisor-day", "GET", f"/v1/tasks/{night_task}", None, 404),
        ("advisor-day", "POST", f"/v1/tasks/{night_task}/status", {"status": "in_progress"}, 404),
        ("advisor-night", "GET", f"/v1/tasks/{night_task}", None, 200),
        ("advisor-night", "POST", f"/v1/tasks/{night_task}/assignee", {"person_id": "head-of-service"}, 403),
        ("advisor-day", "POST", f"/v1/tasks/{night_task}/assignee", {"person_id": "advisor-day"}, 404),
        ("head-of-service", "POST", f"/v1/tasks/{night_task}/assignee", {"person_id": "advisor-day"}, 200),
        ("advisor-day", "GET", f"/v1/tasks/{night_task}", None, 200),
    ]  # fmt: skip
    for person, method, path, body, wanted in checks:
        status, _ = await setup.call(
            f"{person}", "casework", path, tokens[person], method, json=body
        )
        assert status == wanted, (person, method, path, status)
    _, history = await setup.call(
        "history", "casework", f"/v1/tasks/{night_task}/history", tokens["head-of-service"]
    )
    print_table(setup.tried)
    assert any(entry["actor"] == "head-of-service" for entry in history), history


async def test_sign_in_is_decided_before_the_body_is_read(setup: Setup) -> None:
    """No token, a bad one or the wrong role: 401/403 whatever the body, even one FastAPI could
    not parse; only a signed-in person with the role gets to a 422."""
    setup.tried.clear()
    bodies: dict[str, dict[str, Any]] = {
        "broken JSON": {"content": b"{not json"},
        "invalid body": {"json": {"x": 1}},
    }
    agenda = "/v1/meetings/nasn/2030-01-07/other-business"
    for service, path in (("casework", "/v1/tasks/t-1/status"), ("meeting_scheduler", agenda)):
        for label, token in (("no token", None), ("garbage token", "a.b.c")):
            for what, body in bodies.items():
                answer = await setup.call(f"{label}, {what}", service, path, token, "POST", **body)
                assert answer == REFUSED
    advisor, coordinator = setup.tokens["advisor-day"], setup.tokens["coordinator"]
    for what, body in bodies.items():
        answer = await setup.call(
            f"advisor, {what}", "meeting_scheduler", agenda, advisor, "POST", **body
        )
        assert answer == FORBIDDEN
        status, _ = await setup.call(
            f"coordinator, {what}", "meeting_scheduler", agenda, coordinator, "POST", **body
        )
        assert status == 422
    print_table(setup.tried)


async def test_agenda_edits_are_audited_under_the_tokens_person(setup: Setup) -> None:
    coordinator = setup.tokens["coordinator"]
    _, meetings = await setup.call("list", "meeting_scheduler", "/v1/meetings", coordinator)
    first = meetings[0]
    day = datetime.fromisoformat(first["starts_at"]).astimezone(LONDON).date().isoformat()
    path = f"/v1/meetings/{first['series_id']}/{day}/other-business"
    status, _ = await setup.call(
        "add other business", "meeting_scheduler", path, coordinator, "POST",
        json={"text": "Training on the new referral form"},
    )  # fmt: skip
    assert status == 204
    engine = sa.create_engine(setup.databases["meeting_scheduler"].replace("+aiosqlite", ""))
    with engine.connect() as connection:
        rows = connection.execute(sa.select(staff_actions)).all()
    engine.dispose()
    print([(row.person_id, row.action, row.subject) for row in rows])
    assert [(row.person_id, row.action) for row in rows] == [
        ("coordinator", "agenda.other_business")
    ]


def test_static_tokens_and_missing_provider_are_refused_outside_dev_and_test() -> None:
    """Staging and production: OpenID only, over https; dev tokens never."""
    https = StaffOidcSettings(issuer="https://login.example/realms/safeguarding")
    head = Staff("head-of-service", frozenset())
    with pytest.raises(ValueError, match="static staff tokens"):
        StaffAuth(https, static_tokens={"dev-head-of-service": head}, deployed=True)
    with pytest.raises(ValueError, match="STAFF_OIDC_ISSUER must be set"):
        StaffAuth(StaffOidcSettings(), deployed=True)
    with pytest.raises(ValueError, match="https"):
        StaffAuth(StaffOidcSettings(issuer="http://login.example/realms/s"), deployed=True)
    with pytest.raises(ValueError, match="STAFF_OIDC_ALGORITHMS"):
        StaffOidcSettings(issuer="https://login.example/r", algorithms=("HS256",))
    with pytest.raises(ValueError, match="STAFF_OIDC_ALGORITHMS"):
        StaffOidcSettings(issuer="https://login.example/r", algorithms=("none",))
    StaffAuth(https, deployed=True)  # OpenID over https, no static tokens: fine


async def test_unknown_key_ids_refetch_the_jwks_at_most_once_per_interval(setup: Setup) -> None:
    provider = setup.provider
    cache = JwksCache(None, issuer=provider.issuer, refetch_interval=30)
    verifier = TokenVerifier(TokenPolicy(provider.issuer, API_AUDIENCE), cache)
    claims = await verifier.claims(setup.tokens["coordinator"])
    assert claims["preferred_username"] == "coordinator"
    assert cache.fetches == 1
    own_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = [
        jwt.encode(claims, own_key, algorithm="RS256", headers={"kid": f"unknown-{n}"})
        for n in range(50)
    ]
    results = await asyncio.gather(*(verifier.claims(t) for t in forged), return_exceptions=True)
    assert all(isinstance(result, TokenRefused) for result in results)
    print(f"50 tokens with unknown key ids: {cache.fetches - 1} extra JWKS fetch(es)")
    assert cache.fetches == 1  # the last fetch was under 30 s ago: none of the 50 refetched
