"""One Sender for every channel URL: e-mail through `SmtpSender` (shared TLS contexts), the rest
(SMS and voice gateways, chat) through apprise."""

from __future__ import annotations

from services.notifier.adapters.apprise_sender import AppriseSender
from services.notifier.adapters.smtp_sender import SmtpSender, is_email_url
from services.notifier.ports import Attachment


class ChannelSender:
    def __init__(self) -> None:
        self._email = SmtpSender()
        self._others = AppriseSender()

    async def send(
        self, url: str, title: str, body: str, attachments: tuple[Attachment, ...] = ()
    ) -> bool:
        sender = self._email if is_email_url(url) else self._others
        return await sender.send(url, title, body, attachments)
