"""Keyboard-only moves for the browser tests (tests/browser/test_keyboard.py): Tab to a control,
fill it the way a person at a keyboard does (arrow keys in a select or a radio group, digits into
a date field), and check that focus is visible where it lands. Nothing here clicks, calls
element.click() or fills a field through the DOM; reading the page to decide the next key is fine.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime

from playwright.async_api import Page, expect

from deploy.keycloak import dev_password
from tests.support.browser import focused, tab_to
from tests.support.console_system import ConsoleSystem

# Tab stops grow with the data other tests leave behind (tasks, agenda items): generous bounds,
# still finite so an unreachable control fails the test rather than hanging it.
MANY_TABS = 400

# Runs in the page: what about the focused element's look differs from the same element
# unfocused (a copy beside it, same classes), limited to what is visible. GOV.UK Frontend draws
# focus as a yellow background, a box-shadow or a solid outline; a transparent outline (kept for
# forced-colours mode) does not count.
_FOCUS_DIFFERENCE = """() => {
  const element = document.activeElement;
  if (!element || element === document.body) return ["nothing has focus"];
  const keys = ["outline-style", "outline-width", "outline-color", "box-shadow",
                "background-color", "border-top-color", "border-top-width", "color"];
  const read = (el) => {
    const style = getComputedStyle(el);
    return Object.fromEntries(keys.map((key) => [key, style.getPropertyValue(key)]));
  };
  const shown = read(element);
  const twin = element.cloneNode(true);
  twin.removeAttribute("id");
  twin.setAttribute("tabindex", "-1");
  twin.setAttribute("aria-hidden", "true");
  element.after(twin);
  const plain = read(twin);
  twin.remove();
  const transparent = (colour) => /rgba\\(.*,\\s*0\\)$/.test(colour) || colour === "transparent";
  const visible = [];
  if (shown["outline-style"] !== "none" && parseFloat(shown["outline-width"]) > 0
      && !transparent(shown["outline-color"])
      && (shown["outline-style"] !== plain["outline-style"]
          || shown["outline-width"] !== plain["outline-width"]
          || shown["outline-color"] !== plain["outline-color"])) visible.push("outline");
  if (shown["box-shadow"] !== "none" && shown["box-shadow"] !== plain["box-shadow"])
    visible.push("box-shadow");
  if (!transparent(shown["background-color"])
      && shown["background-color"] !== plain["background-color"]) visible.push("background");
  if (shown["border-top-color"] !== plain["border-top-color"]
      || shown["border-top-width"] !== plain["border-top-width"]) visible.push("border");
  return visible.length ? [] : ["no visible change: " + JSON.stringify({focused: shown, plain})];
}"""


async def focused_description(page: Page) -> str:
    """The focused element's role and name, or its tag and id where Playwright cannot snapshot
    it (focus inside a date input's own fields does not match `:focus`)."""
    if not await page.evaluate("() => document.querySelector(':focus') !== null"):
        tag: str = await page.evaluate(
            "() => { const e = document.activeElement; return `${e?.localName}#${e?.id}`; }"
        )
        return tag
    element, role, name = await focused(page)
    return f'{role} "{" ".join(name.split())}"' if element is not None else "(the page)"


async def assert_focus_visible(page: Page) -> None:
    """The focused element looks different from itself unfocused, in a way a person can see."""
    problems: list[str] = await page.evaluate(_FOCUS_DIFFERENCE)
    assert not problems, f"focus on {await focused_description(page)} is not visible: {problems}"


async def _tab_until(
    page: Page, arrived: Callable[[], Awaitable[bool]], wanted: str, max_tabs: int
) -> None:
    """Press Tab until `arrived()`; fail, saying where focus
    went, if it never does (the control is not in the tab order, or not on the page)."""
    route: list[str] = []
    for _ in range(max_tabs):
        await page.keyboard.press("Tab")
        if await arrived():
            return
        if len(route) < 40:  # enough of the route to see what was passed
            route.append(await focused_description(page))
    raise AssertionError(
        f"{max_tabs} presses of Tab never focused {wanted}; focus went: "
        + " → ".join(route) + (" → …" if len(route) == 40 else "")
    )  # fmt: skip


async def tab_until(page: Page, selector: str, *, max_tabs: int = MANY_TABS) -> None:
    """Press Tab until the focused element matches the CSS `selector`."""

    async def matches() -> bool:
        found: bool = await page.evaluate(
            "(selector) => document.activeElement?.matches(selector) ?? false", selector
        )
        return found

    await _tab_until(page, matches, repr(selector), max_tabs)


async def tab_to_name(page: Page, accessible_name: str, *, max_tabs: int = MANY_TABS) -> None:
    """Press Tab until the focused element's accessible name is `accessible_name` (as
    tests.support.browser.tab_to does, but also passing through date inputs' own fields)."""
    wanted = " ".join(accessible_name.split())

    async def named() -> bool:
        return (await focused_description(page)).endswith(f' "{wanted}"')

    await _tab_until(page, named, repr(accessible_name), max_tabs)


async def active_value(page: Page) -> str:
    value: str = await page.evaluate("() => document.activeElement?.value ?? ''")
    return value


async def choose_with_arrows(page: Page, value: str, *, max_steps: int = 30) -> None:
    """In the focused select or radio group, move with the arrow keys until `value` is chosen
    (Home first for a select; a radio group is entered at its checked radio)."""
    kind = await page.evaluate("() => document.activeElement?.type ?? ''")
    if kind.startswith("select"):
        await page.keyboard.press("Home")
    for _ in range(max_steps):
        if await active_value(page) == value and (
            kind != "radio" or await page.evaluate("() => document.activeElement.checked")
        ):
            return
        await page.keyboard.press("ArrowDown")
    raise AssertionError(
        f"{max_steps} presses of ArrowDown never chose {value!r} in {kind or 'the focused element'}"
    )


async def date_field_order(page: Page) -> str:
    """The order of the day, month and year fields of the focused date or datetime-local input as
    this browser's locale lays them out: "dmy" or "mdy". Found by typing a probe date whose day
    and month differ (and a time, for datetime-local), then back to the input's first field by
    leaving it with Shift+Tab and coming back with Tab."""
    with_time = await page.evaluate("() => document.activeElement.type") == "datetime-local"
    await page.keyboard.type("01022000")
    if with_time:
        await page.keyboard.press("ArrowRight")  # the year takes up to six digits: move on by hand
        await page.keyboard.type("1300")
    found = (await active_value(page)).removesuffix("T13:00")
    field = await page.evaluate_handle("() => document.activeElement")
    for _ in range(10):  # its fields, then the control before it
        await page.keyboard.press("Shift+Tab")
        if not await page.evaluate("(field) => document.activeElement === field", field):
            break
    await page.keyboard.press("Tab")
    assert await page.evaluate("(field) => document.activeElement === field", field)
    orders = {"2000-02-01": "dmy", "2000-01-02": "mdy"}
    assert found in orders, f"typing 01 02 2000 into the date field gave {found!r}"
    return orders[found]


async def type_date(page: Page, day: date) -> None:
    """Type `day` into the focused date input, field by field in the browser's own order."""
    order = await date_field_order(page)
    parts = {"d": f"{day.day:02d}", "m": f"{day.month:02d}", "y": f"{day.year:04d}"}
    await page.keyboard.type("".join(parts[field] for field in order))
    assert await active_value(page) == day.isoformat()


async def type_datetime(page: Page, moment: datetime) -> None:
    """Type `moment` (wall-clock, to the minute) into the focused datetime-local input. The hour is
    typed on the 24-hour clock, which a 12-hour field also takes (13 becomes 1 PM)."""
    order = await date_field_order(page)
    parts = {"d": f"{moment.day:02d}", "m": f"{moment.month:02d}", "y": f"{moment.year:04d}"}
    await page.keyboard.type("".join(parts[field] for field in order))
    await page.keyboard.press("ArrowRight")
    await page.keyboard.type(f"{moment.hour:02d}{moment.minute:02d}")
    assert await active_value(page) == moment.strftime("%Y-%m-%dT%H:%M")


async def press_and_wait_for(page: Page, key: str, url: str) -> None:
    """Press `key` on the focused link or button and wait for the page it leads to."""
    async with page.expect_navigation(url=url):
        await page.keyboard.press(key)


async def sign_in(page: Page, running: ConsoleSystem, person: str) -> None:
    """From the console's entry page, through Keycloak's form, typing only."""
    console = running.console_url
    await page.goto(f"{console}/now")
    await page.wait_for_url(f"{running.provider.issuer}/**")
    if await page.evaluate("() => document.activeElement?.id") != "username":
        await tab_to(page, "Username or email")
    await page.keyboard.type(person)
    await tab_to(page, "Password")
    await page.keyboard.type(dev_password(person))
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{console}/now")
    await expect(page.get_by_text(f"Signed in as {person}")).to_be_visible()


async def open_from_menu(page: Page, running: ConsoleSystem, label: str, path: str) -> None:
    """At phone width the service menu is behind its toggle: open it and follow `label`."""
    await tab_until(page, "button.govuk-service-navigation__toggle", max_tabs=MANY_TABS)
    await assert_focus_visible(page)  # once on every page the menu is used from
    if await page.evaluate("() => document.activeElement.getAttribute('aria-expanded')") != "true":
        await page.keyboard.press("Enter")
    await tab_to(page, label)
    await press_and_wait_for(page, "Enter", f"{running.console_url}{path}")
