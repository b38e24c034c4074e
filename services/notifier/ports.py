"""What the notifier's handlers need from the outside world."""

from __future__ import annotations

from typing import Protocol

from services.notifier.adapters.apprise_sender import SendResult


class Sender(Protocol):
    async def send(self, channels: tuple[str, ...], title: str, body: str) -> SendResult: ...
