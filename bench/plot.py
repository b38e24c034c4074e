"""One PNG: latency over planned send time (steady, raid), latency CDFs (steady) and p99 against
offered rate (saturation), baseline beside system."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on a server or in CI

import matplotlib.pyplot as plt  # after the backend is chosen
from matplotlib.axes import Axes

from bench.runner import Results
from bench.runs import ALERT_METRIC, BASELINE_METRIC, Run
from bench.saturation import Saturation
from bench.stats import percentile

SERIES = (  # side, metric, label, colour
    ("baseline", BASELINE_METRIC, "baseline two-hop", "black"),
    ("system", ALERT_METRIC, "system contact→alert", "tab:red"),
    ("system", "tasks", "system contact→tasks", "tab:blue"),
    ("system", "agenda", "system contact→agenda", "tab:green"),
)


def _not_run(axis: Axes) -> None:
    axis.text(0.5, 0.5, "not run", ha="center", va="center", transform=axis.transAxes)
    axis.set_xticks([])
    axis.set_yticks([])


def _timeline(axis: Axes, runs: dict[str, Run], title: str) -> None:
    axis.set_title(title)
    if not runs:
        _not_run(axis)
        return
    for side, metric, label, colour in SERIES:
        run = runs.get(side)
        if run is None:
            continue
        points = run.series(metric)
        if points:
            axis.scatter(
                [t for t, _ in points], [v * 1000 for _, v in points], s=6, label=label, c=colour
            )
    system = runs.get("system")
    if system is not None and any(kind == "grouped" for kind in system.kinds.values()):
        grouped = [
            (system.planned[item] - system.started, latency * 1000)
            for item, latency in system.latencies.get(ALERT_METRIC, {}).items()
            if system.kinds.get(item) == "grouped"
        ]
        axis.scatter(
            [t for t, _ in grouped], [v for _, v in grouped], s=30, marker="x",
            c="tab:purple", label="alert by grouped SMS",
        )  # fmt: skip
    axis.set_yscale("log")
    axis.set_xlabel("planned send time (s after start)")
    axis.set_ylabel("latency (ms)")
    axis.legend(fontsize=7)


def _cdf(axis: Axes, runs: dict[str, Run]) -> None:
    axis.set_title("steady: latency CDF")
    if not runs:
        _not_run(axis)
        return
    for side, metric, label, colour in SERIES:
        run = runs.get(side)
        values = sorted(run.values(metric)) if run else []
        if values:
            fractions = [(i + 1) / len(values) for i in range(len(values))]
            axis.step([v * 1000 for v in values], fractions, where="post", label=label, c=colour)
    axis.set_xscale("log")
    axis.set_xlabel("latency (ms)")
    axis.set_ylabel("fraction of contacts")
    axis.legend(fontsize=7)


def _saturation(axis: Axes, searches: dict[str, Saturation]) -> None:
    axis.set_title("saturation: p99 by offered rate (✗ not sustained)")
    if not searches:
        _not_run(axis)
        return
    for side, colour in (("baseline", "black"), ("system", "tab:red")):
        search = searches.get(side)
        if search is None:
            continue
        steps = sorted(
            (step for step in search.steps if step.run.values(step.run.primary)),
            key=lambda step: step.run.rate,
        )
        rates = [step.run.rate for step in steps]
        p99s = [percentile(step.run.values(step.run.primary), 99) * 1000 for step in steps]
        axis.plot(rates, p99s, "-o", c=colour, label=side, markersize=4)
        for step, p99 in zip(steps, p99s, strict=True):
            if not step.sustainable:
                axis.scatter([step.run.rate], [p99], marker="x", s=60, c=colour)
    axis.axhline(1000, ls="--", c="grey", lw=0.8)
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("offered rate (per s)")
    axis.set_ylabel("p99 latency (ms)")
    axis.legend(fontsize=7)


def draw(results: Results, path: Path) -> None:
    figure, axes = plt.subplots(2, 2, figsize=(13, 9))
    try:
        _timeline(axes[0][0], results.runs.get("steady", {}), "steady: latency over time")
        _timeline(axes[0][1], results.runs.get("raid", {}), "raid: latency over time")
        _cdf(axes[1][0], results.runs.get("steady", {}))
        _saturation(axes[1][1], results.saturation)
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=110)
    finally:
        plt.close(figure)
