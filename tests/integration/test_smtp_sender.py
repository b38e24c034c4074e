"""E-mail alerts through aiosmtplib with shared TLS contexts (services/notifier/adapters/
smtp_sender.py), against real SMTP servers (aiosmtpd): plain, STARTTLS and implicit TLS as the
URL asks, login, from/to/subject/body as apprise wrote them, refusals and a silent server failing
the send, and one TLS context built for many sends."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from deploy.kafka_broker import free_port
from services.notifier.adapters import smtp_sender
from services.notifier.adapters.channel_sender import ChannelSender
from services.notifier.adapters.smtp_sender import SmtpSender
from services.notifier.ports import Attachment
from tests.support.tls import server_context

pytestmark = pytest.mark.integration

FROM = "alerts@test.local"


@dataclass
class Received:
    message: EmailMessage
    mail_from: str
    rcpt_tos: list[str]
    tls: bool
    login: str | None


@dataclass
class Handler:
    received: list[Received] = field(default_factory=list)
    refuse_recipients: bool = False
    ehlo_names: list[str] = field(default_factory=list)

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.ehlo_names.append(hostname)
        session.host_name = hostname
        return responses

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.refuse_recipients or address.startswith("refused"):
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.original_content or envelope.content, policy=default)
        assert isinstance(message, EmailMessage)
        login = session.auth_data.decode() if isinstance(session.auth_data, bytes) else None
        self.received.append(
            Received(message, envelope.mail_from, list(envelope.rcpt_tos),
                     # STARTTLS shows in the session, implicit TLS in the transport
                     session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None,
                     login)
        )  # fmt: skip
        return "250 OK"


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"alerts", b"s3cret")
    return AuthResult(success=ok, auth_data=data.login if ok else None)


@pytest.fixture(scope="module")
def server_tls(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    """A self-signed certificate for 127.0.0.1: only a URL with verify=no may accept it."""
    return server_context(tmp_path_factory.mktemp("tls"))


@contextmanager
def smtp_server(**options: Any) -> Iterator[tuple[Handler, int]]:
    handler = Handler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def _url(scheme: str, port: int, query: str = "", auth: str = "") -> str:
    return f"{scheme}://{auth}127.0.0.1:{port}?from={FROM}&to=duty@test.local{query}"


async def test_plain_smtp_carries_from_to_subject_body_and_attachment() -> None:
    with smtp_server() as (handler, port):
        accepted = await SmtpSender().send(
            _url("mailto", port, "&mode=insecure"),
            "Reminder 2 of 3: [PRIORITY] Modern slavery referral MS-2026-T00001",
            "Case MS-2026-T00001\nAcknowledge: code K7Q2-M4XD-9BHT",
            (Attachment("agenda.pdf", "application/pdf", b"%PDF-1.7 canary"),),
        )
    assert accepted
    [got] = handler.received
    assert (got.mail_from, got.rcpt_tos, got.tls) == (FROM, ["duty@test.local"], False)
    assert got.message["subject"] == (
        "Reminder 2 of 3: [PRIORITY] Modern slavery referral MS-2026-T00001"
    )
    assert got.message["from"] == FROM
    assert got.message["to"] == "duty@test.local"
    body = got.message.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content().replace("\r\n", "\n").strip()
    assert text == "Case MS-2026-T00001\nAcknowledge: code K7Q2-M4XD-9BHT"
    [attached] = list(got.message.iter_attachments())
    assert attached.get_filename() == "agenda.pdf"
    assert attached.get_content() == b"%PDF-1.7 canary"


async def test_a_plain_url_is_not_upgraded_even_when_the_server_offers_starttls(
    server_tls: ssl.SSLContext,
) -> None:
    with smtp_server(tls_context=server_tls, auth_require_tls=False) as (handler, port):
        assert await SmtpSender().send(_url("mailto", port, "&mode=insecure"), "T", "B")
    assert [got.tls for got in handler.received] == [False]


async def test_starttls_with_login(server_tls: ssl.SSLContext) -> None:
    """mailtos:// means STARTTLS on 587 unless told otherwise; login only once secured."""
    with smtp_server(
        tls_context=server_tls, require_starttls=True, authenticator=_authenticate
    ) as (handler, port):
        url = _url("mailtos", port, "&verify=no", auth="alerts:s3cret@")
        assert await SmtpSender().send(url, "Subject", "Body")
        # aiosmtpd answers a failed AUTH by not answering (smtplib waits the same): a short timeout
        wrong = _url("mailtos", port, "&verify=no&cto=1", auth="alerts:wrong@")
        assert not await SmtpSender().send(wrong, "Subject", "Body")
    assert [(got.tls, got.login) for got in handler.received] == [(True, "alerts")]


