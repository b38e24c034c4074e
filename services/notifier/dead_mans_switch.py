"""The watchdog's decisions, pure: given what is known about heartbeats and `now`, is a page due?

fresh → (no heartbeat end to end for longer than the threshold) → stale: page "quiet" once
stale → (still nothing) → stale: no second page
stale → (a heartbeat goes end to end) → fresh: page "cleared" once

Before the first heartbeat the watch counts from when the notifier started, so a restart neither
pages at once nor hides a dead pipeline for longer than the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum


class PageState(StrEnum):
    STALE = "stale"
    CLEARED = "cleared"


@dataclass(frozen=True)
class Page:
    state: PageState
    quiet_since: datetime  # the last heartbeat end to end (or the start) before the silence
    quiet_for: timedelta  # stale: so far; cleared: until the heartbeat that ended it
    at: datetime  # cleared: that heartbeat's time; stale: when the page was decided


@dataclass(frozen=True)
class Watch:
    started_at: datetime
    last_end_to_end: datetime | None = None
    quiet_since: datetime | None = None  # set while a "quiet" page is out and not yet cleared

    @property
    def since(self) -> datetime:
        return self.last_end_to_end or self.started_at

    def age(self, now: datetime) -> timedelta:
        return max(now - self.since, timedelta(0))

    def stale(self, now: datetime, stale_after: timedelta) -> bool:
        return self.age(now) > stale_after

    def heartbeat(self, emitted_at: datetime, now: datetime) -> Watch:
        """A heartbeat emitted at `emitted_at` went end to end. Its emission time counts, not its
        arrival, and only if newer: an old heartbeat replayed or held up in a backlog does not
        make a dead emitter look alive. Never later than now (a skewed intake clock)."""
        at = min(emitted_at, now)
        if self.last_end_to_end is not None and at <= self.last_end_to_end:
            return self
        return replace(self, last_end_to_end=at)

    def paged(self, page: Page) -> Watch:
        """The watch after `page` was sent (an unsent page changes nothing: it is due again)."""
        return replace(
            self, quiet_since=page.quiet_since if page.state is PageState.STALE else None
        )


def due_page(watch: Watch, now: datetime, stale_after: timedelta) -> Page | None:
    if watch.stale(now, stale_after):
        if watch.quiet_since is not None:
            return None  # paged already: one page per silence
        return Page(PageState.STALE, watch.since, watch.age(now), now)
    if watch.quiet_since is not None and watch.last_end_to_end is not None:
        quiet_for = max(watch.last_end_to_end - watch.quiet_since, timedelta(0))
        return Page(PageState.CLEARED, watch.quiet_since, quiet_for, watch.last_end_to_end)
    return None
