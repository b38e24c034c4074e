"""The run command: the whole system on this machine, from nothing.

    python -m deploy.launcher

Starts (unless KAFKA_BOOTSTRAP_SERVERS points at a cluster) a local Kafka broker, creates the
topics, starts (unless STAFF_OIDC_ISSUER names a provider) a local Keycloak with one account per
rota person, starts the mail sink, the four services and the staff console, waits until every one
is ready, and prints where to look and how to sign in. Ctrl-C (or SIGTERM) stops every process it started: services first, broker last.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from deploy import keycloak as local_oidc
from deploy.kafka_broker import LocalKafka, free_port, start_and_wait
from deploy.processes import die_with_parent, stop_process
from shared.kafka import ensure_topics

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    env_prefix: str
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def service_specs(port_base: int) -> tuple[ServiceSpec, ...]:
    """intake on base+1, notifier +2, casework +3, meeting_scheduler +4 (8001–8004 by default)."""
    names = (("intake", "INTAKE"), ("notifier", "NOTIFIER"), ("casework", "CASEWORK"),
             ("meeting_scheduler", "MEETINGS"))  # fmt: skip
    return tuple(
        ServiceSpec(name, prefix, port_base + offset)
        for offset, (name, prefix) in enumerate(names, start=1)
    )


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


class Launcher:
    def __init__(self, state_dir: Path, mail_port: int, kafka_port: int, port_base: int) -> None:
        self.state_dir, self.mail_port, self.kafka_port = state_dir, mail_port, kafka_port
        self.services = service_specs(port_base)
        self.kafka: LocalKafka | None = None
        self.keycloak: local_oidc.LocalKeycloak | None = None
        self.console_port = port_base + 5
        self.children: dict[str, subprocess.Popen[bytes]] = {}

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        self.children[name] = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            start_new_session=True,  # Ctrl-C reaches the launcher only; it stops children in order
            preexec_fn=die_with_parent(),
        )
        print(f"launcher: started {name} (pid {self.children[name].pid})", flush=True)

    async def start(self) -> None:
        taken = [
            port
            for port in (self.mail_port, *(s.port for s in self.services), self.console_port)
            if not _port_free(port)
        ]
        if taken:
            raise RuntimeError(
                f"port(s) {', '.join(map(str, taken))} already in use: is the system already "
                "running? Choose others with --port-base / --mail-port."
            )
        # Keycloak's ports are chosen below 32768 as well, before these are bound.
        local_oidc.reserve_ports(
            [self.mail_port, *(s.port for s in self.services), self.console_port]
        )
        env = dict(os.environ)
        env.setdefault("SAFEGUARDING_ENV", "dev")
        if "KAFKA_BOOTSTRAP_SERVERS" not in env:
            port = self.kafka_port if _port_free(self.kafka_port) else free_port()
            print(f"launcher: starting Kafka on 127.0.0.1:{port}…", flush=True)
            self.kafka = await start_and_wait(self.state_dir / "kafka", port=port)
            env["KAFKA_BOOTSTRAP_SERVERS"] = self.kafka.bootstrap_servers
        bootstrap = env["KAFKA_BOOTSTRAP_SERVERS"]
        created = await ensure_topics(bootstrap, env.get("KAFKA_TOPIC_PREFIX", ""))
        print(f"launcher: Kafka ready at {bootstrap}; topics created: {len(created)}", flush=True)
        console_url = f"http://127.0.0.1:{self.console_port}"
        if "STAFF_OIDC_ISSUER" not in env:
            print("launcher: starting Keycloak for staff sign-in (about 20 s)…", flush=True)
            self.keycloak = await asyncio.to_thread(local_oidc.start_and_wait)
            print(f"launcher: started keycloak (pid {self.keycloak.process.pid})", flush=True)
            await asyncio.to_thread(local_oidc.register_console, self.keycloak, console_url)
            env["STAFF_OIDC_ISSUER"] = self.keycloak.issuer
        env["MAIL_SINK_PORT"] = str(self.mail_port)
        mail_dir = self.state_dir / "mail"
        self._spawn(
            "mail_sink",
            [
                sys.executable,
                "-m",
                "deploy.mail_sink",
                "--port",
                str(self.mail_port),
                "--dir",
                str(mail_dir),
            ],
            env,
        )
        notifier = self._service("notifier")
        env.setdefault("NOTIFIER_PUBLIC_URL", notifier.base_url)  # acknowledgement links point here
        # The dead-man's switch pages the operator at the mail sink (ops@). There is no SMS gateway
        # stand-in here, so a heartbeat ends at the notifier (NOTIFIER_HEARTBEAT_URLS unset).
        env.setdefault(
            "NOTIFIER_OPERATOR_URLS",
            json.dumps([f"mailto://127.0.0.1:{self.mail_port}?from=watchdog@safeguarding.local"
                        "&to=ops@safeguarding.local&mode=insecure"]),
        )  # fmt: skip
        for service in self.services:
            database = self.state_dir / "db" / f"{service.name}.sqlite3"
            env.setdefault(f"{service.env_prefix}_DATABASE_URL", f"sqlite+aiosqlite:///{database}")
            self._spawn(
                service.name,
                [
                    sys.executable, "-m", "faststream", "run",
                    f"services.{service.name}.main:create_app", "--factory",
                    "--host", "127.0.0.1", "--port", str(service.port),
                ],
                env,
            )  # fmt: skip
        env.setdefault("CONSOLE_PUBLIC_URL", console_url)
        for service in self.services:
            env.setdefault(f"CONSOLE_{service.env_prefix}_URL", service.base_url)
        self._spawn(
            "console",
            [sys.executable, "-m", "uvicorn", "services.console.main:create_app", "--factory",
             "--host", "127.0.0.1", "--port", str(self.console_port), "--no-server-header"],
            env,
        )  # fmt: skip
        await self._wait_ready()
        self._banner(mail_dir)

    async def _wait_ready(self, limit_seconds: float = 90.0) -> None:
        deadline = time.monotonic() + limit_seconds
        urls = [service.base_url for service in self.services]
        urls.append(f"http://127.0.0.1:{self.console_port}")
        async with httpx.AsyncClient(timeout=2.0) as client:
            for url in urls:
                while True:
                    self.check_children()
                    with contextlib.suppress(httpx.HTTPError):
                        response = await client.get(f"{url}/readyz")
                        if response.status_code == 200:
                            break
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{url} not ready after {limit_seconds:.0f}s")
                    await asyncio.sleep(0.3)

    def _service(self, name: str) -> ServiceSpec:
        return next(service for service in self.services if service.name == name)

    def check_children(self) -> None:
        for name, process in self.children.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with code {process.returncode}")

    def _banner(self, mail_dir: Path) -> None:
        example = (ROOT / "docs" / "examples" / "police-contact.v1.json").relative_to(ROOT)
        print(
            "\n".join(
                [
                    "",
                    "launcher: all services ready",
                    *(
                        f"  {s.name:<18} {s.base_url}  (docs: {s.base_url}/docs)"
                        for s in self.services
                    ),
                    f"  mail sink          smtp://127.0.0.1:{self.mail_port}  → {mail_dir}/",
                    f"  heartbeat          {self._service('notifier').base_url}/heartbeat  (a quiet "
                    "pipeline pages ops@safeguarding.local)",
                    "",
                    f"Staff console: http://127.0.0.1:{self.console_port}/ — sign in as a rota "
                    "person with the password '<person id>-dev-password':",
                    "  advisor-day, advisor-night (advisors), head-of-service (head of service and "
                    "vault reader), coordinator (meetings), childrens-safeguarding (no console role)",
                    "",
                    "Send the example police contact:",
                    f"  curl -s -X POST {self.services[0].base_url}/v1/contacts "
                    f"-H 'Content-Type: application/json' --data @{example}",
                    "Press Ctrl-C to stop everything.",
                    "",
                ]
            ),
            flush=True,
        )

    def stop(self) -> None:
        for name in [
            *reversed(list(self.children)),
        ]:
            code = stop_process(self.children[name])
            print(f"launcher: stopped {name} ({code})", flush=True)
        if self.keycloak is not None:
            self.keycloak.stop()
            print("launcher: stopped Keycloak", flush=True)
        if self.kafka is not None:
            self.kafka.stop()
            print("launcher: stopped Kafka", flush=True)


async def run(launcher: Launcher) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        starting = asyncio.create_task(launcher.start())
        stopping = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if stopping in done:
            starting.cancel()
            return 0
        starting.result()
        while not stop.is_set():
            launcher.check_children()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
        return 0
    except Exception as error:  # noqa: BLE001 - report, then stop whatever started
        print(f"launcher: {error}", file=sys.stderr, flush=True)
        return 1
    finally:
        launcher.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the whole system locally.")
    parser.add_argument("--state-dir", type=Path, default=ROOT / ".local")
    parser.add_argument(
        "--mail-port", type=int, default=int(os.environ.get("MAIL_SINK_PORT", "1025"))
    )
    parser.add_argument("--kafka-port", type=int, default=9092)
    parser.add_argument(
        "--port-base", type=int, default=int(os.environ.get("SAFEGUARDING_PORT_BASE", "8000"))
    )
    args = parser.parse_args()
    os.chdir(ROOT)
    launcher = Launcher(args.state_dir.resolve(), args.mail_port, args.kafka_port, args.port_base)
    sys.exit(asyncio.run(run(launcher)))


if __name__ == "__main__":
    main()
