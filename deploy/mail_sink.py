"""A local SMTP mail sink for development: every message is saved as a .eml file and announced.

python -m deploy.mail_sink --port 1025 --dir .local/mail
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class SaveToFolder:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content: bytes = envelope.original_content or envelope.content
        name = f"{time.time_ns()}.eml"
        (self.folder / name).write_bytes(content)
        message = message_from_bytes(content, policy=default)
        print(
            f"mail-sink: to {', '.join(envelope.rcpt_tos)} | {message['subject']} | {self.folder / name}",
            flush=True,
        )
        return "250 Message accepted"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--dir", type=Path, default=Path(".local/mail"))
    args = parser.parse_args()
    controller = Controller(SaveToFolder(args.dir), hostname=args.host, port=args.port)
    controller.start()
    print(f"mail-sink: listening on {args.host}:{args.port}, saving to {args.dir}", flush=True)

    async def wait_for_signal() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()

    try:
        asyncio.run(wait_for_signal())
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
