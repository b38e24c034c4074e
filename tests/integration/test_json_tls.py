"""apprise's JSON plugin with TLS contexts built once (services/notifier/adapters/json_tls.py):
a gateway receives from `KeptContextJSON` exactly what it receives from stock apprise, plain and
over TLS; the CA bundle is read once for the process, not once a message; a certificate that the
bundle does not vouch for is still refused; a bundle named in the environment is still requests'
to load; and the notifier's sender uses this plugin for `json://` and `jsons://`. A real HTTP
server in a thread records every request; no mocks of requests or urllib3."""

from __future__ import annotations

import ast
import inspect
import json
import ssl
import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import apprise
import pytest
from apprise.plugins.custom_json import NotifyJSON

from services.notifier.adapters import json_tls
from services.notifier.adapters.apprise_sender import AppriseSender, new_plugins
from services.notifier.adapters.json_tls import KeptContextJSON, OneContextRequests
from services.notifier.ports import Attachment
from tests.support.tls import self_signed


@dataclass
class Recorder:
    requests: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0
    cert: Path | None = None


@pytest.fixture(params=["plain", "tls"])
def gateway(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Recorder, str]]:
    """A recording HTTP/1.1 server, plain or TLS (self-signed for 127.0.0.1); the recorder and
    the scheme apprise reaches it with."""
    with recording_gateway(request.param, tmp_path) as running:
        yield running


@pytest.fixture
def tls_gateway(tmp_path: Path) -> Iterator[tuple[Recorder, str]]:
    with recording_gateway("tls", tmp_path) as running:
        yield running


@contextmanager
def recording_gateway(kind: str, tmp_path: Path) -> Iterator[tuple[Recorder, str]]:
    recorder = Recorder()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _record(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            parts = urlsplit(self.path)
            recorder.requests.append({
                "method": self.command, "path": parts.path, "query": parse_qs(parts.query),
                "headers": sorted((k.lower(), v) for k, v in self.headers.items()),
                "body": json.loads(self.rfile.read(length) or b"null"),
            })  # fmt: skip
            answer = b'{"accepted": true}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_POST = do_PUT = _record

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if kind == "tls":
        recorder.cert, key = self_signed(tmp_path)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(recorder.cert, key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    recorder.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield recorder, ("jsons" if kind == "tls" else "json")
    finally:
        server.shutdown()
        server.server_close()


def urls(scheme: str, port: int) -> list[str]:
    unchecked = "verify=no&" if scheme == "jsons" else ""
    return [
        f"{scheme}://127.0.0.1:{port}/sms" + ("?verify=no" if unchecked else ""),
        f"{scheme}://gateway:s3cret@127.0.0.1:{port}/v1/messages?{unchecked}method=PUT"
        "&+X-Token=abc123&-to=447700900123&-from=Safeguard%20Line&:message=text&:type=",
        f"{scheme}://gateway@127.0.0.1:{port}/?{unchecked}:title=",
    ]


MESSAGES = [
    ("Priority referral", "MS-2026-7KQ2M4: priority referral, Norwich. Reply 4821 to take it."),
    ("", "  Leading and trailing spaces, a £ sign and an é  "),
    ("A title\nwith a line break", "Line one\nLine two\r\nLine three"),
]


async def stock_send(url: str, title: str, body: str) -> bool:
    """apprise as it comes: its own URL lookup and its own NotifyJSON."""
    notifier = apprise.Apprise()
    assert notifier.add(url)
    return bool(await notifier.async_notify(body=body, title=title,
                                            body_format=apprise.NotifyFormat.TEXT))  # fmt: skip


async def test_the_notifier_s_sender_uses_the_kept_context_plugin_for_json_urls() -> None:
    for url in ("json://127.0.0.1:9/sms", "jsons://gateway.example/sms?verify=no"):
        made = new_plugins(url)
        assert made is not None
        assert [type(plugin) for plugin in made] == [KeptContextJSON]


async def test_a_gateway_receives_what_stock_apprise_sends(gateway: tuple[Recorder, str]) -> None:
    recorder, scheme = gateway
    sender = AppriseSender()
    for url in urls(scheme, recorder.port):
        for title, body in MESSAGES:
            assert await stock_send(url, title, body), url
            assert await sender.send(url, title, body), url
            stock, kept = recorder.requests[-2:]
            assert kept == stock, url
    renamed = next(r for r in recorder.requests if r["path"] == "/v1/messages")
    assert renamed["method"] == "PUT"
    assert ("x-token", "abc123") in renamed["headers"]
    assert renamed["query"] == {"to": ["447700900123"], "from": ["Safeguard Line"]}
    assert "type" not in renamed["body"]
    assert renamed["body"]["text"] == MESSAGES[0][1]


async def test_an_attachment_goes_as_apprise_sends_it(gateway: tuple[Recorder, str]) -> None:
    recorder, scheme = gateway
    url = urls(scheme, recorder.port)[0]
    pdf = Attachment(filename="agenda.pdf", content_type="application/pdf", content=b"%PDF-1.4")
    assert await AppriseSender().send(url, "Agenda", "attached", (pdf,))
    (sent,) = recorder.requests[-1]["body"]["attachments"]
    assert sent["filename"] == "agenda.pdf"
    assert sent["base64"] == "JVBERi0xLjQ="


async def test_the_ca_bundle_is_read_once_and_still_checks_certificates(
    tls_gateway: tuple[Recorder, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the certificate checked, against a bundle that vouches for the gateway (its own
    certificate, in place of certifi's), messages go through and the bundle is read once; a
    bundle that does not vouch for it refuses the message, as stock apprise does."""
    recorder, _ = tls_gateway
    assert recorder.cert is not None
    url = f"jsons://127.0.0.1:{recorder.port}/sms"
    sender = AppriseSender()
    for name in json_tls.ENVIRONMENT_BUNDLES:
        monkeypatch.delenv(name, raising=False)
    json_tls.tls_context.cache_clear()
    try:
        assert not await sender.send(url, "t", "refused: certifi does not vouch for it")
        assert not await stock_send(url, "t", "refused by stock apprise too")
        json_tls.tls_context.cache_clear()
        monkeypatch.setattr(json_tls, "DEFAULT_CA_BUNDLE_PATH", str(recorder.cert))
        reads: list[str] = []
        loading = ssl.SSLContext.load_verify_locations

        def counted(context: ssl.SSLContext, *args: Any, **kwargs: Any) -> None:
            reads.append(str(kwargs.get("cafile") or args[0]))
            loading(context, *args, **kwargs)

        monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counted)
        for _ in range(3):
            assert await sender.send(url, "t", "vouched for")
        assert reads == [str(recorder.cert)]
        assert len(recorder.requests) == 3
    finally:
        json_tls.tls_context.cache_clear()


async def test_a_bundle_named_in_the_environment_is_left_to_requests(
    tls_gateway: tuple[Recorder, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder, _ = tls_gateway
    assert recorder.cert is not None
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(recorder.cert))
    url = f"jsons://127.0.0.1:{recorder.port}/sms"
    assert await AppriseSender().send(url, "t", "the environment's bundle vouches for it")
    assert await stock_send(url, "t", "as it does for stock apprise")


def test_the_stand_in_for_requests_has_everything_apprise_s_send_uses() -> None:
    """An apprise upgrade that calls more of requests in `NotifyJSON.send` fails here, not in a
    page that could not be sent."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(NotifyJSON.send)))
    used = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "requests"
    }
    assert used == {"request", "RequestException"}
    assert all(hasattr(OneContextRequests, name) for name in used)
