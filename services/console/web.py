"""What every console page shares: the signed-in session, role checks, CSRF checks on every POST,
rendering with the layout, and the error pages.

Pages are server-rendered and work without JavaScript; htmx (where loaded) only swaps parts in."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from services.console.backends import BackendError, Backends, SignInExpired
from services.console.oidc import OidcClient, SignInFailed
from services.console.sessions import Session, SessionStore
from services.console.settings import ConsoleSettings
from shared.logging import get_logger
from shared.staff_auth import StaffAuth, StaffRole

log = get_logger(__name__)

TEMPLATES = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")
EVERYONE = tuple(StaffRole)
CASE_ROLES = (StaffRole.ADVISOR, StaffRole.HEAD_OF_SERVICE, StaffRole.VAULT_READER)
LONDON = ZoneInfo("Europe/London")


def parse_time(value: str | datetime | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def london(value: str | datetime | None, pattern: str = "%H:%M, %a %d %b") -> str:
    """A time as staff read it: London wall-clock time (GMT or BST), never UTC."""
    moment = parse_time(value)
    return moment.astimezone(LONDON).strftime(pattern) if moment else ""


def age(value: str | datetime | None, now: datetime | None = None) -> str:
    moment = parse_time(value)
    if moment is None:
        return ""
    minutes = int(((now or datetime.now(UTC)) - moment).total_seconds() // 60)
    if minutes < 1:
        return "under a minute"
    if minutes < 90:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h" if hours < 48 else f"{hours // 24} days"


def clock(value: str | datetime | None, now: datetime | None = None) -> str:
    """When something happened, as London wall-clock time: "14:03" today, "30 Nov 23:10" before.

    For a list the page polls (Now's open alerts). An age ("12 min") ticks over at each row's own
    second, so with a few dozen alerts open the list differed at almost every 2 s poll: it was
    replaced under the button a finger or keyboard was on, and a screen reader's live region read
    it all out again, though no alert had changed. A clock time changes only at midnight."""
    moment = parse_time(value)
    if moment is None:
        return ""
    local = moment.astimezone(LONDON)
    today = (now or datetime.now(UTC)).astimezone(LONDON).date()
    return f"{local:%H:%M}" if local.date() == today else f"{local.day} {local:%b %H:%M}"


TEMPLATES.env.filters["london"] = london
TEMPLATES.env.filters["age"] = age
TEMPLATES.env.filters["clock"] = clock


@dataclass
class Console:
    """The console's parts, built once by services/console/main.py."""

    settings: ConsoleSettings
    sessions: SessionStore
    oidc: OidcClient
    backends: Backends
    staff_auth: StaffAuth

    @property
    def cookie_name(self) -> str:
        # __Host-: the browser refuses it unless Secure, path=/ and no Domain, so no sibling
        # host can plant or read it. Plain http on loopback (dev, test) cannot use the prefix.
        return "__Host-console" if self.settings.secure_cookies else "console"

    @property
    def browser_cookie_name(self) -> str:
        return "__Host-console-signin" if self.settings.secure_cookies else "console-signin"

    @property
    def origin(self) -> str:
        parts = urlsplit(self.settings.public_url)
        return f"{parts.scheme}://{parts.netloc}"


class NeedsSignIn(Exception):
    def __init__(self, return_to: str) -> None:
        super().__init__("sign-in needed")
        self.return_to = return_to


class Forbidden(Exception):
    """The person is signed in but their role does not allow this page or action."""


class CsrfRefused(Exception):
    pass


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


async def current_session(request: Request) -> Session:
    console = console_of(request)
    session = console.sessions.get(request.cookies.get(console.cookie_name))
    if session is None:
        raise NeedsSignIn(_return_path(request))
    if console.sessions.needs_refresh(session):
        if session.refresh_token is None:
            console.sessions.end(session.id)
            raise NeedsSignIn(_return_path(request))
        try:
            tokens = await console.oidc.refresh(session.refresh_token)
        except SignInFailed as failed:
            log.info("session_refresh_failed", reason=str(failed))
            console.sessions.end(session.id)
            raise NeedsSignIn(_return_path(request)) from None
        console.sessions.refreshed(
            session, tokens.access_token, tokens.refresh_token, tokens.expires_in
        )
    request.state.session = session
    return session


SignedIn = Annotated[Session, Depends(current_session)]


def require(*roles: StaffRole) -> Callable[[Request], Coroutine[Any, Any, Session]]:
    """A dependency admitting a signed-in person with one of `roles` (others get a 403 page)."""

    async def admitted(request: Request) -> Session:
        session = await current_session(request)
        if not session.has(*roles):
            raise Forbidden()
        return session

    return admitted


async def csrf_checked(request: Request) -> None:
    """Every state-changing request: same-origin (Sec-Fetch-Site / Origin, where the browser sends
    them) and the session's synchronizer token, from the form or the X-CSRF-Token header (htmx).
    SameSite=Lax alone would still let a same-site sibling post; the token does not."""
    console = console_of(request)
    site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    # Origin is "null" on every form post here (the pages send no referrer), so only a named
    # origin can be compared; Sec-Fetch-Site, sent by every current browser, is the main check.
    if site not in (None, "same-origin", "none") or (
        origin and origin != "null" and origin != console.origin
    ):
        log.warning("csrf_refused", reason="cross-site", path=request.url.path)
        raise CsrfRefused()
    session: Session | None = getattr(request.state, "session", None)
    if session is None:
        session = await current_session(request)
    sent = request.headers.get("x-csrf-token")
    if sent is None:
        form = await request.form()
        value = form.get("csrf_token")
        sent = value if isinstance(value, str) else None
    if not sent or not secrets.compare_digest(sent.encode(), session.csrf_token.encode()):
        log.warning("csrf_refused", reason="token", path=request.url.path)
        raise CsrfRefused()


CsrfChecked = Depends(csrf_checked)


def nav_items(session: Session | None) -> list[tuple[str, str]]:
    if session is None:
        return []
    items = [("/now", "Now")]
    if session.has(StaffRole.ADVISOR, StaffRole.HEAD_OF_SERVICE):
        items += [("/tasks", "My tasks"), ("/directory", "Directory")]
    if session.has(StaffRole.HEAD_OF_SERVICE):
        items += [("/head", "Service"), ("/head/rota", "Rota"),
                  ("/head/calendar-import", "Calendar import"), ("/head/figures", "Figures"),
                  ("/reports", "Funder's reports")]  # fmt: skip
    if session.has(StaffRole.MEETING_COORDINATOR, StaffRole.HEAD_OF_SERVICE):
        items += [("/meetings", "Meetings"), ("/training", "Training")]
    return items


def page_context(
    request: Request, context: dict[str, Any] | None = None, *, take_flash: bool = True
) -> dict[str, Any]:
    session: Session | None = getattr(request.state, "session", None)
    return {
        "request": request,
        "session": session,
        "csrf_token": session.csrf_token if session else "",
        "nav": nav_items(session),
        "path": request.url.path,
        "poll_seconds": console_of(request).settings.poll_seconds,
        # A polled fragment (htmx) shows no banner: taking the messages there would swallow the
        # one meant for the page the browser is loading after a form post.
        "flash": session.take_flash() if session and take_flash and not is_htmx(request) else [],
        "may_open_cases": bool(session and session.has(*CASE_ROLES)),
        **(context or {}),
    }


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> HTMLResponse:
    page = page_context(request, context)
    return TEMPLATES.TemplateResponse(request, template, page, status_code=status)


SEEN_MARK = "__seen__"


def polled_fragment(request: Request, template: str, context: dict[str, Any]) -> tuple[str, str]:
    """A fragment a page polls for, and the digest of what it shows.

    The fragment carries its own digest in its polling URL (`?seen=` where the template writes
    `{{ seen }}`), so the next poll can be answered 204 when nothing changed and htmx leaves the
    page alone: a button is not replaced under a finger or a keyboard focus, and a screen reader's
    live region does not re-announce the same list every few seconds."""
    text = TEMPLATES.get_template(template).render(
        page_context(request, {**context, "seen": SEEN_MARK}, take_flash=False)
    )
    digest = hashlib.sha256(text.encode()).hexdigest()[:24]
    return text.replace(SEEN_MARK, digest), digest


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def see_other(request: Request, path: str) -> Response:
    """After a POST: a 303 to the page (a plain form), or HX-Redirect for an htmx request."""
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": path})
    return RedirectResponse(path, status_code=303)


def _return_path(request: Request) -> str:
    # Only a path of ours (never a full URL): an open redirect after sign-in is a phishing aid.
    path = request.url.path if request.method == "GET" else "/now"
    if request.method == "GET" and request.url.query and not path.startswith("/auth/"):
        path = f"{path}?{request.url.query}"
    return path


def safe_return(path: str | None) -> str:
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/now"
    return path


def error_page(request: Request, status: int, title: str, message: str) -> HTMLResponse:
    return render(request, "error.html", {"title": title, "message": message}, status)


def install_error_pages(app: FastAPI) -> None:
    @app.exception_handler(NeedsSignIn)
    async def needs_sign_in(request: Request, error: NeedsSignIn) -> Response:
        target = f"/auth/login?next={quote(error.return_to, safe='')}"
        if is_htmx(request):
            return Response(status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, error: Forbidden) -> Response:
        return error_page(
            request, 403, "You do not have access to this page",
            "Your account does not have the role this page needs. If you need it, ask the head "
            "of service.",
        )  # fmt: skip

    @app.exception_handler(CsrfRefused)
    async def csrf_refused(request: Request, error: CsrfRefused) -> Response:
        return error_page(
            request, 403, "The form could not be sent",
            "The form was out of date or came from another site. Go back, reload the page and "
            "try again.",
        )  # fmt: skip

    @app.exception_handler(SignInExpired)
    async def sign_in_expired(request: Request, error: SignInExpired) -> Response:
        console = console_of(request)
        console.sessions.end(request.cookies.get(console.cookie_name))
        response: Response = await needs_sign_in(request, NeedsSignIn(_return_path(request)))
        return response

    @app.exception_handler(BackendError)
    async def backend_error(request: Request, error: BackendError) -> Response:
        titles = {403: "You do not have access to this", 404: "Page not found",
                  409: "That change was not made", 422: "That change was not made"}  # fmt: skip
        status = error.status if error.status in titles else 503
        title = titles.get(status, "Sorry, there is a problem with the service")
        return error_page(request, status, title, error.message)
