"""`python -m bench.smtp_send`: CPU per e-mail, stock apprise against the notifier's SmtpSender.

apprise builds a TLS context (parsing the system CA bundle) for every e-mail; SmtpSender
(services/notifier/adapters/smtp_sender.py) sends through aiosmtplib with contexts built once.
This sends N messages each way to a local aiosmtpd sink running in another process (so its CPU is
not counted), in interleaved blocks so both ways see the same machine, and prints this process's
CPU time (all threads: apprise sends from a worker thread) per message. Two transports: plain SMTP
(`mode=insecure`, as the local stand-in is) and STARTTLS with a self-signed certificate
(`verify=no`); a deployment's mailtos:// URL is the second, with verification on.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from deploy.kafka_broker import free_port
from services.notifier.adapters import smtp_sender
from services.notifier.adapters.apprise_sender import AppriseSender
from services.notifier.adapters.smtp_sender import SmtpSender
from tests.support.tls import self_signed

SINK = """
import ssl, sys, time
from aiosmtpd.controller import Controller
class Sink:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[2], sys.argv[3])
controller = Controller(Sink(), hostname="127.0.0.1", port=int(sys.argv[1]), tls_context=context,
                        auth_require_tls=False)
controller.start()
print("ready", flush=True)
sys.stdin.read()
controller.stop()
"""
TITLE = "Reminder 2 of 3: [PRIORITY] Modern slavery referral MS-2026-T00001"
BODY = "Case MS-2026-T00001\nUrgency: priority\nDistrict: Norwich\nAcknowledge: code K7Q2-M4XD-9BHT"
Send = Callable[[str, str, str], Awaitable[bool]]


def _ehlo_name_each_time(send: Send) -> Send:
    """SmtpSender as it was before it kept the EHLO name: looked up (socket.getfqdn on a worker
    thread) for every connection, which is what aiosmtplib does when given none."""

    async def sending(url: str, title: str, body: str) -> bool:
        smtp_sender._ehlo_name = None
        return await send(url, title, body)

    return sending


async def _block(send: Send, url: str, count: int) -> float:
    """CPU seconds of this process for `count` sends, one after another."""
    started = time.process_time()
    for _ in range(count):
        if not await send(url, TITLE, BODY):
            raise RuntimeError("the sink refused a message")
    return time.process_time() - started


@contextmanager
def sink_process() -> Iterator[int]:
    """The sink in a process of its own (its CPU is not this process's); yields its port."""
    with tempfile.TemporaryDirectory(prefix="smtp-bench-") as folder:
        cert, key = self_signed(Path(folder))
        port = free_port()
        sink = subprocess.Popen(  # noqa: S603 - this interpreter, this file's script
            [sys.executable, "-c", SINK, str(port), str(cert), str(key)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            if sink.stdout is None or sink.stdout.readline().strip() != "ready":
                raise RuntimeError("the SMTP sink did not start")
            yield port
        finally:
            if sink.stdin is not None:
                sink.stdin.close()
            sink.wait(timeout=10)


async def measure(port: int, messages: int, block: int) -> dict[str, dict[str, float]]:
    base = f"127.0.0.1:{port}?from=alerts@bench.local&to=duty@bench.local"
    urls = {"plain": f"mailto://{base}&mode=insecure", "starttls": f"mailtos://{base}&verify=no"}
    ways: dict[str, Send] = {
        "apprise": AppriseSender().send,
        "aiosmtplib": SmtpSender().send,
        "ehlo_each_time": _ehlo_name_each_time(SmtpSender().send),
    }
    results: dict[str, dict[str, float]] = {}
    for transport, url in urls.items():
        for send in ways.values():
            await _block(send, url, 10)  # warm up: imports, caches, the first contexts
        spent = dict.fromkeys(ways, 0.0)
        for _ in range(messages // block):  # interleaved: both ways see the same machine
            for way, send in ways.items():
                spent[way] += await _block(send, url, block)
        results[transport] = {way: 1000 * cpu / messages for way, cpu in spent.items()}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=300, help="per way and transport")
    parser.add_argument("--block", type=int, default=50, help="messages per interleaved block")
    args = parser.parse_args()
    with sink_process() as port:
        results = asyncio.run(measure(port, args.messages, args.block))
    print(f"CPU ms per e-mail (this process, all threads), {args.messages} messages each way")
    print(
        "(the last column: aiosmtplib with the EHLO name looked up for every connection, as before"
    )
    print(" SmtpSender kept it; its saving is what keeping it saves)")
    print(
        f"{'transport':<10} {'apprise':>9} {'aiosmtplib':>11} {'saving':>7} {'EHLO each':>10} {'saving':>7}"
    )
    for transport, row in results.items():
        saving = 1 - row["aiosmtplib"] / row["apprise"]
        kept = 1 - row["aiosmtplib"] / row["ehlo_each_time"]
        print(
            f"{transport:<10} {row['apprise']:>9.2f} {row['aiosmtplib']:>11.2f} {saving:>7.0%}"
            f" {row['ehlo_each_time']:>10.2f} {kept:>7.1%}"
        )
    print(
        f"(mean of both transports' savings: {statistics.mean(1 - r['aiosmtplib'] / r['apprise'] for r in results.values()):.0%})"
    )


if __name__ == "__main__":
    main()
