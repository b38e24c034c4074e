"""Helpers for the browser tests (tests/browser): Debian's Chromium driven by Playwright's async
API, at a desktop and a phone size, with the checks every console page should pass: no serious or
critical accessibility violations (axe-core), and reachable by keyboard alone.

Playwright's own browser download cannot work on this project's machines (docs TOOLS.md), so the
browser is Debian's `chromium` package, installed by deploy/bootstrap.sh; axe-core comes from the
pinned npm packages (`python -m deploy.frontend fetch`).
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict, cast

import yaml
from playwright.async_api import (
    Browser,
    BrowserContext,
    ElementHandle,
    Page,
    Playwright,
    async_playwright,
)

from deploy.frontend import asset_paths

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
# A broken page should fail a test in seconds, not after Playwright's default 30 s.
DEFAULT_TIMEOUT_MS = 10_000
BLOCKING_IMPACTS = ("serious", "critical")


@dataclass(frozen=True)
class ScreenSize:
    name: str
    width: int
    height: int
    is_mobile: bool = False
    has_touch: bool = False


DESKTOP = ScreenSize("desktop", 1280, 900)
PHONE = ScreenSize("phone", 375, 812, is_mobile=True, has_touch=True)
SIZES = (DESKTOP, PHONE)


class AxeViolation(TypedDict):
    id: str  # the axe rule, e.g. "image-alt"
    impact: str  # "serious" or "critical" (lesser ones are not returned)
    help: str
    targets: list[str]  # a CSS selector for each failing element


async def launch_chromium(playwright: Playwright) -> Browser:
    """Debian's Chromium, headless, able to run as root inside a container."""
    if not CHROMIUM.exists():
        raise RuntimeError(
            f"{CHROMIUM} is missing: run deploy/bootstrap.sh (or: apt-get install chromium)"
        )
    return await playwright.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[
            # Chromium refuses its sandbox as root, and containers lack the namespaces it needs.
            "--no-sandbox",
            # Containers often have a tiny /dev/shm, which crashes the renderer; Debian's launcher
            # means to add this flag itself but its free-space check fails on some mounts.
            "--disable-dev-shm-usage",
        ],
    )


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """A browser for the length of the `async with`, closed (with Playwright) afterwards."""
    async with async_playwright() as playwright:
        browser = await launch_chromium(playwright)
        try:
            yield browser
        finally:
            await browser.close()


async def new_context(browser: Browser, size: ScreenSize, **options: Any) -> BrowserContext:
    """A fresh context (own cookies and storage) at `size`; `options` go to Playwright unchanged."""
    context = await browser.new_context(
        viewport={"width": size.width, "height": size.height},
        is_mobile=size.is_mobile,
        has_touch=size.has_touch,
        locale="en-GB",
        timezone_id="Europe/London",
        **options,
    )
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    return context


@functools.cache
def _axe_source() -> str:
    return asset_paths().axe_js.read_text(encoding="utf-8")


# Runs in the page: axe's full rule set, reporting only violations (faster than also collecting
# passes), each failing element as a selector; a path through frames or shadow roots is joined.
_RUN_AXE = """async () => {
  const results = await window.axe.run(document, { resultTypes: ["violations"] });
  return results.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    targets: v.nodes.map((n) => n.target.map((t) => [].concat(t).join(" >>> ")).join(" >>> ")),
  }));
}"""


async def check_accessibility(page: Page) -> list[AxeViolation]:
    """The page's serious and critical accessibility violations, found by axe-core; [] if none."""
    if not await page.evaluate("() => typeof window.axe === 'object'"):
        # Evaluated rather than added with `page.add_script_tag`: that inserts an inline <script>,
        # which the console's Content-Security-Policy rightly blocks, while Playwright's evaluate
        # is not subject to the page's CSP, so the page is checked with its real headers.
        await page.evaluate(_axe_source())
    found = cast(list[AxeViolation], await page.evaluate(_RUN_AXE))
    return [violation for violation in found if violation["impact"] in BLOCKING_IMPACTS]


def describe(violations: list[AxeViolation]) -> str:
    """One line per violation, for an assertion message."""
    return "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']}: {', '.join(v['targets'])}" for v in violations
    )


def screenshot_dir() -> Path:
    """$SCREENSHOT_DIR, else .local/screenshots in the checkout (ignored by git)."""
    return Path(os.environ.get("SCREENSHOT_DIR") or ROOT / ".local" / "screenshots")


async def screenshot(page: Page, name: str) -> Path:
    """Save the whole page (not just the viewport) as `<name>.png`; return the file."""
    path = screenshot_dir() / f"{re.sub(r'[^A-Za-z0-9._-]+', '-', name)}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=path, full_page=True, animations="disabled")
    return path


# The first line of Playwright's ARIA snapshot of one element: `button "Save"`, `link "Home"`,
# `checkbox "Agree" [checked]`, or a bare role when the element has no name.
_ROLE_AND_NAME = re.compile(r'(?P<role>[\w-]+)(?: "(?P<name>(?:[^"\\]|\\.)*)")?')


async def focused(page: Page) -> tuple[ElementHandle | None, str, str]:
    """The element with keyboard focus (None when focus is on the page itself or left it), and its
    ARIA role and accessible name.

    Role and name come from Playwright's ARIA snapshot, which computes them the way assistive
    technology does (aria-labelledby, aria-label, <label>, button value, alt, content…) rather
    than by rules re-written here; the snapshot is YAML, so it is read as YAML.
    """
    handle = await page.evaluate_handle(
        "() => document.activeElement === document.body ? null : document.activeElement"
    )
    element = handle.as_element()
    if element is None:
        return None, "", ""
    snapshot = yaml.safe_load(await page.locator(":focus").aria_snapshot(timeout=2_000))
    first = snapshot[0] if isinstance(snapshot, list) and snapshot else ""
    line = next(iter(first)) if isinstance(first, dict) else str(first)
    match = _ROLE_AND_NAME.match(line)
    if match is None:
        return element, "", ""
    name = json.loads(f'"{match["name"]}"') if match["name"] is not None else ""
    return element, match["role"], name


async def tab_to(page: Page, accessible_name: str, *, max_tabs: int = 60) -> ElementHandle:
    """Press Tab until the focused element's accessible name is `accessible_name` (whitespace
    collapsed) and return that element; fail, listing where focus went, if it never gets there."""
    wanted = " ".join(accessible_name.split())
    route: list[str] = []
    for _ in range(max_tabs):
        await page.keyboard.press("Tab")
        element, role, name = await focused(page)
        if element is not None and " ".join(name.split()) == wanted:
            return element
        route.append(f'{role} "{name}"' if element is not None else "(the page)")
    raise AssertionError(
        f"{max_tabs} presses of Tab never focused {accessible_name!r}; focus went: "
        + " → ".join(route)
    )
