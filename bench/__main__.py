"""`python -m bench`: run the benchmarks, write the report and the plot, print the table."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import time
import traceback
from pathlib import Path

from bench import goals, plot, report
from bench.clock import ClockPair
from bench.runner import Results, run_benchmarks
from bench.scenarios import FULL, QUICK, Load
from bench.setup import DATABASES, KAFKAS, TIMINGS, Setup, SetupRefused

DEFAULT_OUT = Path(__file__).resolve().parent / "results"


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Latency, throughput and memory of the four services on a real local Kafka "
        "broker (or three-node cluster), against a raw aiokafka two-hop pipeline on the same "
        "Kafka (bench/README.md).",
    )
    parser.add_argument(
        "--scenario",
        choices=("all", "baseline", "steady", "raid", "saturation"),
        default="all",
        help="baseline runs only the raw pipeline; steady, raid and saturation run the baseline "
        "and the system for that scenario (default: all)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a short smoke run (numbers too short to quote)"
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="report folder (default: bench/results/)"
    )
    parser.add_argument(
        "--steady-rate",
        type=float,
        default=None,
        help="contacts a second of the steady scenario (default 10; the count keeps its length "
        "in seconds): below the machine's limit, latency shows a cost instead of a queue",
    )
    parser.add_argument(
        "--observability",
        choices=("on", "off"),
        default="on",
        help="off runs the services without Prometheus metrics and OpenTelemetry spans "
        "(METRICS_ENABLED=false, TRACING_ENABLED=false), to measure what they cost: compare each "
        "run's ratio to its own baseline (default: on, as deployed)",
    )
    parser.add_argument(
        "--database",
        choices=DATABASES,
        default="sqlite",
        help="the services' databases: a SQLite file each (default), or a database each on a "
        "throwaway PostgreSQL cluster started for the run (tests/support/postgres.py)",
    )
    parser.add_argument(
        "--kafka",
        choices=KAFKAS,
        default="single",
        help="one local broker (default), or a local three-node KRaft cluster "
        "(deploy/kafka_cluster.py) with topics replicated three times, min.insync.replicas 2",
    )
    parser.add_argument(
        "--instances",
        type=int,
        default=1,
        help="processes of each service, all on the service's one database (PostgreSQL only: "
        "on SQLite a second instance refuses to start); HTTP contacts go round-robin to the "
        "intake instances (default 1)",
    )
    parser.add_argument(
        "--timing",
        choices=TIMINGS,
        default="test",
        help="test: the test harness's short polls and 2 s raid batches, as earlier reports; "
        "shipped: every poll at its shipped default and the shipped alerting.yaml's burst batch "
        "(2 minutes), and the raid has immediate-risk contacts: what issue #16's raid goal asks",
    )
    parser.add_argument(
        "--count-work",
        action="store_true",
        help="each service also counts the Kafka records it consumes and produces, its offset "
        "commits, SQL statements and transactions per contact (bench/work_hook), for "
        "`python -m bench.floor`; the counting costs a little CPU, so quote CPU from a run "
        "without it",
    )
    args = parser.parse_args(argv)
    try:
        setup_of(args).check()
    except SetupRefused as refused:
        parser.error(str(refused))
    return args


def setup_of(args: argparse.Namespace) -> Setup:
    return Setup(args.database, args.kafka, args.instances, args.timing, args.count_work)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    # aiokafka and the services' libraries log connection chatter at INFO; keep the terminal for us.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    plan = QUICK if args.quick else FULL
    if args.steady_rate is not None:
        if args.steady_rate <= 0:
            raise SystemExit("--steady-rate must be above 0")
        seconds = plan.steady.count / plan.steady.rate
        steady = Load(
            args.steady_rate, round(args.steady_rate * seconds), plan.steady.drain_seconds
        )
        plan = dataclasses.replace(plan, steady=steady)
    clock = ClockPair()
    machine = report.machine_info()  # the load average before we add to it
    try:
        results: Results = asyncio.run(
            run_benchmarks(args.scenario, plan, clock, args.observability == "on", setup_of(args))
        )
    except KeyboardInterrupt:
        print("interrupted")
        return 130
    except Exception:  # noqa: BLE001 - the broker or the rig itself failed: no report to write
        traceback.print_exc()
        return 2
    machine["load_average_at_end"] = report.machine_info()["load_average_1_5_15"]
    judged = goals.evaluate(results)
    options = {
        "scenario": args.scenario,
        "quick": args.quick,
        "observability": args.observability,
        "steady_rate": plan.steady.rate,
        "plan": repr(plan),
        **setup_of(args).to_json(),
    }
    stamp = time.strftime("%Y%m%dT%H%M%S")
    json_path = args.out / f"report-{stamp}.json"
    png_path = args.out / f"report-{stamp}.png"
    report.write(report.build(results, judged, options, machine), json_path)
    plot.draw(results, png_path)
    print()
    print(report.table(results, judged))
    print(f"\nreport: {json_path}\nplot:   {png_path}")
    # Goals are goals: only a real error (a contact never completed, a crash) fails the command.
    return 1 if results.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
