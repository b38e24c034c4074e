"""The report: a JSON file with every number, and a plain-text table for the terminal."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from bench.goals import Goal
from bench.memory import MB
from bench.runner import Results
from bench.runs import ALERT_METRIC, BASELINE_METRIC, Run
from bench.setup import Setup, describe
from bench.stats import percentile, ratio, summarize

ROOT = Path(__file__).resolve().parents[1]


def _git(*args: str) -> str | None:
    git = shutil.which("git")
    if git is None:
        return None
    # Fixed arguments, no shell: the commit and state of this checkout, for the record.
    done = subprocess.run(  # noqa: S603
        [git, *args], cwd=ROOT, capture_output=True, text=True, check=False
    )
    return done.stdout.strip() if done.returncode == 0 else None


def machine_info() -> dict[str, Any]:
    """What a reader needs to compare two reports: the hardware, the software and how busy the
    machine was (the load average includes anything else running, benchmarks are not alone)."""
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "cpu_count": os.cpu_count(),
        "memory_total_mb": round(psutil.virtual_memory().total / MB),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_tracked_changes": None if status is None else bool(status),
        "load_average_1_5_15": [round(value, 2) for value in os.getloadavg()],
    }


def _ratios(system: Run, baseline: Run) -> dict[str, float | None]:
    mine, theirs = (
        summarize(system.values(ALERT_METRIC)),
        summarize(baseline.values(BASELINE_METRIC)),
    )
    found: dict[str, float | None] = {}
    for name in ("p50", "p95", "p99", "max"):
        value = ratio(getattr(mine, name, None), getattr(theirs, name, None))
        found[f"alert_{name}_vs_two_hop"] = None if value is None else round(value, 2)
    throughput = ratio(system.throughput(), baseline.throughput())
    found["throughput"] = None if throughput is None else round(throughput, 3)
    return found


def build(
    results: Results, goals: list[Goal], options: dict[str, Any], machine: dict[str, Any]
) -> dict[str, Any]:
    scenarios: dict[str, Any] = {}
    for scenario, runs in results.runs.items():
        entry: dict[str, Any] = {side: run.to_json() for side, run in runs.items()}
        if "system" in runs and "baseline" in runs:
            entry["ratio_system_to_baseline"] = _ratios(runs["system"], runs["baseline"])
        scenarios[scenario] = entry
    if results.saturation:
        entry = {side: search.to_json() for side, search in results.saturation.items()}
        rates = [results.saturation.get(side) for side in ("system", "baseline")]
        if rates[0] is not None and rates[1] is not None:
            share = ratio(rates[0].sustainable_rate or 0.0, rates[1].sustainable_rate)
            entry["ratio_system_to_baseline"] = {
                "sustainable_rate": None if share is None else round(share, 3)
            }
        scenarios["saturation"] = entry
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": [Path(sys.executable).name, "-m", "bench", *sys.argv[1:]],
        "options": options,
        "setup": results.setup.to_json(),
        "infrastructure": results.infrastructure,
        "machine": machine,
        "units": "latencies in ms from the planned send instant; rates per second",
        "scenarios": scenarios,
        "memory": results.memory.to_json(),
        "goals": [goal.to_json() for goal in goals],
        "errors": results.errors,
        "seconds_taken": results.seconds,
    }


def write(report: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.1f}"


def _row(scenario: str, what: str, run: Run, metric: str, kind: str | None = None) -> list[str]:
    values = run.values(metric, kind)
    summary = summarize(values)
    throughput = run.throughput()
    return [
        scenario,
        what,
        f"{run.rate:g}",
        f"{len(values)}/{run.count}",
        _ms(summary.p50 if summary else None),
        _ms(summary.p95 if summary else None),
        _ms(summary.p99 if summary else None),
        _ms(summary.max if summary else None),
        "-" if throughput is None else f"{throughput:.1f}",
    ]


def _grid(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(
            cell.ljust(width) if i < 2 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    )


def table(results: Results, goals: list[Goal]) -> str:
    rows = [
        ["scenario", "measure", "rate/s", "n", "p50 ms", "p95 ms", "p99 ms", "max ms", "done/s"]
    ]
    for scenario in ("steady", "raid"):
        runs = results.runs.get(scenario, {})
        if "baseline" in runs:
            rows.append(_row(scenario, "baseline two-hop", runs["baseline"], BASELINE_METRIC))
        if "system" in runs:
            system = runs["system"]
            rows.append(_row(scenario, "system contact→alert", system, ALERT_METRIC))
            if scenario == "raid":
                for kind in ("individual", "grouped"):
                    rows.append(_row(scenario, f"  {kind} alerts", system, ALERT_METRIC, kind))
            rows.append(_row(scenario, "system contact→tasks", system, "tasks"))
            rows.append(_row(scenario, "system contact→agenda", system, "agenda"))
    lines = [_grid(rows)] if len(rows) > 1 else []
    if results.setup != Setup():  # the default (one broker, SQLite, one of each) goes unsaid
        lines.insert(0, f"setup: {describe(results.setup)}")
    for side in ("baseline", "system"):
        search = results.saturation.get(side)
        if search is None:
            continue
        tried = ", ".join(
            f"{step.run.rate:g}{'' if step.sustainable else '✗'}" for step in search.steps
        )
        best = "none" if search.sustainable_rate is None else f"{search.sustainable_rate:g}/s"
        more = " (highest rate tried; the limit is higher)" if search.capped else ""
        lines.append(f"saturation {side}: sustainable {best}{more}; tried {tried}")
    for scenario, runs in results.runs.items():
        if "system" in runs and "baseline" in runs:
            mine = runs["system"].values(ALERT_METRIC)
            theirs = runs["baseline"].values(BASELINE_METRIC)
            if mine and theirs:
                lines.append(
                    f"{scenario}: system/baseline p99 = "
                    f"{percentile(mine, 99) / percentile(theirs, 99):.1f}×"
                )
    services = results.memory.services()
    if services:
        peaks = ", ".join(
            f"{name} {(results.memory.peak(name) or 0) / MB:.0f}" for name in services
        )
        lines.append(f"peak RSS MB: {peaks}")
    lines.append("goals:")
    for goal in goals:
        lines.append(f"  {goal.verdict:<8} {goal.name} ({goal.target}): {goal.measured}")
    if results.errors:
        lines.append("errors:")
        lines.extend(f"  {error}" for error in results.errors)
    return "\n".join(lines)