async def test_implicit_tls(server_tls: ssl.SSLContext) -> None:
    with smtp_server(ssl_context=server_tls) as (handler, port):
        assert await SmtpSender().send(_url("mailtos", port, "&mode=ssl&verify=no"), "S", "B")
    assert [got.tls for got in handler.received] == [True]


async def test_certificates_are_verified_unless_the_url_says_not(
    server_tls: ssl.SSLContext,
) -> None:
    with smtp_server(tls_context=server_tls, require_starttls=True) as (handler, port):
        assert not await SmtpSender().send(_url("mailtos", port), "Subject", "Body")
    with smtp_server(ssl_context=server_tls) as (handler, port):
        assert not await SmtpSender().send(_url("mailtos", port, "&mode=ssl"), "Subject", "Body")
    assert handler.received == []


async def test_one_context_per_kind_for_every_send(
    server_tls: ssl.SSLContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The point of the change: building a context (parsing the CA bundle) once, not per message."""
    built: list[ssl.SSLContext] = []
    create = ssl.create_default_context

    def counting(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        built.append(create(*args, **kwargs))
        return built[-1]

    smtp_sender.tls_context.cache_clear()
    monkeypatch.setattr(ssl, "create_default_context", counting)
    with smtp_server(tls_context=server_tls, require_starttls=True) as (handler, port):
        for _ in range(5):
            assert await SmtpSender().send(_url("mailtos", port, "&verify=no"), "S", "B")
            assert not await SmtpSender().send(_url("mailtos", port), "S", "B")
    assert len(handler.received) == 5
    assert len(built) == 2  # one that verifies, one that does not; neither changed after
    smtp_sender.tls_context.cache_clear()
    assert smtp_sender.tls_context(True).verify_mode == ssl.CERT_REQUIRED
    assert smtp_sender.tls_context(True).check_hostname
    assert smtp_sender.tls_context(False).verify_mode == ssl.CERT_NONE


async def test_the_ehlo_name_is_looked_up_once_for_every_send(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """aiosmtplib would call socket.getfqdn (on a worker thread) for every connection."""
    lookups: list[str] = []
    getfqdn = socket.getfqdn

    def counting(name: str = "") -> str:
        lookups.append(getfqdn(name))
        return lookups[-1]

    monkeypatch.setattr(smtp_sender, "_ehlo_name", None, raising=False)
    monkeypatch.setattr(socket, "getfqdn", counting)
    with smtp_server(server_hostname="sink.test.local") as (handler, port):  # none of its own
        for _ in range(3):
            assert await SmtpSender().send(_url("mailto", port, "&mode=insecure"), "S", "B")
    assert len(handler.received) == 3
    assert len(lookups) == 1
    assert handler.ehlo_names == [getfqdn()] * 3  # the name aiosmtplib itself would have given


async def test_a_refused_recipient_or_an_unparsable_url_fails_the_send() -> None:
    with smtp_server() as (handler, port):
        handler.refuse_recipients = True
        assert not await SmtpSender().send(_url("mailto", port, "&mode=insecure"), "S", "B")
        handler.refuse_recipients = False  # now only the copy's: the message goes, the send fails
        copied = _url("mailto", port, "&mode=insecure&cc=refused@test.local")
        assert not await SmtpSender().send(copied, "S", "B")
        # no from address and no user to make one of: apprise refuses this URL, and so do we
        assert not await SmtpSender().send(f"mailtos://127.0.0.1:{port}?to=a@test.local", "S", "B")
    assert [got.rcpt_tos for got in handler.received] == [["duty@test.local"]]


@pytest.fixture
async def silent_server() -> AsyncIterator[int]:
    """Accepts connections and never greets: a hung mail server."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()


async def test_a_hung_server_fails_the_send_within_the_urls_timeout(silent_server: int) -> None:
    started = time.monotonic()
    url = _url("mailto", silent_server, "&mode=insecure&cto=1")
    assert not await SmtpSender().send(url, "S", "B")
    assert time.monotonic() - started < 5


async def test_the_channel_sender_sends_email_itself_and_the_rest_through_apprise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []

    async def other(self: Any, url: str, *args: Any) -> bool:
        calls.append(url)
        return True

    monkeypatch.setattr("services.notifier.adapters.apprise_sender.AppriseSender.send", other)
    with smtp_server() as (handler, port):
        sender = ChannelSender()
        assert await sender.send(_url("MAILTO", port, "&mode=insecure"), "S", "B")
        assert await sender.send("jsons://gateway.example.org/sms", "S", "B")
    assert len(handler.received) == 1
    assert calls == ["jsons://gateway.example.org/sms"]
