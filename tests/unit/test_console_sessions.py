"""The console's server-side sessions and sign-in pieces, without a network: idle and hard limits
on a fake clock, pending sign-ins that finish once and only in the browser that began them, PKCE
as RFC 7636 defines it, the return path after sign-in, and the CSRF check on a small app."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.console import sessions as sessions_module
from services.console.backends import Backends
from services.console.oidc import OidcClient, pkce_pair
from services.console.sessions import PENDING_SECONDS, SessionStore
from services.console.settings import ConsoleSettings
from services.console.web import Console, CsrfChecked, install_error_pages, safe_return
from shared.staff_auth import StaffAuth, StaffRole

IDLE, MAXIMUM = 15 * 60.0, 10 * 3600.0
ADVISOR = frozenset({StaffRole.ADVISOR})


class FakeClock:
    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(clock: FakeClock) -> SessionStore:
    return SessionStore(IDLE, MAXIMUM, monotonic=clock)


def open_session(store: SessionStore) -> str:
    return store.create("advisor-day", ADVISOR, "access", "refresh", "id-token", 300).id


# Sessions ------------------------------------------------------------------------------------


def test_a_new_session_is_found_by_its_id(store: SessionStore) -> None:
    session_id = open_session(store)
    found = store.get(session_id)
    assert found is not None
    assert (found.person_id, found.roles, found.access_token) == ("advisor-day", ADVISOR, "access")
    assert store.get("another-id") is None
    assert store.get(None) is None
    assert store.get("") is None


def test_session_ids_and_csrf_tokens_are_random_and_distinct(store: SessionStore) -> None:
    first, second = (store.create("p", ADVISOR, "a", None, None, 60) for _ in range(2))
    assert first.id != second.id
    assert first.csrf_token != second.csrf_token
    assert len(first.id) >= 43
    assert len(first.csrf_token) >= 43


def test_idle_timeout_ends_a_session(store: SessionStore, clock: FakeClock) -> None:
    session_id = open_session(store)
    clock.advance(IDLE + 1)
    assert store.get(session_id) is None
    assert len(store) == 0
    clock.advance(-IDLE)  # gone for good, not merely hidden while idle
    assert store.get(session_id) is None


def test_a_session_at_the_idle_limit_is_still_live(store: SessionStore, clock: FakeClock) -> None:
    session_id = open_session(store)
    clock.advance(IDLE)
    assert store.get(session_id) is not None


def test_activity_extends_a_session(store: SessionStore, clock: FakeClock) -> None:
    session_id = open_session(store)
    for _ in range(5):  # five idle periods in all, each visit inside the limit
        clock.advance(IDLE - 1)
        assert store.get(session_id) is not None
    clock.advance(IDLE + 1)
    assert store.get(session_id) is None


def test_the_hard_maximum_ends_a_busy_session(store: SessionStore, clock: FakeClock) -> None:
    session_id = open_session(store)
    elapsed = 0.0
    while elapsed + 600 <= MAXIMUM:
        clock.advance(600)  # a visit every ten minutes, never idle
        elapsed += 600
        assert store.get(session_id) is not None, f"ended early, after {elapsed} s"
    clock.advance(601)
    assert store.get(session_id) is None


def test_ending_a_session_removes_it(store: SessionStore) -> None:
    session_id = open_session(store)
    ended = store.end(session_id)
    assert ended is not None
    assert ended.id == session_id
    assert store.get(session_id) is None
    assert store.end(session_id) is None
    assert store.end(None) is None


def test_refresh_is_due_shortly_before_the_access_token_expires(
    store: SessionStore, clock: FakeClock
) -> None:
    session = store.create("p", ADVISOR, "a", "r", None, 300)
    clock.advance(300 - 31)
    assert not store.needs_refresh(session)
    clock.advance(2)
    assert store.needs_refresh(session)
    store.refreshed(session, "a2", None, 300)
    assert (session.access_token, session.refresh_token) == ("a2", "r")  # kept when not rotated
    assert not store.needs_refresh(session)


def test_flash_messages_are_shown_once(store: SessionStore) -> None:
    session = store.create("p", ADVISOR, "a", None, None, 60)
    session.flash.append("Alert acknowledged")
    assert session.take_flash() == ["Alert acknowledged"]
    assert session.take_flash() == []


# Pending sign-ins ----------------------------------------------------------------------------


def test_a_pending_sign_in_finishes_once(store: SessionStore) -> None:
    pending = store.begin("browser-1", "verifier", "nonce", "/tasks")
    finished = store.finish(pending.state, "browser-1")
    assert finished is not None
    assert (finished.verifier, finished.nonce, finished.return_to) == (
        "verifier",
        "nonce",
        "/tasks",
    )
    assert store.finish(pending.state, "browser-1") is None  # a replayed callback


def test_a_pending_sign_in_finishes_only_in_the_browser_that_began_it(store: SessionStore) -> None:
    pending = store.begin("browser-1", "verifier", "nonce", "/now")
    assert store.finish(pending.state, "browser-2") is None
    assert store.finish(pending.state, "") is None
    # A wrong browser does not use it up: the right one can still finish.
    assert store.finish(pending.state, "browser-1") is not None


def test_an_unknown_state_finishes_nothing(store: SessionStore) -> None:
    store.begin("browser-1", "verifier", "nonce", "/now")
    assert store.finish("x", "browser-1") is None
    assert store.finish("", "browser-1") is None


def test_states_are_random(store: SessionStore) -> None:
    states = {store.begin("b", "v", "n", "/now").state for _ in range(50)}
    assert len(states) == 50
    assert all(len(state) >= 43 for state in states)


def test_a_pending_sign_in_expires_after_ten_minutes(store: SessionStore, clock: FakeClock) -> None:
    assert PENDING_SECONDS == 600
    in_time = store.begin("browser-1", "v", "n", "/now")
    late = store.begin("browser-2", "v", "n", "/now")
    clock.advance(600)
    assert store.finish(in_time.state, "browser-1") is not None  # at the limit: still in time
    clock.advance(1)
    assert store.finish(late.state, "browser-2") is None


def test_pending_sign_ins_are_bounded(
    store: SessionStore, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sessions_module, "MAX_PENDING", 5)
    begun = []
    for number in range(8):
        begun.append(store.begin(f"browser-{number}", "v", "n", "/now"))
        clock.advance(1)
    # The oldest three made room for the newest; the five newest still finish.
    assert [store.finish(p.state, p.browser) is not None for p in begun] == [False] * 3 + [True] * 5


def test_the_shipped_pending_bound_is_in_the_thousands() -> None:
    assert 1_000 <= sessions_module.MAX_PENDING <= 100_000


# PKCE (RFC 7636) -----------------------------------------------------------------------------


def s256(verifier: str) -> str:
    """BASE64URL-ENCODE(SHA256(ASCII(code_verifier))), without padding: RFC 7636 section 4.2."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


