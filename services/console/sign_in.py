"""Sign-in and sign-out: /auth/login sends the browser to the provider (code + PKCE), the
callback checks state, browser binding and nonce, exchanges the code, and opens a session whose
person and roles come from the access token, verified as the services verify it."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.console.oidc import SignInFailed, pkce_pair
from services.console.web import CsrfChecked, console_of, error_page, safe_return
from shared.logging import get_logger
from shared.staff_tokens import TokenRefused

log = get_logger(__name__)
router = APIRouter()

SIGN_IN_FAILED = (
    "Signing in did not complete. It may have taken too long, or started in another window. "
    "Try again; if it keeps failing, call the duty line."
)


@router.get("/auth/login")
async def login(request: Request, next: str | None = None) -> Response:
    console = console_of(request)
    if console.sessions.get(request.cookies.get(console.cookie_name)) is not None:
        return RedirectResponse(safe_return(next), status_code=303)
    browser = secrets.token_urlsafe(32)
    verifier, challenge = pkce_pair()
    nonce = secrets.token_urlsafe(32)
    pending = console.sessions.begin(browser, verifier, nonce, safe_return(next))
    try:
        target = await console.oidc.authorization_url(pending.state, nonce, challenge)
    except SignInFailed as failed:
        log.warning("sign_in_unavailable", reason=str(failed))
        return error_page(
            request, 503, "Sign-in is not available",
            "The sign-in service is not answering. Try again in a minute; if an alert needs "
            "you now, use the link or code in its message.",
        )  # fmt: skip
    response = RedirectResponse(target, status_code=303)
    # Ties the callback to this browser: a code + state captured elsewhere cannot be replayed
    # into another person's browser (login CSRF). Lax: it must survive the provider's redirect.
    response.set_cookie(
        console.browser_cookie_name, browser, max_age=600, path="/",
        secure=console.settings.secure_cookies, httponly=True, samesite="lax",
    )  # fmt: skip
    return response


@router.get("/auth/callback")
async def callback(
    request: Request, state: str = "", code: str = "", error: str | None = None
) -> Response:
    console = console_of(request)
    pending = console.sessions.finish(state, request.cookies.get(console.browser_cookie_name, ""))
    if pending is None or error or not code:
        log.info("sign_in_refused", reason="provider error" if error else "unknown state")
        return error_page(request, 400, "Sign-in did not complete", SIGN_IN_FAILED)
    try:
        tokens = await console.oidc.exchange(code, pending.verifier, pending.nonce)
        staff = await console.staff_auth.identify(tokens.access_token)
    except (SignInFailed, TokenRefused) as failed:
        log.warning("sign_in_refused", reason=str(failed)[:200])
        return error_page(request, 400, "Sign-in did not complete", SIGN_IN_FAILED)
    session = console.sessions.create(
        staff.person_id, staff.roles, tokens.access_token, tokens.refresh_token,
        tokens.id_token, tokens.expires_in,
    )  # fmt: skip
    log.info("signed_in", person_id=staff.person_id, roles=sorted(staff.roles))
    response = RedirectResponse(pending.return_to, status_code=303)
    response.delete_cookie(console.browser_cookie_name, path="/")
    response.set_cookie(
        console.cookie_name, session.id, path="/", secure=console.settings.secure_cookies,
        httponly=True, samesite="lax",
    )  # fmt: skip
    return response


@router.post("/auth/logout", dependencies=[CsrfChecked])
async def logout(request: Request) -> Response:
    console = console_of(request)
    session = console.sessions.end(request.cookies.get(console.cookie_name))
    after = f"{console.settings.public_url.rstrip('/')}/signed-out"
    target = after
    if session is not None:
        log.info("signed_out", person_id=session.person_id)
        try:
            target = await console.oidc.logout_url(session.id_token, after) or after
        except SignInFailed:
            target = after  # our session is gone either way
    response = RedirectResponse(target, status_code=303)
    response.delete_cookie(console.cookie_name, path="/")
    return response
