"""deploy/monitoring/ checked by Prometheus' own tool: the config and rules load, the rules' unit
tests pass, every dashboard query parses, every rule says how bad it is and what to do, and every
metric the rules and the dashboard read is one a service's /metrics really serves (so renaming a
metric in code without updating its rules breaks this test instead of silencing an alert)."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from shared.app import ServiceApp
from tests.support import system
from tests.support.dashboard import dashboard_queries, for_grafana_variables

MONITORING = system.ROOT / "deploy" / "monitoring"
RULES = MONITORING / "rules.yml"
SEVERITIES = {"critical", "warning"}
METRIC_NAME = re.compile(r"\b(?:safeguarding|faststream)_[a-z0-9_]+\b")
# Sample names a family of each type exposes (prometheus_client's text format).
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
}


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool is missing: apt-get install prometheus (deploy/test.sh does)"
    done = subprocess.run(
        [binary, *map(str, args)], capture_output=True, text=True, timeout=60, check=False
    )
    print(done.stdout, done.stderr)
    return done


def alert_rules() -> Iterator[dict[str, Any]]:
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        yield from group["rules"]


def test_prometheus_config_and_rules_load() -> None:
    assert promtool("check", "config", MONITORING / "prometheus.yml").returncode == 0
    assert promtool("check", "rules", RULES).returncode == 0


def test_the_commented_deployed_scrape_job_is_valid_once_uncommented(tmp_path: Path) -> None:
    """The bearer-token job at the end of prometheus.yml is commented out (promtool would look
    for its token file); uncommented, with a token file, Prometheus accepts it."""
    lines = (MONITORING / "prometheus.yml").read_text().splitlines()
    start = lines.index("  # - job_name: notifier")
    token = tmp_path / "token"
    token.write_text("x" * 40)
    deployed = [
        line.replace("  # ", "  ", 1)
        .replace("/etc/prometheus/safeguarding-metrics-token", str(token))
        .replace("job_name: notifier", "job_name: notifier-deployed")  # beside the dev job
        for line in lines[start:]
    ]
    assert any("credentials_file" in line for line in deployed)
    config = [*lines[:start], *deployed]
    (tmp_path / "prometheus.yml").write_text("\n".join(config) + "\n")
    shutil.copy(RULES, tmp_path / "rules.yml")
    assert promtool("check", "config", tmp_path / "prometheus.yml").returncode == 0
    jobs = yaml.safe_load((tmp_path / "prometheus.yml").read_text())["scrape_configs"]
    assert jobs[-1]["authorization"]["type"] == "Bearer"


def test_rules_pass_their_unit_tests() -> None:
    done = promtool("test", "rules", MONITORING / "rules_test.yml")
    assert done.returncode == 0
    assert "SUCCESS" in done.stdout


def test_every_rule_has_a_severity_summary_and_runbook() -> None:
    rules = list(alert_rules())
    assert {rule["alert"] for rule in rules} >= {
        "ServiceDown",
        "PipelineQuiet",
        "ConsumerLagGrowing",
        "OutboxStuck",
        "NotificationsFailing",
        "DeadLettersAppearing",
        "AlertUnacknowledgedPastLastStep",
    }
    for rule in rules:
        assert rule["labels"]["severity"] in SEVERITIES, rule["alert"]
        for annotation in ("summary", "description", "runbook"):
            assert rule["annotations"].get(annotation, "").strip(), (rule["alert"], annotation)


def test_every_rule_is_unit_tested_on_both_sides() -> None:
    """Each alert appears in rules_test.yml at least once firing and once silent."""
    tests = yaml.safe_load((MONITORING / "rules_test.yml").read_text())["tests"]
    checks = [check for test in tests for check in test.get("alert_rule_test", [])]
    for rule in alert_rules():
        mine = [check for check in checks if check["alertname"] == rule["alert"]]
        assert any(check["exp_alerts"] for check in mine), f"{rule['alert']} never fires"
        assert any(not check["exp_alerts"] for check in mine), f"{rule['alert']} never silent"


def test_every_dashboard_query_parses(tmp_path: Path) -> None:
    """promtool parses each panel's query as a recording rule (after Grafana's variables are
    replaced by what Grafana would put there)."""
    dashboard = json.loads((MONITORING / "dashboard.json").read_text())
    assert dashboard["schemaVersion"] >= 39
    assert [v["type"] for v in dashboard["templating"]["list"]] == ["datasource"]
    queries = dashboard_queries(dashboard)
    assert len(queries) >= 20
    recording = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{index}", "expr": for_grafana_variables(query)}
                    for index, query in enumerate(queries)
                ],
            }
        ]
    }
    (tmp_path / "dashboard_rules.yml").write_text(yaml.safe_dump(recording))
    done = promtool("check", "rules", tmp_path / "dashboard_rules.yml")
    assert done.returncode == 0
    assert f"SUCCESS: {len(queries)} rules found" in done.stdout


def served_metric_names(app: ServiceApp) -> set[str]:
    """Sample names the app's GET /metrics serves (families without samples yet included)."""
    transport = httpx.ASGITransport(app=app.http_app, client=("127.0.0.1", 50000))

    async def scrape() -> str:
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            response = await client.get("/metrics")
        assert response.status_code == 200
        return response.text

    text = asyncio.run(scrape())
    return {
        family.name + suffix
        for family in text_string_to_metric_families(text)
        for suffix in SUFFIXES.get(family.type, ("",))
    }


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Every metric name the four services serve, from apps built (not started) in test mode."""
    folder = tmp_path_factory.mktemp("metrics")
    makers: dict[str, Callable[[str, str, str], ServiceApp]] = {
        "intake": system.intake_app,
        "notifier": system.notifier_app,
        "casework": system.casework_app,
        "meeting_scheduler": system.scheduler_app,
    }
    names: set[str] = set()
    for name, make in makers.items():
        # Nothing connects until the app starts, so an unreachable broker is fine here.
        app = make("127.0.0.1:9", "unit.", f"sqlite+aiosqlite:///{folder / name}.sqlite3")
        names |= served_metric_names(app)
    return names


def test_rules_and_dashboard_read_only_metrics_the_services_serve(served: set[str]) -> None:
    dashboard = json.loads((MONITORING / "dashboard.json").read_text())
    used = {
        name
        for text in [RULES.read_text(), *dashboard_queries(dashboard)]
        for name in METRIC_NAME.findall(text)
    }
    assert len(used) >= 20
    assert not (unknown := sorted(used - served)), f"not served by any service: {unknown}"
