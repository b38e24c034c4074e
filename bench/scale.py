"""`python -m bench.scale`: one instance of each service against two, on a three-node Kafka
cluster and PostgreSQL (issue #17, scaling figures). One cluster and one PostgreSQL for the whole
run; the baseline two-hop pipeline's steady run once on the same cluster, for reference; then, for
one and then two instances of each service, the steady scenario (p50/p99, CPU ms per contact) and
the saturation search (the highest sustainable rate), each on fresh databases and topics. Writes
`scale-<timestamp>.json` and `.png` and prints a comparison table (bench/README.md)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import sys
import time
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only

import matplotlib.pyplot as plt  # after the backend is chosen

from bench import report
from bench.clock import ClockPair
from bench.memory import MB
from bench.runner import Results, run_on
from bench.runs import ALERT_METRIC, BASELINE_METRIC
from bench.saturation import Step
from bench.scenarios import FULL, QUICK, Load, Plan, SaturationPlan
from bench.setup import DATABASES, KAFKAS, Infrastructure, Setup, SetupRefused, describe
from bench.stats import percentile, summarize

DEFAULT_OUT = Path(__file__).resolve().parent / "results"
COUNTS = (1, 2)

# Sized so the whole comparison ends within 20 minutes on the 2-core machine: about 12 when steps
# pass quickly (cluster ~1 min, baseline ~1 min, per instance count ~1.5 min steady and ~3 min
# saturation), 20 when every failed step also waits its full 60 s for the backlog to settle. A
# 45 s steady run; 15 s saturation steps from 6/s, doubling, then one bisection step (a quarter of
# the rate's resolution: enough to tell one instance from two).
SCALE = Plan(
    # 5/s: the first full run, at 10/s, was above what one instance sustains on the cluster and
    # PostgreSQL (9/s), so its steady latency was a queue of seconds, not the system's cost.
    steady=Load(rate=5.0, count=225, drain_seconds=30.0),
    raid=FULL.raid,  # not run
    baseline_saturation=FULL.baseline_saturation,  # not run: the comparison is system to system
    system_saturation=SaturationPlan(
        start=6.0, max_rate=384.0, step_seconds=15.0, drain_seconds=15.0, refine=1
    ),
)
SCALE_QUICK = Plan(
    steady=QUICK.steady,
    raid=QUICK.raid,
    baseline_saturation=QUICK.baseline_saturation,
    system_saturation=QUICK.system_saturation,
)


@dataclass
class Round:
    """What one instance count measured: the steady run's and the saturation search's results."""

    instances: int
    steady: Results | None = None
    saturation: Results | None = None


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 1)


def summarize_round(found: Round) -> dict[str, Any]:
    """The comparison's figures for one instance count (None where the run produced none)."""
    entry: dict[str, Any] = {"instances": found.instances}
    steady = found.steady.runs.get("steady", {}).get("system") if found.steady else None
    if steady is not None:
        alerts = steady.values(ALERT_METRIC)
        cpu: dict[str, float] = steady.extra.get("cpu_ms_per_contact", {})
        entry["steady"] = {
            "offered_rate_per_s": steady.rate,
            "completed": len(steady.done),
            "planned": steady.count,
            "alert_p50_ms": _ms(percentile(alerts, 50)) if alerts else None,
            "alert_p99_ms": _ms(percentile(alerts, 99)) if alerts else None,
            "tasks_p99_ms": _ms(percentile(steady.values("tasks"), 99))
            if steady.values("tasks")
            else None,
            "cpu_ms_per_contact": cpu,
            "cpu_ms_per_contact_total": round(sum(cpu.values()), 1) if cpu else None,
            "cpu_ms_per_contact_per_instance": steady.extra.get(
                "cpu_ms_per_contact_per_instance", cpu
            ),
        }
    search = found.saturation.saturation.get("system") if found.saturation else None
    if search is not None:
        entry["saturation"] = {
            "sustainable_rate_per_s": search.sustainable_rate,
            "capped_at_max_rate": search.capped,
            "stopped": search.stopped,
            "steps": [_step(step) for step in search.steps],
        }
    peaks: dict[str, float] = {}
    for results in (found.steady, found.saturation):
        if results is None:
            continue
        for instance in results.memory.services():
            peak = results.memory.peak(instance)
            if peak is not None:
                peaks[instance] = max(peaks.get(instance, 0.0), round(peak / MB, 1))
    entry["peak_rss_mb_per_instance"] = dict(sorted(peaks.items()))
    entry["errors"] = [
        error for results in (found.steady, found.saturation) if results for error in results.errors
    ]
    return entry


def _step(step: Step) -> dict[str, Any]:
    values = step.run.values(ALERT_METRIC)
    throughput = step.run.throughput()
    return {
        "rate": step.run.rate,
        "sustainable": step.sustainable,
        "alert_p99_ms": _ms(percentile(values, 99)) if values else None,
        "throughput_per_s": None if throughput is None else round(throughput, 2),
        "reasons": step.reasons,
    }


def _ratio(new: float | None, old: float | None) -> float | None:
    return None if new is None or not old else round(new / old, 2)


