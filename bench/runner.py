"""Runs the chosen scenarios on one local broker: for each scenario the baseline pipeline first,
then the system, back to back, so both meet the same background load on a shared machine."""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field

from bench.baseline import TwoHopPipeline
from bench.clock import ClockPair
from bench.memory import MemoryLedger
from bench.runs import Run
from bench.saturation import Saturation, search
from bench.scenarios import RAID_OPERATION, SCENARIOS, Load, Plan
from bench.system import SystemRig
from deploy.kafka_broker import start_and_wait


@dataclass
class Results:
    scenarios: tuple[str, ...]
    with_system: bool
    runs: dict[str, dict[str, Run]] = field(default_factory=dict)  # scenario → side → run
    saturation: dict[str, Saturation] = field(default_factory=dict)  # side → search
    memory: MemoryLedger = field(default_factory=MemoryLedger)
    errors: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # scenario/side → wall time taken


def selection(choice: str) -> tuple[tuple[str, ...], bool]:
    """`--scenario` → (scenarios to run, whether the system runs them too)."""
    if choice == "all":
        return SCENARIOS, True
    if choice == "baseline":
        return SCENARIOS, False
    return (choice,), True


async def run_benchmarks(
    choice: str, plan: Plan, clock: ClockPair, observability: bool = True
) -> Results:
    scenarios, with_system = selection(choice)
    results = Results(scenarios, with_system)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    print("starting a local Kafka broker …", flush=True)
    broker = await start_and_wait()
    try:
        print(f"Kafka ready at {broker.bootstrap_servers}", flush=True)
        for scenario in scenarios:
            sides = ("baseline", "system") if with_system else ("baseline",)
            for side in sides:
                prefix = f"bench-{stamp}-{scenario}-{side}-"
                started = time.monotonic()
                try:
                    if side == "baseline":
                        await _baseline(scenario, broker.bootstrap_servers, prefix, plan, results)
                    else:
                        await _system(
                            scenario, broker.bootstrap_servers, prefix, plan, clock, results,
                            observability,
                        )  # fmt: skip
                except Exception as error:  # noqa: BLE001 - report it and go on to the next one
                    traceback.print_exc()
                    results.errors.append(f"{scenario} ({side}) failed: {error!r}")
                results.seconds[f"{scenario}/{side}"] = round(time.monotonic() - started, 1)
    finally:
        print("stopping the Kafka broker …", flush=True)
        broker.stop()
    return results


def _check(scenario: str, run: Run, results: Results) -> None:
    """Outside the saturation search, a refused or unfinished item is an error, not a result."""
    if run.refused:
        results.errors.append(f"{scenario} ({run.side}): {len(run.refused)} never acknowledged")
    if run.incomplete:
        results.errors.append(
            f"{scenario} ({run.side}): {len(run.incomplete)} acknowledged but never completed, "
            f"e.g. {', '.join(run.incomplete[:3])}"
        )


def _describe(side: str, scenario: str, load: Load) -> None:
    print(
        f"[{side}] {scenario}: {load.count} at {load.rate:g}/s ({load.seconds:g} s)",
        flush=True,
    )


async def _baseline(
    scenario: str, bootstrap: str, prefix: str, plan: Plan, results: Results
) -> None:
    async with TwoHopPipeline(bootstrap, prefix) as pipeline:
        if scenario == "saturation":
            settle_limit = max(60.0, 3 * plan.baseline_saturation.drain_seconds)

            async def step(rate: float, seconds: float, label: str) -> Run | None:
                if not await pipeline.settle(settle_limit):
                    return None
                drain = plan.baseline_saturation.drain_seconds
                return await pipeline.run(max(2, round(rate * seconds)), rate, label, drain)

            print("[baseline] saturation search", flush=True)
            results.saturation["baseline"] = await search(
                "baseline", step, plan.baseline_saturation
            )
            return
        load = plan.steady if scenario == "steady" else plan.raid
        _describe("baseline", scenario, load)
        run = await pipeline.run(load.count, load.rate, scenario, load.drain_seconds)
        results.runs.setdefault(scenario, {})["baseline"] = run
        _check(scenario, run, results)


async def _system(
    scenario: str,
    bootstrap: str,
    prefix: str,
    plan: Plan,
    clock: ClockPair,
    results: Results,
    observability: bool = True,
) -> None:
    print(f"[system] {scenario}: starting the four services …", flush=True)
    rig = SystemRig(bootstrap, prefix, scenario, clock, results.memory, observability)
    async with rig:
        if scenario == "saturation":
            settle_limit = max(60.0, 3 * plan.system_saturation.drain_seconds)

            async def step(rate: float, seconds: float, label: str) -> Run | None:
                if not await rig.settle(settle_limit):
                    return None
                drain = plan.system_saturation.drain_seconds
                return await rig.run(max(2, round(rate * seconds)), rate, label, drain)

            print("[system] saturation search", flush=True)
            results.saturation["system"] = await search("system", step, plan.system_saturation)
        else:
            load = plan.steady if scenario == "steady" else plan.raid
            _describe("system", scenario, load)
            operation = RAID_OPERATION if scenario == "raid" else None
            run = await rig.run(
                load.count, load.rate, scenario, load.drain_seconds, operation=operation
            )
            run.extra["notifier_provider_call_ms"] = await rig.send_times()
            cpu = run.extra.get("cpu_ms_per_contact", {})
            print(
                f"[system] {scenario}: CPU ms per contact: "
                + ", ".join(f"{name} {ms:g}" for name, ms in sorted(cpu.items())),
                flush=True,
            )
            results.runs.setdefault(scenario, {})["system"] = run
            _check(scenario, run, results)
            if run.refused or run.incomplete:
                rig.keep_logs()  # the services' logs and databases say what happened to them
        for name, service in rig.live.services.items():
            if not service.running():
                rig.keep_logs()
                results.errors.append(f"{scenario}: the {name} service exited during the run")
