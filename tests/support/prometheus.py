"""A real Prometheus server (Debian's package) for tests: a config that scrapes the given
services every second, started on a port below 32768 with its data in the test's folder, its HTTP
API (targets, alerts, instant queries), and a stop that always reaps the process."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from deploy.keycloak import free_ports_below_32768
from deploy.processes import die_with_parent, stop_process


def write_config(
    folder: Path,
    jobs: dict[str, str],
    rule_files: list[Path],
    interval: str = "1s",
) -> Path:
    """prometheus.yml scraping each job's one target ("127.0.0.1:port") every `interval` and
    evaluating the rules as often."""
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval,
                   "scrape_timeout": interval},
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [target]}]}
            for job, target in jobs.items()
        ],
    }  # fmt: skip
    path = folder / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@dataclass
class Prometheus:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def wait_ready(self, within: float = 30.0) -> float:
        """Seconds until /-/ready answers 200."""
        started = time.monotonic()
        async with httpx.AsyncClient(timeout=2) as client:
            while True:
                if self.process.poll() is not None:
                    raise AssertionError(
                        f"prometheus exited with {self.process.returncode}: {self.logs()}"
                    )
                try:
                    if (await client.get(f"{self.url}/-/ready")).status_code == 200:
                        return time.monotonic() - started
                except httpx.HTTPError:
                    pass
                if time.monotonic() - started > within:
                    raise AssertionError(f"prometheus not ready in {within:.0f} s: {self.logs()}")
                await asyncio.sleep(0.1)

    async def api(self, path: str, **params: str) -> Any:
        """The `data` of a /api/v1 answer (which must be a success)."""
        async with httpx.AsyncClient(timeout=5) as client:
            response = await client.get(f"{self.url}/api/v1/{path}", params=params)
        body = response.json()
        assert response.status_code == 200, body
        assert body["status"] == "success", body
        return body["data"]

    async def targets(self) -> dict[str, str]:
        """job → health ("up", "down" or "unknown") of its active target."""
        data = await self.api("targets", state="active")
        return {target["labels"]["job"]: target["health"] for target in data["activeTargets"]}

    async def alerts(self) -> list[dict[str, Any]]:
        """Pending and firing alerts (resolved ones leave this list)."""
        found: list[dict[str, Any]] = (await self.api("alerts"))["alerts"]
        return found

    async def firing(self, alertname: str) -> list[dict[str, str]]:
        """The label sets of `alertname`'s firing alerts."""
        return [
            alert["labels"]
            for alert in await self.alerts()
            if alert["labels"]["alertname"] == alertname and alert["state"] == "firing"
        ]

    async def query(self, expr: str) -> list[dict[str, Any]]:
        data = await self.api("query", query=expr)
        result: list[dict[str, Any]] = data["result"]
        return result

    def logs(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def stop(self) -> None:
        stop_process(self.process)


def start(config: Path, folder: Path, port: int | None = None) -> Prometheus:
    """Prometheus on 127.0.0.1 with its TSDB in `folder`; raises if the package is missing."""
    binary = shutil.which("prometheus")
    assert binary, "prometheus is missing: apt-get install prometheus (deploy/test.sh does)"
    if port is None:
        (port,) = free_ports_below_32768(1)
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "prometheus.log"
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={folder / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            cwd=folder, stdout=sink, stderr=subprocess.STDOUT, preexec_fn=die_with_parent(),
        )  # fmt: skip
    return Prometheus(process, port, log)