def compare(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Each later instance count against the first: saturation rate, steady p99, CPU per contact."""
    if len(rounds) < 2:
        return {}
    first = rounds[0]
    found: dict[str, Any] = {}
    for later in rounds[1:]:
        key = f"{later['instances']}_vs_{first['instances']}"
        rate = [r.get("saturation", {}).get("sustainable_rate_per_s") for r in (later, first)]
        p99 = [r.get("steady", {}).get("alert_p99_ms") for r in (later, first)]
        cpu = [r.get("steady", {}).get("cpu_ms_per_contact_total") for r in (later, first)]
        found[key] = {
            "sustainable_rate": _ratio(rate[0], rate[1]),
            "steady_alert_p99": _ratio(p99[0], p99[1]),
            "cpu_ms_per_contact_total": _ratio(cpu[0], cpu[1]),
        }
    return found


def table(rounds: list[dict[str, Any]], baseline: dict[str, Any] | None) -> str:
    rows = [["instances", "sat. rate/s", "p50 ms", "p99 ms", "CPU ms/contact", "peak RSS MB"]]
    for entry in rounds:
        steady, saturation = entry.get("steady", {}), entry.get("saturation", {})
        rate = saturation.get("sustainable_rate_per_s")
        capped = "+" if saturation.get("capped_at_max_rate") else ""
        rss = entry.get("peak_rss_mb_per_instance", {})
        rows.append(
            [
                str(entry["instances"]),
                "-" if rate is None else f"{rate:g}{capped}",
                str(steady.get("alert_p50_ms", "-")),
                str(steady.get("alert_p99_ms", "-")),
                str(steady.get("cpu_ms_per_contact_total", "-")),
                f"{max(rss.values()):.0f} (largest)" if rss else "-",
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    if baseline:
        lines.append(
            f"baseline two-hop at {baseline['offered_rate_per_s']:g}/s: p50 "
            f"{baseline['p50_ms']} ms, p99 {baseline['p99_ms']} ms (same cluster)"
        )
    for entry in rounds:
        each = entry.get("steady", {}).get("cpu_ms_per_contact_per_instance", {})
        if each:
            lines.append(
                f"{entry['instances']} instance(s), CPU ms per contact: "
                + ", ".join(f"{name} {ms:g}" for name, ms in sorted(each.items()))
            )
        rss = entry.get("peak_rss_mb_per_instance", {})
        if rss:
            lines.append(
                f"{entry['instances']} instance(s), peak RSS MB: "
                + ", ".join(f"{name} {mb:.0f}" for name, mb in rss.items())
            )
        lines.extend(f"  error: {error}" for error in entry.get("errors", []))
    return "\n".join(lines)


def draw(rounds: list[dict[str, Any]], baseline: dict[str, Any] | None, path: Path) -> None:
    figure, grid = plt.subplots(2, 2, figsize=(14, 10))
    axes = [grid[0][0], grid[0][1], grid[1][0], grid[1][1]]
    colours = {1: "tab:blue", 2: "tab:red"}
    try:
        axis = axes[3]
        axis.set_title("steady: contact→alert p50 and p99 (ms)")
        labels = [f"{e['instances']} instance(s)" for e in rounds]
        positions = list(range(len(rounds)))
        for offset, key, name in ((-0.2, "alert_p50_ms", "p50"), (0.2, "alert_p99_ms", "p99")):
            heights = [e.get("steady", {}).get(key) or 0.0 for e in rounds]
            axis.bar([x + offset for x in positions], heights, width=0.4, label=name)
        if baseline and baseline.get("p99_ms"):
            axis.axhline(
                baseline["p99_ms"], ls="--", c="black", lw=0.8, label="baseline two-hop p99"
            )
        axis.set_xticks(positions, labels)
        axis.set_yscale("log")
        axis.legend(fontsize=7)

        axis = axes[0]
        axis.set_title("saturation: p99 contact→alert by offered rate (✗ not sustained)")
        for entry in rounds:
            steps = sorted(
                (s for s in entry.get("saturation", {}).get("steps", []) if s["alert_p99_ms"]),
                key=lambda s: s["rate"],
            )
            colour = colours.get(entry["instances"], "black")
            if steps:
                axis.plot(
                    [s["rate"] for s in steps], [s["alert_p99_ms"] for s in steps], "-o",
                    c=colour, markersize=4, label=f"{entry['instances']} instance(s)",
                )  # fmt: skip
                bad = [s for s in steps if not s["sustainable"]]
                axis.scatter(
                    [s["rate"] for s in bad], [s["alert_p99_ms"] for s in bad], marker="x",
                    s=60, c=colour,
                )  # fmt: skip
        axis.axhline(1000, ls="--", c="grey", lw=0.8)
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("offered rate (contacts per s)")
        axis.set_ylabel("p99 (ms)")
        axis.legend(fontsize=7)

        axis = axes[1]
        axis.set_title("steady: CPU ms per contact, by service (all instances)")
        services = sorted(
            {name for e in rounds for name in e.get("steady", {}).get("cpu_ms_per_contact", {})}
        )
        bottoms = [0.0] * len(rounds)
        labels = [f"{e['instances']} instance(s)" for e in rounds]
        for service in services:
            heights = [
                e.get("steady", {}).get("cpu_ms_per_contact", {}).get(service, 0.0) for e in rounds
            ]
            axis.bar(labels, heights, bottom=bottoms, label=service)
            bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
        axis.set_ylabel("CPU ms per contact")
        axis.legend(fontsize=7)

        axis = axes[2]
        axis.set_title("peak RSS per process (MB)")
        names: list[str] = []
        values: list[float] = []
        bar_colours: list[str] = []
        for entry in rounds:
            for name, mb in entry.get("peak_rss_mb_per_instance", {}).items():
                names.append(f"{name} (of {entry['instances']})")
                values.append(mb)
                bar_colours.append(colours.get(entry["instances"], "black"))
        axis.barh(names, values, color=bar_colours)
        axis.set_xlabel("MB")
        axis.tick_params(axis="y", labelsize=7)
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=110)
    finally:
        plt.close(figure)


def _baseline(results: Results | None) -> dict[str, Any] | None:
    run = results.runs.get("steady", {}).get("baseline") if results else None
    summary = summarize(run.values(BASELINE_METRIC)) if run else None
    if run is None or summary is None:
        return None
    return {
        "offered_rate_per_s": run.rate,
        "p50_ms": _ms(summary.p50),
        "p99_ms": _ms(summary.p99),
        "completed": len(run.done),
        "planned": run.count,
    }


async def measure(setup: Setup, plan: Plan, clock: ClockPair) -> tuple[list[Round], Any]:
    rounds = [Round(count) for count in COUNTS]
    async with Infrastructure(setup) as infra:
        for found in rounds:
            sides = ("baseline", "system") if found is rounds[0] else ("system",)
            print(f"=== {found.instances} instance(s) of each service ===", flush=True)
            found.steady = await run_on(
                infra, "steady", plan, clock, instances=found.instances, sides=sides
            )
            found.saturation = await run_on(
                infra, "saturation", plan, clock, instances=found.instances, sides=("system",)
            )
        return rounds, dict(infra.description)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale",
        description="One against two instances of each service on a three-node Kafka cluster and "
        "PostgreSQL: steady latency, CPU per contact, saturation rate, RSS (bench/README.md).",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run (do not quote it)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="report folder")
    parser.add_argument("--database", choices=DATABASES, default="postgresql")
    parser.add_argument("--kafka", choices=KAFKAS, default="cluster")
    parser.add_argument(
        "--steady-rate", type=float, default=None,
        help="contacts a second of the steady runs (default 5, for 45 s): below what one instance "
        "sustains here, so latency shows a cost, not a queue (10/s queued for seconds)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    try:
        Setup(args.database, args.kafka, max(COUNTS)).check()
    except SetupRefused as refused:
        parser.error(str(refused))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    plan = SCALE_QUICK if args.quick else SCALE
    if args.steady_rate is not None:
        seconds = plan.steady.count / plan.steady.rate  # the run keeps its length
        plan = dataclasses.replace(
            plan,
            steady=dataclasses.replace(
                plan.steady, rate=args.steady_rate, count=max(1, round(seconds * args.steady_rate))
            ),
        )
    setup = Setup(args.database, args.kafka, 1)
    machine = report.machine_info()
    started = time.monotonic()
    try:
        rounds, infrastructure = asyncio.run(measure(setup, plan, ClockPair()))
    except KeyboardInterrupt:
        print("interrupted")
        return 130
    except Exception:  # noqa: BLE001 - Kafka or PostgreSQL did not start: nothing to report
        traceback.print_exc()
        return 2
    machine["load_average_at_end"] = report.machine_info()["load_average_1_5_15"]
    summaries = [summarize_round(found) for found in rounds]
    baseline = _baseline(rounds[0].steady)
    document = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": [Path(sys.executable).name, "-m", "bench.scale", *sys.argv[1:]],
        "setup": {
            "database": setup.database,
            "kafka": setup.kafka,
            "instances_compared": list(COUNTS),
            "described": [describe(Setup(setup.database, setup.kafka, n)) for n in COUNTS],
        },
        "quick": args.quick,
        "plan": repr(plan),
        "infrastructure": infrastructure,
        "machine": machine,
        "units": "latencies in ms from the planned send instant; rates per second",
        "baseline_steady": baseline,
        "rounds": summaries,
        "ratios": compare(summaries),
        "seconds_taken": round(time.monotonic() - started, 1),
    }
    stamp = time.strftime("%Y%m%dT%H%M%S")
    json_path, png_path = args.out / f"scale-{stamp}.json", args.out / f"scale-{stamp}.png"
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(document, indent=2) + "\n")
    draw(summaries, baseline, png_path)
    print()
    print(table(summaries, baseline))
    print(f"ratios: {json.dumps(document['ratios'])}")
    print(f"took {document['seconds_taken']:.0f} s\nreport: {json_path}\nplot:   {png_path}")
    errors = [error for entry in summaries for error in entry["errors"]]
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
