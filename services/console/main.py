"""The console's composition root.

uvicorn services.console.main:create_app --factory --host 127.0.0.1 --port 8005
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from deploy.frontend import asset_paths
from services.console import (
    alerts_page,
    calendar_import,
    cases,
    criminal_justice,
    directory,
    funder_reports,
    head,
    meetings,
    referrals,
    sign_in,
    tasks,
    training,
)
from services.console.backends import Backends
from services.console.metrics import ConsoleMetrics, RequestMetrics
from services.console.oidc import OidcClient
from services.console.sessions import SessionStore
from services.console.settings import ConsoleSettings
from services.console.web import TEMPLATES, Console, install_error_pages, render
from shared.app import add_metrics_route
from shared.http_guards import LocalClientsOnly, RefuseNulCharacters, SecurityHeaders
from shared.logging import configure_logging, route_library_loggers
from shared.staff_auth import StaffAuth
from shared.startup_heap import freeze_startup_heap

STATIC = __file__.rsplit("/", 1)[0] + "/static"


def page_policy(issuer: str) -> str:
    """Scripts and styles from the console only (no inline script, so no injected one runs);
    forms may post here, and the sign-out redirect may continue to the provider."""
    provider = "/".join(issuer.split("/")[:3])
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"font-src 'self'; connect-src 'self'; form-action 'self' {provider}; "
        "frame-ancestors 'none'; base-uri 'none'"
    )


def create_app(settings: ConsoleSettings | None = None) -> FastAPI:
    settings = settings or ConsoleSettings()
    configure_logging("console", settings.log_level, console=settings.console_logs())
    route_library_loggers()
    # httpx logs every URL it calls at INFO; a reveal's URL carries the typed purpose.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    issuer = settings.staff_oidc.issuer
    assert issuer is not None  # ConsoleSettings refuses to be built without one
    backends = Backends(
        {
            "intake": settings.intake_url,
            "notifier": settings.notifier_url,
            "casework": settings.casework_url,
            "meetings": settings.meetings_url,
        },
        settings.service_timeout_seconds,
    )
    sessions = SessionStore(settings.idle_minutes * 60, settings.session_hours * 3600)
    console = Console(
        settings,
        sessions,
        OidcClient(
            issuer,
            settings.client_id,
            settings.redirect_uri,
            client_secret=(
                settings.client_secret.get_secret_value() if settings.client_secret else None
            ),
            algorithms=settings.staff_oidc.algorithms,
        ),
        backends,
        # The same checks of the access token as every service makes (issuer, audience, roles).
        StaffAuth(settings.staff_oidc, deployed=not settings.environment.is_local),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        freeze_startup_heap()  # as every service does once started (shared/startup_heap.py)
        yield
        await backends.close()

    app = FastAPI(title="Safeguarding console", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)  # fmt: skip
    app.state.console = console
    assets = asset_paths()
    # Only the files a page loads: GOV.UK Frontend's CSS and JS, its images (the CSS asks for
    # them under /assets/images), htmx. The GOV.UK typeface is never asked for: console.css
    # sets the system font, as that typeface is for GOV.UK services only.
    app.mount("/static/govuk", StaticFiles(directory=assets.govuk_dist), name="govuk")
    app.mount(
        "/assets/images", StaticFiles(directory=assets.govuk_assets / "images"), name="images"
    )
    app.mount("/static/htmx", StaticFiles(directory=assets.htmx_js.parent), name="htmx")
    app.mount("/static/console", StaticFiles(directory=STATIC), name="console")
    install_error_pages(app)
    for module in (sign_in, alerts_page, tasks, referrals, cases, criminal_justice, directory,
                   head, calendar_import, funder_reports, meetings, training):  # fmt: skip
        app.include_router(module.router)

    @app.get("/", include_in_schema=False)
    async def home() -> Response:
        return RedirectResponse("/now", status_code=303)

    @app.get("/signed-out", include_in_schema=False)
    async def signed_out(request: Request) -> Response:
        return render(request, "signed_out.html")

    metrics = ConsoleMetrics(settings.metrics_enabled, lambda: len(sessions))
    add_metrics_route(app, metrics, settings.metrics_token, settings.environment)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> dict[str, str]:
        return {"status": "ready"}

    if metrics.enabled:
        app.add_middleware(RequestMetrics, metrics=metrics)
    app.add_middleware(SecurityHeaders, page_policy=page_policy(issuer))
    app.add_middleware(RefuseNulCharacters)
    if settings.environment.is_local:
        app.add_middleware(LocalClientsOnly)
    TEMPLATES.env.globals["service_name"] = "Safeguarding console"
    return app
