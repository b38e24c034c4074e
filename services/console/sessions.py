"""Server-side sessions: the browser holds only a random session id in an HttpOnly, SameSite=Lax
cookie (Secure, with the __Host- prefix, over https); tokens never leave the server.

Held in the console's memory: one console process serves an organisation of a few dozen staff,
and a restart signs everyone out, which is the safe failure. Running several console processes
would need a shared store (see docs/deployment/console.md)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from shared.staff_auth import StaffRole

PENDING_SECONDS = 600  # a sign-in must come back from the provider within ten minutes
MAX_PENDING = 10_000  # bounds memory if someone starts sign-ins and never finishes them


@dataclass
class PendingSignIn:
    """What the callback must match: the state binds it to this browser's pre-sign-in cookie."""

    state: str
    browser: str
    verifier: str
    nonce: str
    return_to: str
    created: float


@dataclass
class Session:
    id: str
    person_id: str
    roles: frozenset[StaffRole]
    access_token: str
    refresh_token: str | None
    id_token: str | None
    access_expires: float
    created: float
    last_seen: float
    csrf_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    # Confirmations shown once on the next page ("Alert acknowledged"); never personal data.
    flash: list[str] = field(default_factory=list)
    # A calendar the head of service has checked (a dry run) and may now apply: its digest and
    # bytes, held until applied, replaced by the next upload, and gone with the session.
    pending_calendar: tuple[str, str, bytes] | None = None

    def take_flash(self) -> list[str]:
        messages, self.flash = self.flash, []
        return messages

    def has(self, *roles: StaffRole) -> bool:
        return bool(self.roles & set(roles))


class SessionStore:
    def __init__(
        self,
        idle_seconds: float,
        max_seconds: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.idle_seconds, self.max_seconds, self._now = idle_seconds, max_seconds, monotonic
        self._sessions: dict[str, Session] = {}
        self._pending: dict[str, PendingSignIn] = {}

    def begin(self, browser: str, verifier: str, nonce: str, return_to: str) -> PendingSignIn:
        self._expire_pending()
        if len(self._pending) >= MAX_PENDING:
            oldest = min(self._pending.values(), key=lambda item: item.created)
            del self._pending[oldest.state]
        pending = PendingSignIn(
            secrets.token_urlsafe(32), browser, verifier, nonce, return_to, self._now()
        )
        self._pending[pending.state] = pending
        return pending

    def finish(self, state: str, browser: str) -> PendingSignIn | None:
        """The pending sign-in for this state, once, and only for the browser that began it."""
        self._expire_pending()
        pending = self._pending.get(state)
        if pending is None or not secrets.compare_digest(pending.browser, browser):
            return None
        del self._pending[state]
        return pending

    def create(
        self,
        person_id: str,
        roles: frozenset[StaffRole],
        access_token: str,
        refresh_token: str | None,
        id_token: str | None,
        expires_in: int,
    ) -> Session:
        now = self._now()
        session = Session(
            secrets.token_urlsafe(32), person_id, roles, access_token, refresh_token, id_token,
            now + expires_in, now, now,
        )  # fmt: skip
        self._sessions[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        """The live session for this id (its idle clock restarted), or None once idle or too old."""
        if not session_id:
            return None
        session = self._sessions.get(session_id)
        if session is None:
            return None
        now = self._now()
        if now - session.last_seen > self.idle_seconds or now - session.created > self.max_seconds:
            del self._sessions[session_id]
            return None
        session.last_seen = now
        return session

    def end(self, session_id: str | None) -> Session | None:
        return self._sessions.pop(session_id, None) if session_id else None

    def needs_refresh(self, session: Session, margin: float = 30.0) -> bool:
        return self._now() > session.access_expires - margin

    def refreshed(
        self, session: Session, access_token: str, refresh_token: str | None, expires_in: int
    ) -> None:
        session.access_token = access_token
        session.refresh_token = refresh_token or session.refresh_token
        session.access_expires = self._now() + expires_in

    def _expire_pending(self) -> None:
        cutoff = self._now() - PENDING_SECONDS
        for state in [key for key, item in self._pending.items() if item.created < cutoff]:
            del self._pending[state]

    def __len__(self) -> int:
        return len(self._sessions)
