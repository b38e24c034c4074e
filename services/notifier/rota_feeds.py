"""Calendar feeds: fetching an iCalendar URL within limits, and the notifier's periodic import of
the feeds configured in NOTIFIER_ROTA_CALENDARS (label -> URL; empty, the default, is off).

A feed URL is often a secret in itself (a calendar application's "secret address"): it is held as
a SecretStr and never logged or echoed; logs name the feed by its label and give counts only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from services.notifier.rota_book import RotaBook
from services.notifier.rota_calendar import CalendarUnreadable
from services.notifier.rota_import import import_calendar, importer
from shared.clock import Clock
from shared.logging import get_logger

log = get_logger(__name__)

MAX_FEED_BYTES = 1024 * 1024  # the API's own body limit (shared/http_guards.py)
FEED_TIMEOUT_SECONDS = 15.0


class FeedProblem(Exception):
    """A calendar URL could not be fetched; the message never holds the URL."""


def feed_url(url: str) -> str:
    """http(s) as it is; webcal(s), the scheme calendar applications give, is https."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme in ("webcal", "webcals"):
        parts = parts._replace(scheme="https")
    elif scheme not in ("http", "https"):
        raise FeedProblem("a calendar URL must be http, https or webcal")
    if not parts.hostname:
        raise FeedProblem("a calendar URL must name a host")
    return urlunsplit(parts)


async def fetch_calendar(
    url: str, seconds: float = FEED_TIMEOUT_SECONDS, max_bytes: int = MAX_FEED_BYTES
) -> bytes:
    """The body of a 200 answer, at most `max_bytes`, all within `seconds`."""
    target = feed_url(url)
    try:
        async with (
            asyncio.timeout(seconds),
            httpx.AsyncClient(timeout=seconds, follow_redirects=True, max_redirects=3) as client,
            client.stream("GET", target, headers={"Accept": "text/calendar"}) as response,
        ):
            if response.status_code != 200:
                raise FeedProblem(f"the calendar URL answered HTTP {response.status_code}")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise FeedProblem(f"the calendar is larger than {max_bytes // 1024} KiB")
            return bytes(body)
    except TimeoutError:
        raise FeedProblem(f"the calendar URL did not answer within {seconds:g} s") from None
    except httpx.HTTPError as error:
        raise FeedProblem(f"the calendar URL cannot be fetched ({type(error).__name__})") from None


class CalendarFeeds:
    """One pass imports every configured feed in turn; a feed that fails is logged and tried again
    on the next pass, its changes left as the last good import made them."""

    def __init__(
        self,
        feeds: Mapping[str, str],
        book: RotaBook,
        engine: AsyncEngine,
        clock: Clock,
        window: timedelta,
    ) -> None:
        self._feeds, self._book, self._engine = dict(feeds), book, engine
        self._clock, self._window = clock, window

    async def import_all(self) -> None:
        for label, url in self._feeds.items():
            try:
                text = await fetch_calendar(url)
                summary = await import_calendar(
                    self._book, self._engine, text, importer(f"calendar:{label}", self._clock.now()),
                    label, window=self._window,
                )  # fmt: skip
            except (FeedProblem, CalendarUnreadable) as problem:
                log.warning("rota_calendar_not_imported", source=label, reason=str(problem))
                continue
            # Anything else (the database refusing a write, a calendar library's surprise): the
            # next feeds are still imported this pass, or one feed that fails every time would
            # keep every feed after it from ever being read. Its type only: a message could
            # quote the calendar.
            except Exception as error:  # noqa: BLE001
                log.error("rota_calendar_import_failed", source=label, error=type(error).__name__)
                continue
            log.info(
                "rota_calendar_imported", source=label, added=summary.added,
                updated=summary.updated, removed=summary.removed, not_taken=len(summary.problems),
            )  # fmt: skip
