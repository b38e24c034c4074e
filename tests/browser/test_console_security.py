"""The console's defences as a browser meets them, against the real Keycloak: a form without its
CSRF token and a form posted from another site are refused and change nothing; the session
cookie cannot be read by script or sent by another site; signing out ends the provider's session
too; a forged sign-in callback opens no session; and sign-in never returns to another site."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote

import httpx
from playwright.async_api import Browser, BrowserContext, Page, Response, expect

from deploy.keycloak import dev_password, free_ports_below_32768
from tests.browser.conftest import signed_in
from tests.browser.test_now import alert_for, post_contact
from tests.support.browser import DESKTOP, new_context
from tests.support.console_system import ConsoleSystem

COOKIE = "console"  # plain http on loopback: no __Host- prefix (services/console/web.py)
SIGN_IN_COOKIE = "console-signin"


def console_events(running: ConsoleSystem, event: str) -> list[dict[str, Any]]:
    """The console's JSON log lines for `event`."""
    found = []
    for line in running.console_log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("event") == event:
                found.append(record)
    return found


async def alert_on_now(running: ConsoleSystem, page: Page) -> tuple[str, str]:
    """A new alert of this test's own, shown on the page: (case reference, alert id)."""
    case = await post_contact(running)
    row = page.locator(f"tr:has-text('{case}')")
    await expect(row).to_be_visible(timeout=30_000)
    alert_id = await row.get_attribute("data-alert")
    assert alert_id
    assert (await alert_for(running, case))["alert_id"] == alert_id
    return case, alert_id


async def fill_keycloak_form(page: Page, person: str) -> None:
    await page.locator("#username").fill(person)
    await page.locator("#password").fill(dev_password(person))
    await page.locator("#kc-login").click()


async def at_keycloak_login(running: ConsoleSystem, page: Page) -> None:
    await page.wait_for_url(f"{running.provider.issuer}/**")
    await expect(page.locator("#username")).to_be_visible()
    await expect(page.locator("#kc-login")).to_be_visible()


async def replayed_cookie_answer(running: ConsoleSystem, session_id: str) -> httpx.Response:
    """GET /now with a session cookie, outside the browser, without following redirects."""
    async with httpx.AsyncClient(
        timeout=10, follow_redirects=False, cookies={COOKIE: session_id}
    ) as client:
        return await client.get(f"{running.console_url}/now")


async def session_cookie(context: BrowserContext, running: ConsoleSystem) -> dict[str, Any] | None:
    for cookie in await context.cookies(running.console_url):
        if cookie.get("name") == COOKIE:
            return dict(cookie)
    return None


async def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(
    console_system: ConsoleSystem, browser: Browser
) -> None:
    context, page = await signed_in(browser, console_system, "advisor-day", DESKTOP)
    try:
        case, alert_id = await alert_on_now(console_system, page)
        form = f"form[action='/alerts/{alert_id}/acknowledge']"
        # In one script task, so the page's polling cannot swap a fresh form in between.
        async with page.expect_navigation() as navigation:
            await page.evaluate(
                """(selector) => {
                    const form = document.querySelector(selector);
                    form.querySelector("input[name=csrf_token]").remove();
                    form.submit();
                }""",
                form,
            )
        answer = await navigation.value
        assert answer is not None
        assert answer.status == 403
        await expect(page.get_by_role("heading", name="The form could not be sent")).to_be_visible()

        # The 403 is the console's whole answer: had it acknowledged, it would have done so first.
        alert = await alert_for(console_system, case)
        assert alert["status"] == "open"
        assert alert["acknowledged_by"] is None
        refused = [e for e in console_events(console_system, "csrf_refused")
                   if e.get("path") == f"/alerts/{alert_id}/acknowledge"]  # fmt: skip
        assert [e["reason"] for e in refused] == ["token"]

        # The control: the same form with its token does acknowledge.
        await page.goto(f"{console_system.console_url}/now")
        await (
            page.locator(f"tr[data-alert='{alert_id}']")
            .get_by_role("button", name="Acknowledge")
            .click()
        )
        await expect(page.get_by_text("Alert acknowledged")).to_be_visible()
        alert = await alert_for(console_system, case)
        assert alert["status"] == "acknowledged"
        assert alert["acknowledged_by"] == "advisor-day"
    finally:
        await context.close()


