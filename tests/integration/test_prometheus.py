"""A real Prometheus (Debian's package) scrapes the four services running as real processes and
evaluates deploy/monitoring/rules.yml: every target is up and nothing fires; killing casework
fires ServiceDown for casework alone, and starting it again resolves it; killing intake (the
heartbeat's source) fires PipelineQuiet, and starting it again resolves it.

The rules are the shipped file with two kinds of edit, for time only: every `for:` becomes 2 s
and PipelineQuiet's staleness threshold (180 s, three missed heartbeats a minute apart) becomes
8 s, with a heartbeat every second. Every expression is otherwise the shipped one, so a rule
that reads a wrong metric name or label fails here. SQLite only: the rules read the services'
metrics, and nothing here depends on the database kind (the fault suite covers both)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from deploy.keycloak import free_ports_below_32768
from tests.support import prometheus
from tests.support.dashboard import dashboard_queries, for_grafana_variables
from tests.support.databases import DatabaseUrls
from tests.support.http_gateway import Gateway, RunningGateway
from tests.support.live import SERVICES, LiveSystem
from tests.support.smtp import SmtpSink
from tests.support.system import ROOT
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

RULES = ROOT / "deploy" / "monitoring" / "rules.yml"
DASHBOARD = ROOT / "deploy" / "monitoring" / "dashboard.json"
TEST_FOR = "2s"
SHIPPED_STALENESS = "> 180"
TEST_STALENESS = "> 8"


def rules_for_test(folder: Path) -> Path:
    """rules.yml with shorter `for:` durations and heartbeat staleness (see the docstring)."""
    rules = yaml.safe_load(RULES.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = TEST_FOR
            if rule["alert"] == "PipelineQuiet":
                assert rule["expr"].count(SHIPPED_STALENESS) == 1, rule["expr"]
                rule["expr"] = rule["expr"].replace(SHIPPED_STALENESS, TEST_STALENESS)
    path = folder / "rules.yml"
    path.write_text(yaml.safe_dump(rules, sort_keys=False))
    return path


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    async with RunningGateway() as running:
        yield running


async def test_prometheus_scrapes_every_service_and_its_rules_fire_and_resolve(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, gateway: Gateway
) -> None:
    databases = DatabaseUrls("sqlite", tmp_path, None)
    urls = {name: await databases.new(name) for name in SERVICES}
    *service_ports, prometheus_port = free_ports_below_32768(len(SERVICES) + 1)
    every = {name: {"METRICS_SAMPLE_SECONDS": "1"} for name in SERVICES}
    every["intake"] |= {"INTAKE_HEARTBEAT_SECONDS": "1"}
    # The heartbeat's delivery attempt goes to the gateway stand-in, as it would to the SMS gateway.
    every["notifier"] |= {"NOTIFIER_HEARTBEAT_URLS": json.dumps([gateway.url("heartbeat")])}
    figures: dict[str, float] = {}
    with SmtpSink() as smtp:
        live = LiveSystem(
            kafka_bootstrap, topic_prefix, urls, tmp_path / "live", gateway, smtp.port,
            extra_env=every,
        )  # fmt: skip
        # Ports below Linux's ephemeral range, so a restarted service finds its port free.
        for name, port in zip(SERVICES, service_ports, strict=True):
            live[name].port = port
        async with live:
            config = prometheus.write_config(
                tmp_path,
                {name: f"127.0.0.1:{live[name].port}" for name in SERVICES},
                [rules_for_test(tmp_path)],
            )
            server = prometheus.start(config, tmp_path / "prometheus", prometheus_port)
            try:
                await server.wait_ready()
                started = time.monotonic()
                await eventually(
                    server.targets,
                    lambda health: health == dict.fromkeys(SERVICES, "up"),
                    within=30, what="every service's target up",
                )  # fmt: skip
                figures["all targets up s"] = time.monotonic() - started
                # Heartbeats go end to end and, with every service up, nothing fires.
                await eventually(
                    lambda: server.query(
                        'safeguarding_heartbeat_last_success_timestamp_seconds{job="notifier"} > 0'
                    ),
                    bool, within=60, what="a heartbeat end to end",
                )  # fmt: skip
                assert gateway.to("heartbeat"), "no heartbeat reached the gateway"
                # Every dashboard query is accepted by the live server; the pipeline's own
                # panels already have data.
                answered = {
                    query: await server.query(for_grafana_variables(query))
                    for query in dashboard_queries(json.loads(DASHBOARD.read_text()))
                }
                for needle in ("up{", "heartbeat_last_success", "outbox_backlog_rows"):
                    assert any(result for q, result in answered.items() if needle in q), needle
                figures["dashboard queries with data"] = sum(map(bool, answered.values()))
                await eventually(server.alerts, lambda alerts: not alerts, within=30,
                                 what="no alert pending or firing")  # fmt: skip

                live["casework"].kill()
                stopped = time.monotonic()
                down = await eventually(
                    lambda: server.firing("ServiceDown"), bool, within=30,
                    what="ServiceDown firing",
                )  # fmt: skip
                figures["ServiceDown fired after kill s"] = time.monotonic() - stopped
                assert [alert["job"] for alert in down] == ["casework"], down
                assert down[0]["severity"] == "critical"
                assert not await server.firing("PipelineQuiet")  # casework is off its path
                await live.restart("casework")
                await eventually(
                    lambda: server.firing("ServiceDown"), lambda found: not found, within=30,
                    what="ServiceDown resolved",
                )  # fmt: skip
                figures["ServiceDown resolved after kill s"] = time.monotonic() - stopped

                live["intake"].kill()
                stopped = time.monotonic()
                quiet = await eventually(
                    lambda: server.firing("PipelineQuiet"), bool, within=60,
                    what="PipelineQuiet firing",
                )  # fmt: skip
                figures["PipelineQuiet fired after kill s"] = time.monotonic() - stopped
                assert [alert["job"] for alert in quiet] == ["notifier"], quiet
                # The staleness clause fired (its alert keeps the scraped series' instance), not
                # absent(): the notifier is up and reports an old heartbeat.
                assert "instance" in quiet[0], quiet
                restarted = time.monotonic()
                await live.restart("intake")
                await eventually(
                    lambda: server.firing("PipelineQuiet"), lambda found: not found, within=60,
                    what="PipelineQuiet resolved",
                )  # fmt: skip
                figures["PipelineQuiet resolved after restart s"] = time.monotonic() - restarted
                await eventually(server.alerts, lambda alerts: not alerts, within=30,
                                 what="every alert resolved")  # fmt: skip
            finally:
                server.stop()
    print(
        "\nprometheus: " + ", ".join(f"{key} {round(value, 1)}" for key, value in figures.items())
    )
