"""Sends e-mail for `mailto://` and `mailtos://` channel URLs over aiosmtplib, with TLS contexts
built once per process and shared by every connection.

apprise 2.2.0 builds `ssl.create_default_context()` for every e-mail it sends (in
`AppriseSMTPController.__enter__`, even for a plain-SMTP URL), and OpenSSL 3 parses the whole
system CA bundle each time: a quarter of the notifier's CPU under a steady load. apprise has no
option to pass a context in, so the transport is aiosmtplib's, which takes one (`tls_context`).
apprise still does the rest, through its public entry points, so a channel URL means exactly
what it meant: apprise reads the URL once, into a plugin kept for it (`email_plugin`: host, port,
`mode=ssl|starttls|insecure`, credentials, from and to, provider defaults such as Gmail's) and the static
`NotifyEmail.prepare_emails` writes the message (subject, text body, attachments, headers).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from datetime import tzinfo
from functools import cache, lru_cache

import aiosmtplib
import apprise
from apprise.plugins.email import NotifyEmail, SecureMailMode
from apprise.plugins.email.common import AppriseEmailException

from services.notifier.adapters.apprise_sender import PARSED_URLS, attachment_files, new_plugins
from services.notifier.ports import Attachment

EMAIL_SCHEMES = frozenset({"mailto", "mailtos"})


def is_email_url(url: str) -> bool:
    return url.partition("://")[0].lower() in EMAIL_SCHEMES


@lru_cache(maxsize=PARSED_URLS)
def email_plugin(url: str) -> NotifyEmail | None:
    """apprise's e-mail plugin for a single e-mail URL, made once for each URL: reading the URL
    and building the plugin was 0.8 ms of every e-mail. Only its settings are read here, never
    its own sending, so one instance serves every message (no apprise throttle applies)."""
    made = new_plugins(url)
    if made is None or len(made) != 1 or not isinstance(made[0], NotifyEmail):
        return None
    return made[0]


def message_zone(plugin: NotifyEmail) -> tzinfo | None:
    """The zone a message's Date is written in: the URL's `tz=`, or None for the machine's zone
    at the moment of sending (apprise's default). Not the plugin's own default, which is the
    machine's offset when the kept plugin was built and would be an hour out after a change to
    or from summer time."""
    return None if plugin.tzinfo is plugin.asset.tzinfo else plugin.tzinfo


@cache
def tls_context(verified: bool) -> ssl.SSLContext:
    """The one context for certificate-checked connections, and the one for URLs that switch the
    check off (`verify=no`). Made once; never changed after, so sends may share it."""
    context = ssl.create_default_context()
    if not verified:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


_ehlo_name: str | None = None


async def ehlo_name() -> str:
    """The name this host gives in EHLO: `socket.getfqdn()`, as aiosmtplib would give, looked up
    once per process. aiosmtplib looks it up again for every connection it makes, on a worker
    thread (a thread trip and a resolver lookup for every e-mail)."""
    global _ehlo_name  # one process-wide value, as the TLS contexts above
    if _ehlo_name is None:
        _ehlo_name = await asyncio.to_thread(socket.getfqdn)
    return _ehlo_name


class SmtpSender:
    async def send(
        self, url: str, title: str, body: str, attachments: tuple[Attachment, ...] = ()
    ) -> bool:
        plugin = email_plugin(url)
        if plugin is None or not plugin.targets:
            return False  # not an e-mail URL apprise would accept: refused as apprise refuses it
        try:
            with attachment_files(attachments) as attach:
                messages = list(
                    NotifyEmail.prepare_emails(
                        subject=title,
                        body=body,
                        notify_format=apprise.NotifyFormat.TEXT,
                        from_addr=plugin.from_addr,
                        to=plugin.targets,
                        cc=plugin.cc,
                        bcc=plugin.bcc,
                        reply_to=plugin.reply_to,
                        smtp_host=plugin.smtp_host,
                        attach=attach,
                        headers={"X-Application": plugin.app_id, **plugin.headers},
                        names=plugin.names,
                        tzinfo=message_zone(plugin),
                    )
                )
        except AppriseEmailException:
            return False
        mode = plugin.secure_mode
        secure = mode != SecureMailMode.INSECURE
        smtp = aiosmtplib.SMTP(
            hostname=plugin.smtp_host,
            port=plugin.port,
            use_tls=mode == SecureMailMode.SSL,
            # Explicit: aiosmtplib would otherwise upgrade a plain URL whenever the server offers it
            start_tls=mode == SecureMailMode.STARTTLS,
            tls_context=tls_context(bool(plugin.verify_certificate)) if secure else None,
            # apprise's smtplib socket timeout: per connect and per command, as there
            timeout=plugin.socket_connect_timeout,
            local_hostname=await ehlo_name(),
        )
        accepted = True
        try:
            async with smtp:  # connects (and TLS as the URL asks); QUIT on the way out
                if plugin.user and plugin.password:
                    await smtp.login(plugin.user, plugin.password)
                for message in messages:
                    refused, _ = await smtp.sendmail(
                        str(plugin.from_addr[1]), message.to_addrs, message.body
                    )
                    accepted = accepted and not refused  # a refused recipient fails the send
        except (OSError, aiosmtplib.SMTPException):
            return False
        return accepted