def attacker_page(console_url: str, alert_id: str, csrf_token: str) -> bytes:
    """Another site's page that posts the acknowledgement as soon as it loads, carrying the
    victim's real token (as if it had leaked), so only the cross-site checks stand in its way."""
    return f"""<!doctype html>
<html><head><title>Win a prize</title></head><body>
<form id="attack" method="post" action="{console_url}/alerts/{alert_id}/acknowledge">
  <input type="hidden" name="csrf_token" value="{csrf_token}">
</form>
<script>document.getElementById("attack").submit();</script>
</body></html>""".encode()


@contextmanager
def serving(body: bytes) -> Iterator[str]:
    """`body` served at http://localhost:PORT/, a different site from the console's 127.0.0.1."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = None
    for port in free_ports_below_32768(5):
        try:
            server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
            break
        except OSError:
            continue
    assert server is not None, "no free port for the attacker's site"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


async def test_a_form_posted_from_another_site_is_refused_and_changes_nothing(
    console_system: ConsoleSystem, browser: Browser
) -> None:
    context, page = await signed_in(browser, console_system, "advisor-day", DESKTOP)
    try:
        case, alert_id = await alert_on_now(console_system, page)
        token = await page.locator("input[name=csrf_token]").first.get_attribute("value")
        assert token
        target = f"{console_system.console_url}/alerts/{alert_id}/acknowledge"
        with serving(attacker_page(console_system.console_url, alert_id, token)) as site:
            attacker = await context.new_page()  # the victim's browser, still signed in
            async with attacker.expect_response(lambda r: r.url == target) as caught:
                await attacker.goto(site)
            answer: Response = await caught.value
            sent = await answer.request.all_headers()
        assert answer.status == 403
        assert sent.get("sec-fetch-site") == "cross-site"
        # SameSite=Lax: the browser does not even send the session cookie with it.
        assert f"{COOKIE}=" not in sent.get("cookie", "")
        await expect(
            attacker.get_by_role("heading", name="The form could not be sent")
        ).to_be_visible()

        alert = await alert_for(console_system, case)
        assert alert["status"] == "open"
        assert alert["acknowledged_by"] is None
        refused = [e for e in console_events(console_system, "csrf_refused")
                   if e.get("path") == f"/alerts/{alert_id}/acknowledge"]  # fmt: skip
        assert [e["reason"] for e in refused] == ["cross-site"]
        # The victim's own session is untouched and still acknowledges from the console itself.
        await page.goto(f"{console_system.console_url}/now")
        await (
            page.locator(f"tr[data-alert='{alert_id}']")
            .get_by_role("button", name="Acknowledge")
            .click()
        )
        await expect(page.get_by_text("Alert acknowledged")).to_be_visible()
        assert (await alert_for(console_system, case))["acknowledged_by"] == "advisor-day"
    finally:
        await context.close()


async def test_the_session_cookie_is_http_only_lax_and_host_only(
    console_system: ConsoleSystem, browser: Browser
) -> None:
    context = await new_context(browser, DESKTOP)
    try:
        page = await context.new_page()
        callbacks: list[Response] = []
        page.on("response", lambda r: callbacks.append(r) if "/auth/callback" in r.url else None)
        await page.goto(f"{console_system.console_url}/now")
        await at_keycloak_login(console_system, page)
        await fill_keycloak_form(page, "advisor-day")
        await page.wait_for_url(f"{console_system.console_url}/now")

        cookie = await session_cookie(context, console_system)
        assert cookie is not None
        assert cookie["httpOnly"] is True
        assert cookie["sameSite"] == "Lax"
        assert cookie["path"] == "/"
        assert cookie["domain"] == "127.0.0.1"  # host-only: no Domain attribute widened it
        assert cookie["secure"] is False  # plain http on loopback; https sets Secure + __Host-
        assert cookie["expires"] == -1  # ends with the browser; the server's limits end it sooner
        assert await page.evaluate("document.cookie") == ""  # invisible to script

        assert len(callbacks) == 1
        set_cookies = [h["value"] for h in await callbacks[0].headers_array()
                       if h["name"].lower() == "set-cookie"]  # fmt: skip
        issued = [value for value in set_cookies if value.startswith(f"{COOKIE}=")]
        assert len(issued) == 1, set_cookies
        attributes = {part.strip().split("=")[0].lower() for part in issued[0].split(";")[1:]}
        assert {"httponly", "samesite", "path"} <= attributes
        assert "domain" not in attributes
        assert "samesite=lax" in issued[0].lower()
        # The pre-sign-in cookie is spent once the session exists.
        names = {c.get("name") for c in await context.cookies(console_system.console_url)}
        assert SIGN_IN_COOKIE not in names
    finally:
        await context.close()


async def test_signing_out_ends_the_console_and_provider_sessions(
    console_system: ConsoleSystem, browser: Browser
) -> None:
    context, page = await signed_in(browser, console_system, "advisor-night", DESKTOP)
    try:
        cookie = await session_cookie(context, console_system)
        assert cookie is not None
        session_id = str(cookie["value"])
        assert (await replayed_cookie_answer(console_system, session_id)).status_code == 200

        await page.get_by_role("button", name="Sign out").click()
        await page.wait_for_url(f"{console_system.console_url}/signed-out")
        await expect(page.get_by_role("heading", name="You are signed out")).to_be_visible()
        assert await session_cookie(context, console_system) is None
        # Ended on the server, not only forgotten by the browser: the old id opens nothing.
        replayed = await replayed_cookie_answer(console_system, session_id)
        assert replayed.status_code == 303
        assert replayed.headers["location"].startswith("/auth/login")

        # Keycloak's own session ended too: back to its login form, not straight back in.
        await page.goto(f"{console_system.console_url}/now")
        await at_keycloak_login(console_system, page)
        assert await session_cookie(context, console_system) is None
    finally:
        await context.close()


async def test_a_forged_sign_in_callback_opens_no_session(
    console_system: ConsoleSystem, browser: Browser
) -> None:
    context = await new_context(browser, DESKTOP)
    try:
        page = await context.new_page()
        # A real sign-in begun in this browser, so a pending state and its browser cookie exist.
        await page.goto(f"{console_system.console_url}/now")
        await at_keycloak_login(console_system, page)
        names = {c.get("name") for c in await context.cookies(console_system.console_url)}
        assert SIGN_IN_COOKIE in names

        answer = await page.goto(f"{console_system.console_url}/auth/callback?state=x&code=y")
        assert answer is not None
        assert answer.status == 400
        await expect(page.get_by_role("heading", name="Sign-in did not complete")).to_be_visible()
        assert await session_cookie(context, console_system) is None
        await page.goto(f"{console_system.console_url}/now")
        await at_keycloak_login(console_system, page)
    finally:
        await context.close()


async def test_sign_in_never_returns_to_another_site(
    console_system: ConsoleSystem, browser: Browser
) -> None:
    console = console_system.console_url
    context = await new_context(browser, DESKTOP)
    try:
        page = await context.new_page()
        await page.goto(f"{console}/auth/login?next={quote('https://evil.example/', safe='')}")
        await at_keycloak_login(console_system, page)
        await fill_keycloak_form(page, "advisor-day")
        await page.wait_for_url(f"{console}/**")
        assert page.url == f"{console}/now"
        await expect(page.get_by_text("Signed in as advisor-day")).to_be_visible()

        # Signed in, /auth/login goes straight to `next`: a path of ours only. A backslash would
        # become a slash in the browser, so /\evil.example would leave the console too.
        for elsewhere in ("//evil.example/", "/\\evil.example/", "http://evil.example/now"):
            await page.goto(f"{console}/auth/login?next={quote(elsewhere, safe='')}")
            assert page.url == f"{console}/now", elsewhere
        # The control: a path of ours is honoured, so /now above was a refusal, not a default.
        await page.goto(f"{console}/auth/login?next={quote('/tasks', safe='')}")
        assert page.url == f"{console}/tasks"
    finally:
        await context.close()