# RFC 7636 Appendix B: the 32 random octets, the verifier (their base64url) and its challenge.
RFC_OCTETS = bytes([116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186,
                    22, 212, 37, 77, 105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121])  # fmt: skip
RFC_VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
RFC_CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_the_s256_rule_gives_rfc_7636_appendix_b() -> None:
    # The rule above is the RFC's, so holding pkce_pair to it holds pkce_pair to the RFC.
    assert base64.urlsafe_b64encode(RFC_OCTETS).decode().rstrip("=") == RFC_VERIFIER
    assert s256(RFC_VERIFIER) == RFC_CHALLENGE


def test_pkce_pair_computes_the_rfc_example(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the RFC's random octets in place of fresh ones, pkce_pair gives the RFC's pair."""

    def rfc_token_urlsafe(nbytes: int) -> str:
        assert nbytes == 32
        return base64.urlsafe_b64encode(RFC_OCTETS).decode().rstrip("=")

    monkeypatch.setattr("services.console.oidc.secrets.token_urlsafe", rfc_token_urlsafe)
    assert pkce_pair() == (RFC_VERIFIER, RFC_CHALLENGE)


def test_pkce_pair_gives_a_verifier_and_its_s256_challenge() -> None:
    pairs = [pkce_pair() for _ in range(20)]
    for verifier, challenge in pairs:
        # 43 to 128 characters of the unreserved set (RFC 7636 section 4.1).
        assert re.fullmatch(r"[A-Za-z0-9\-._~]{43,128}", verifier), verifier
        assert challenge == s256(verifier)
        assert "=" not in challenge
        assert len(challenge) == 43
    assert len({verifier for verifier, _ in pairs}) == len(pairs)


# The return path after sign-in ---------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/now", "/tasks", "/cases/MS-2026-7KQ2M4", "/meetings/weekly/2026-03-05?x=1"]
)
def test_safe_return_keeps_a_path_of_ours(path: str) -> None:
    assert safe_return(path) == path


@pytest.mark.parametrize(
    "path",
    [None, "", "https://evil.example/", "http://evil.example/now", "//evil.example/now",
     "/\\evil.example", "\\\\evil.example", "/now\\..\\x", "javascript:alert(1)", "now",
     "evil.example/now"],
)  # fmt: skip
def test_safe_return_refuses_anything_else(path: str | None) -> None:
    assert safe_return(path) == "/now"


# The CSRF check, on a small app with the console's own dependency and error pages -------------

CONSOLE_ORIGIN = "http://127.0.0.1:8005"


@pytest.fixture
def csrf_app(monkeypatch: pytest.MonkeyPatch) -> tuple[TestClient, str, str]:
    """A client holding a live session's cookie, that session's CSRF token, and the app."""
    monkeypatch.setenv("SAFEGUARDING_ENV", "test")
    monkeypatch.setenv("STAFF_OIDC_ISSUER", "http://127.0.0.1:8080/realms/safeguarding")
    settings = ConsoleSettings(public_url=CONSOLE_ORIGIN)
    store = SessionStore(IDLE, MAXIMUM)
    # The check uses the settings and sessions only; the other parts are never reached.
    console = Console(
        settings, store, cast(OidcClient, None), cast(Backends, None), cast(StaffAuth, None)
    )
    app = FastAPI()
    app.state.console = console
    install_error_pages(app)

    @app.post("/change", dependencies=[CsrfChecked])
    async def change() -> dict[str, str]:
        return {"changed": "yes"}

    session = store.create("advisor-day", ADVISOR, "a", None, None, 3600)
    client = TestClient(app, base_url=CONSOLE_ORIGIN, follow_redirects=False)
    client.cookies.set(console.cookie_name, session.id)
    return client, session.csrf_token, console.cookie_name


def test_csrf_accepts_the_sessions_token_in_the_form(csrf_app: tuple[TestClient, str, str]) -> None:
    client, token, _ = csrf_app
    answer = client.post(
        "/change", data={"csrf_token": token},
        headers={"Sec-Fetch-Site": "same-origin", "Origin": CONSOLE_ORIGIN},
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"changed": "yes"}


def test_csrf_accepts_the_token_in_the_htmx_header(csrf_app: tuple[TestClient, str, str]) -> None:
    client, token, _ = csrf_app
    answer = client.post("/change", headers={"X-CSRF-Token": token, "Origin": "null"})
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize(
    "form",
    [{}, {"csrf_token": ""}, {"csrf_token": "not-the-token"}],
    ids=["none", "empty", "wrong"],
)
def test_csrf_refuses_a_missing_or_wrong_token(
    csrf_app: tuple[TestClient, str, str], form: dict[str, str]
) -> None:
    client, _, _ = csrf_app
    answer = client.post("/change", data=form, headers={"Sec-Fetch-Site": "same-origin"})
    assert answer.status_code == 403
    assert "The form could not be sent" in answer.text
    assert "changed" not in answer.text


def test_csrf_refuses_another_sessions_token(csrf_app: tuple[TestClient, str, str]) -> None:
    client, _, _ = csrf_app
    console = cast(Console, client.app.state.console)  # type: ignore[attr-defined]
    other = console.sessions.create("advisor-night", ADVISOR, "a", None, None, 3600)
    answer = client.post("/change", data={"csrf_token": other.csrf_token})
    assert answer.status_code == 403


@pytest.mark.parametrize(
    "headers",
    [{"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
     {"Origin": "http://localhost:8005"}, {"Origin": "https://evil.example"}],
    ids=["cross-site", "same-site-sibling", "other-origin-localhost", "other-origin"],
)  # fmt: skip
def test_csrf_refuses_another_site_even_with_the_right_token(
    csrf_app: tuple[TestClient, str, str], headers: dict[str, str]
) -> None:
    client, token, _ = csrf_app
    answer = client.post("/change", data={"csrf_token": token}, headers=headers)
    assert answer.status_code == 403
    assert "The form could not be sent" in answer.text


def test_a_post_without_a_session_is_sent_to_sign_in(
    csrf_app: tuple[TestClient, str, str],
) -> None:
    client, token, cookie = csrf_app
    client.cookies.delete(cookie)
    answer = client.post("/change", data={"csrf_token": token})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/auth/login?next=%2Fnow"
