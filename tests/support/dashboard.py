"""The queries of deploy/monitoring/dashboard.json, ready for Prometheus: what Grafana would send."""

from __future__ import annotations

from typing import Any

# Grafana's built-in interval variables, replaced by a value Grafana could choose.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h"}


def dashboard_queries(dashboard: dict[str, Any]) -> list[str]:
    """Every target's expression, of top-level panels and of panels inside collapsed rows."""
    panels: list[dict[str, Any]] = []
    for panel in dashboard["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))
    return [target["expr"] for panel in panels for target in panel.get("targets", [])]


def for_grafana_variables(query: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        query = query.replace(variable, value)
    assert "$" not in query, f"unknown Grafana variable in {query!r}"
    return query
