"""`python -m bench.sms_send`: CPU per SMS to an HTTP SMS or voice gateway (`json://`,
`jsons://`): stock apprise, the notifier's sender, and the same request on a kept connection.

apprise 2.2.0's JSON plugin sends each message with `requests.request`, which opens a session, a
connection pool and a connection for that one message; over https urllib3 also builds a TLS
context and loads a CA bundle into it, even with `verify=no`. The notifier's sender runs apprise's
plugin with its TLS contexts built once (services/notifier/adapters/json_tls.py), still on a new
connection for each message. The bench's gateway stand-in is plain http, so `python -m bench`
does not see the https cost. This sends N messages each way to a local gateway running in another
process (its CPU is not counted), plain and over TLS with a self-signed certificate (`verify=no`),
in interleaved blocks, and prints this process's CPU time (all threads: apprise sends from a
worker thread) per message. The third way is one `requests.Session` kept for the run, posting the
same JSON body: what keeping the connection too would cost. It is a reference, not something the
notifier does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import apprise
import requests
from urllib3.exceptions import InsecureRequestWarning

from deploy.kafka_broker import free_port
from services.notifier.adapters.apprise_sender import AppriseSender
from tests.support.tls import self_signed

GATEWAY = """
import http.server, ssl, sys
class Gateway(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        answer = b'{"accepted": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Gateway)
if sys.argv[2] == "tls":
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[3], sys.argv[4])
    server.socket = context.wrap_socket(server.socket, server_side=True)
print("ready", flush=True)
server.serve_forever()
"""
TITLE = "[PRIORITY] Modern slavery referral MS-2026-T00001"
BODY = "MS-2026-T00001: priority referral, Norwich. Reply K7Q2M4 to take it."
Send = Callable[[str], Awaitable[bool]]


@contextmanager
def gateway_process(transport: str) -> Iterator[int]:
    """The gateway in a process of its own; yields its port."""
    with tempfile.TemporaryDirectory(prefix="sms-bench-") as folder:
        cert, key = self_signed(Path(folder))
        port = free_port()
        gateway = subprocess.Popen(  # noqa: S603 - this interpreter, this file's script
            [sys.executable, "-c", GATEWAY, str(port), transport, str(cert), str(key)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            if gateway.stdout is None or gateway.stdout.readline().strip() != "ready":
                raise RuntimeError("the gateway did not start")
            yield port
        finally:
            gateway.terminate()
            gateway.wait(timeout=10)


def kept_session() -> Send:
    """The same POST (apprise's JSON body and headers) on one requests.Session kept for the run,
    from a worker thread as apprise sends."""
    session = requests.Session()
    headers = {"User-Agent": "Apprise", "Content-Type": "application/json"}
    payload = json.dumps(
        {"version": "1.0", "title": TITLE, "message": BODY, "attachments": [], "type": "info"}
    )

    async def send(url: str) -> bool:
        target = url.replace("jsons://", "https://").replace("json://", "http://")
        target = target.split("?", 1)[0]
        answer = await asyncio.to_thread(
            session.post, target, data=payload, headers=headers, verify=False, timeout=4
        )
        return answer.ok

    return send


async def _block(send: Send, url: str, count: int) -> float:
    """CPU seconds of this process for `count` sends, one after another."""
    started = time.process_time()
    for _ in range(count):
        if not await send(url):
            raise RuntimeError("the gateway refused a message")
    return time.process_time() - started


async def measure(transport: str, port: int, messages: int, block: int) -> dict[str, float]:
    scheme, query = ("jsons", "?verify=no") if transport == "tls" else ("json", "")
    url = f"{scheme}://127.0.0.1:{port}/sms{query}"
    notifier_sender = AppriseSender()

    async def stock_apprise(target: str) -> bool:
        sending = apprise.Apprise()
        sending.add(target)
        return bool(
            await sending.async_notify(
                body=BODY, title=TITLE, body_format=apprise.NotifyFormat.TEXT
            )
        )

    async def notifier(target: str) -> bool:
        return await notifier_sender.send(target, TITLE, BODY)

    ways: dict[str, Send] = {"apprise": stock_apprise, "notifier": notifier, "kept": kept_session()}
    for send in ways.values():
        await _block(send, url, 10)  # warm up: imports, caches, the first connection
    spent = dict.fromkeys(ways, 0.0)
    for _ in range(messages // block):  # interleaved: both ways see the same machine
        for way, send in ways.items():
            spent[way] += await _block(send, url, block)
    return {way: 1000 * cpu / (messages // block * block) for way, cpu in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=300, help="per way and transport")
    parser.add_argument("--block", type=int, default=50, help="messages per interleaved block")
    args = parser.parse_args()
    if args.messages < args.block or args.block < 1:
        parser.error("--messages must be at least --block, and --block at least 1")
    warnings.simplefilter("ignore", InsecureRequestWarning)  # verify=no is the point here
    results = {}
    for transport in ("plain", "tls"):
        with gateway_process(transport) as port:
            results[transport] = asyncio.run(measure(transport, port, args.messages, args.block))
    print(f"CPU ms per SMS (this process, all threads), {args.messages} messages each way")
    print(f"{'transport':<10} {'apprise':>9} {'notifier':>9} {'kept session':>13}")
    for transport, row in results.items():
        print(
            f"{transport:<10} {row['apprise']:>9.2f} {row['notifier']:>9.2f} {row['kept']:>13.2f}"
        )


if __name__ == "__main__":
    main()
