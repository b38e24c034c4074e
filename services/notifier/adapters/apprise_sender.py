"""Sends one message to one apprise URL (an SMS gateway, a voice provider, an SMTP server, …)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import apprise

from services.notifier.adapters import smtp_tls
from services.notifier.ports import Attachment

smtp_tls.install()


class AppriseSender:
    async def send(
        self, url: str, title: str, body: str, attachments: tuple[Attachment, ...] = ()
    ) -> bool:
        # A new Apprise object per message: apprise throttles consecutive sends through one
        # plugin instance, which would add seconds to every alert after the first.
        notifier = apprise.Apprise()
        if not notifier.add(url):
            return False
        with tempfile.TemporaryDirectory(prefix="notifier-") as folder:
            attach = apprise.AppriseAttachment()
            for item in attachments:
                path = Path(folder) / Path(item.filename).name
                path.write_bytes(item.content)
                attach.add(str(path))
            result = await notifier.async_notify(
                body=body,
                title=title,
                body_format=apprise.NotifyFormat.TEXT,
                attach=attach if attachments else None,
            )
        return bool(result)
