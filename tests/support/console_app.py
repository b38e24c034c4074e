"""The console's pages on a small app, without an identity provider: its own routers, error pages,
session store and CSRF check, in front of whatever `backends` reach (fakes, or a service's real
app over ASGI). A signed-in session is made directly in the store."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import cast

from fastapi import FastAPI

from services.console.backends import Backends
from services.console.oidc import OidcClient
from services.console.sessions import Session, SessionStore
from services.console.settings import ConsoleSettings
from services.console.web import Console, install_error_pages
from shared.staff_auth import StaffAuth, StaffRole

# A loopback origin: the console refuses any other public URL outside production settings.
ORIGIN = "http://127.0.0.1:8005"


@dataclass(frozen=True)
class ConsoleApp:
    app: FastAPI
    console: Console
    store: SessionStore

    def sign_in(self, person: str, token: str, *roles: StaffRole) -> Session:
        return self.store.create(person, frozenset(roles), token, None, None, 3600)


def console_app(backends: Backends, pages: Iterable[ModuleType]) -> ConsoleApp:
    """The console with the routers of `pages` (modules of services/console). Needs
    SAFEGUARDING_ENV and STAFF_OIDC_ISSUER set, as the console's settings do."""
    store = SessionStore(900, 36000)
    console = Console(
        ConsoleSettings(public_url=ORIGIN), store, cast(OidcClient, None), backends,
        cast(StaffAuth, None),
    )  # fmt: skip
    app = FastAPI()
    app.state.console = console
    install_error_pages(app)
    for module in pages:
        app.include_router(module.router)
    return ConsoleApp(app, console, store)
