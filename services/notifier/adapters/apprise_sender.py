"""Sends one message to one apprise URL (an SMS gateway, a voice provider, a chat service, …).
E-mail goes through services/notifier/adapters/smtp_sender.py instead (shared TLS contexts)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import apprise

from services.notifier.ports import Attachment


@contextmanager
def attachment_files(
    attachments: tuple[Attachment, ...],
) -> Iterator[apprise.AppriseAttachment | None]:
    """apprise attaches files by path: the attachments as files in a folder removed afterwards."""
    if not attachments:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="notifier-") as folder:
        attach = apprise.AppriseAttachment()
        for item in attachments:
            path = Path(folder) / Path(item.filename).name
            path.write_bytes(item.content)
            attach.add(str(path))
        yield attach


class AppriseSender:
    async def send(
        self, url: str, title: str, body: str, attachments: tuple[Attachment, ...] = ()
    ) -> bool:
        # A new Apprise object per message: apprise throttles consecutive sends through one
        # plugin instance, which would add seconds to every alert after the first.
        notifier = apprise.Apprise()
        if not notifier.add(url):
            return False
        with attachment_files(attachments) as attach:
            result = await notifier.async_notify(
                body=body, title=title, body_format=apprise.NotifyFormat.TEXT, attach=attach
            )
        return bool(result)
