"""Sends an alert through apprise to each of a person's channel URLs."""

from __future__ import annotations

from dataclasses import dataclass

import apprise


@dataclass(frozen=True)
class SendResult:
    succeeded: int
    failed: int


class AppriseSender:
    async def send(self, channels: tuple[str, ...], title: str, body: str) -> SendResult:
        succeeded = failed = 0
        # One Apprise instance per channel, so one failing URL is counted (and retried) alone.
        for url in channels:
            notifier = apprise.Apprise()
            if not notifier.add(url):
                failed += 1  # an unparseable URL; the rota loader rejects most of these earlier
                continue
            result = await notifier.async_notify(
                body=body, title=title, body_format=apprise.NotifyFormat.TEXT
            )
            if result:
                succeeded += 1
            else:
                failed += 1
        return SendResult(succeeded, failed)
