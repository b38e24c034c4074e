"""A real SMTP server (aiosmtpd) that keeps what it receives, for tests."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

from aiosmtpd.controller import Controller

from deploy.kafka_broker import free_port
from tests.support.allow_list import check_messages


@dataclass
class Inbox:
    messages: list[EmailMessage] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    down_until: float = 0.0  # time.monotonic(); while before it, every message is refused
    refused: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if time.monotonic() < self.down_until:
            self.refused += 1
            return "451 4.3.0 Mail server temporarily unavailable"
        content: bytes = envelope.original_content or envelope.content
        self.raw.append(content)
        message = message_from_bytes(content, policy=default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK"

    def texts(self) -> list[str]:
        """Subject and plain-text body of every message."""
        found = []
        for message in self.messages:
            found.append(str(message["subject"]))
            body = message.get_body(preferencelist=("plain",))
            if body is not None:
                found.append(body.get_content())
        return found

    async def wait_for(self, count: int, within: float = 15.0) -> list[EmailMessage]:
        deadline = time.monotonic() + within
        while len(self.messages) < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"expected {count} message(s), got {len(self.messages)} in {within}s"
                )
            await asyncio.sleep(0.05)
        return self.messages


class SmtpSink:
    def __init__(self) -> None:
        self.inbox = Inbox()
        self.port = free_port()
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)

    def outage(self, seconds: float) -> None:
        """Refuse every message (451, try again later) for the next `seconds`."""
        self.inbox.down_until = time.monotonic() + seconds

    def __enter__(self) -> SmtpSink:
        self._controller.start()
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self._controller.stop()
        if exc_type is None:  # every message the notifier sent in the test must be allow-listed
            check_messages(self.inbox.texts())
