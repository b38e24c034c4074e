"""The whole system as staff meet it, for the browser tests: the four services as processes
(tests/support/live.py) on the shipped rota (deploy/config/rota.yaml, whose people are Keycloak's
users) with their phones pointed at the SMS gateway stand-in and their e-mail at the test's SMTP
sink, the staff console as a process (uvicorn, as the run command starts it), and Keycloak as the
OpenID provider of both."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from deploy.kafka_broker import free_port
from deploy.keycloak import API_AUDIENCE, LocalKeycloak, register_console
from deploy.processes import die_with_parent, stop_process
from tests.support import system
from tests.support.http_gateway import Gateway, RunningGateway
from tests.support.live import LiveSystem
from tests.support.smtp import SmtpSink

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "config"
# The realm's users (deploy/keycloak/safeguarding-realm.json); the password is `<id>-dev-password`.
ADVISORS = ("advisor-day", "advisor-night")
HEAD = "head-of-service"
COORDINATOR = "coordinator"
NO_ROLE = "childrens-safeguarding"


def staff_env(issuer: str, gateway: Gateway, smtp_port: int) -> dict[str, dict[str, str]]:
    oidc = {"STAFF_OIDC_ISSUER": issuer, "STAFF_OIDC_AUDIENCE": API_AUDIENCE}
    phones = {
        f"{person.upper().replace('-', '_')}_{kind.upper()}_URL": gateway.url(f"{kind}/{person}")
        for person in (*ADVISORS, HEAD)
        for kind in ("sms", "voice")
    }
    return {
        "intake": oidc | {"STAFF_OIDC_ROLES_CLAIM": "realm_access.roles"},
        "notifier": oidc | phones | {
            "NOTIFIER_ROTA_FILE": str(CONFIG / "rota.yaml"),
            "NOTIFIER_STAFF_TOKENS": json.dumps({HEAD: "test-token-head"}),
            "MAIL_SINK_PORT": str(smtp_port),
        },
        "casework": oidc | {
            "CASEWORK_ROTA_FILE": str(CONFIG / "rota.yaml"),
            "CASEWORK_STAFF_TOKENS": json.dumps(system.STAFF_TOKENS),
            # The quarter's report is rebuilt by hand in the browser tests; the shipped 15-minute
            # timer would add a version under a test that counts them if the package ran longer.
            "CASEWORK_QUARTER_POLL_SECONDS": "86400",
        },
        "meeting_scheduler": oidc,
    }  # fmt: skip


@dataclass
class ConsoleSystem:
    live: LiveSystem
    gateway: Gateway
    smtp: SmtpSink
    provider: LocalKeycloak
    console_url: str
    console_log: Path
    stack: AsyncExitStack = field(repr=False)

    def logs(self) -> str:
        console = self.console_log.read_text(errors="replace") if self.console_log.exists() else ""
        return f"{self.live.logs()}\n{console}"

    async def close(self) -> None:
        await self.stack.aclose()


async def start_console_system(
    provider: LocalKeycloak, kafka: str, prefix: str, folder: Path, step_seconds: float = 20.0
) -> ConsoleSystem:
    stack = AsyncExitStack()
    try:
        gateway = await stack.enter_async_context(RunningGateway())
        smtp = stack.enter_context(SmtpSink())
        urls = {
            name: f"sqlite+aiosqlite:///{folder}/{name}.sqlite3"
            for name in ("intake", "notifier", "casework", "meeting_scheduler")
        }
        live = await stack.enter_async_context(
            LiveSystem(
                kafka, prefix, urls, folder / "live", gateway, smtp.port,
                step_seconds=step_seconds, extra_env=staff_env(provider.issuer, gateway, smtp.port),
            )
        )  # fmt: skip
        port = free_port()
        console_url = f"http://127.0.0.1:{port}"
        await asyncio.to_thread(register_console, provider, console_url)
        env = dict(os.environ) | {
            "SAFEGUARDING_ENV": "test",
            "LOG_LEVEL": "INFO",
            "STAFF_OIDC_ISSUER": provider.issuer,
            "STAFF_OIDC_AUDIENCE": API_AUDIENCE,
            "CONSOLE_PUBLIC_URL": console_url,
            "CONSOLE_INTAKE_URL": live["intake"].url,
            "CONSOLE_NOTIFIER_URL": live["notifier"].url,
            "CONSOLE_CASEWORK_URL": live["casework"].url,
            "CONSOLE_MEETINGS_URL": live["meeting_scheduler"].url,
            "CONSOLE_POLL_SECONDS": "2",
        }
        log = folder / "console.log"
        with log.open("ab") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "services.console.main:create_app", "--factory",
                 "--host", "127.0.0.1", "--port", str(port), "--no-server-header"],
                cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent(),
            )  # fmt: skip
        stack.callback(stop_process, process)
        await _wait_ready(console_url, process, log)
        return ConsoleSystem(live, gateway, smtp, provider, console_url, log, stack)
    except BaseException:
        await stack.aclose()
        raise


async def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"the console exited with {process.returncode}; see {log}")
            try:
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError(f"the console was not ready in 60 s; see {log}")
