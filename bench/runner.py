"""Runs the chosen scenarios on one local broker or a three-node cluster (bench/setup.py): for each
scenario the baseline pipeline first, then the system, back to back, so both meet the same
background load on a shared machine."""

from __future__ import annotations

import dataclasses
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from bench.baseline import TwoHopPipeline
from bench.clock import ClockPair
from bench.memory import MemoryLedger
from bench.runs import Run
from bench.saturation import Saturation, search
from bench.scenarios import (
    RAID_IMMEDIATE_EVERY,
    RAID_OPERATION,
    SCENARIOS,
    Load,
    Plan,
    describe_raid_timing,
    shipped_batch_seconds,
)
from bench.setup import Infrastructure, Setup
from bench.system import SystemRig
from tests.support.live import SERVICES


@dataclass
class Results:
    scenarios: tuple[str, ...]
    with_system: bool
    runs: dict[str, dict[str, Run]] = field(default_factory=dict)  # scenario → side → run
    saturation: dict[str, Saturation] = field(default_factory=dict)  # side → search
    memory: MemoryLedger = field(default_factory=MemoryLedger)
    errors: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # scenario/side → wall time taken
    setup: Setup = field(default_factory=Setup)
    infrastructure: dict[str, Any] = field(default_factory=dict)  # Kafka and database, described


def selection(choice: str) -> tuple[tuple[str, ...], bool]:
    """`--scenario` → (scenarios to run, whether the system runs them too)."""
    if choice == "all":
        return SCENARIOS, True
    if choice == "baseline":
        return SCENARIOS, False
    return (choice,), True


async def run_benchmarks(
    choice: str,
    plan: Plan,
    clock: ClockPair,
    observability: bool = True,
    setup: Setup | None = None,
) -> Results:
    setup = setup or Setup()
    async with Infrastructure(setup) as infra:
        return await run_on(infra, choice, plan, clock, observability)


async def run_on(
    infra: Infrastructure,
    choice: str,
    plan: Plan,
    clock: ClockPair,
    observability: bool = True,
    instances: int | None = None,
    sides: tuple[str, ...] = ("baseline", "system"),
) -> Results:
    """The chosen scenarios on Kafka (and PostgreSQL) already running; `instances` overrides the
    setup's count (bench/scale.py runs one and then two on the same cluster); `sides` can leave
    the baseline out when an earlier run on the same cluster measured it."""
    scenarios, with_system = selection(choice)
    setup = infra.setup
    if instances is not None:
        setup = dataclasses.replace(setup, instances=instances)
        setup.check()
    results = Results(scenarios, with_system, setup=setup)
    results.infrastructure = dict(infra.description)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    bootstrap = infra.bootstrap_servers
    for scenario in scenarios:
        chosen = [side for side in sides if with_system or side == "baseline"]
        for side in chosen:
            prefix = f"bench-{stamp}-{scenario}-{side}-"
            started = time.monotonic()
            try:
                if side == "baseline":
                    await _baseline(
                        scenario, bootstrap, prefix, plan, results, infra.replication_factor
                    )
                else:
                    databases = await infra.databases(f"{stamp[4:]}_{scenario}", SERVICES)
                    await _system(
                        scenario, bootstrap, prefix, plan, clock, results, observability,
                        databases, infra.replication_factor,
                    )  # fmt: skip
            except Exception as error:  # noqa: BLE001 - report it and go on to the next one
                traceback.print_exc()
                results.errors.append(f"{scenario} ({side}) failed: {error!r}")
            results.seconds[f"{scenario}/{side}"] = round(time.monotonic() - started, 1)
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
    scenario: str,
    bootstrap: str,
    prefix: str,
    plan: Plan,
    results: Results,
    replication_factor: int | None = None,
) -> None:
    async with TwoHopPipeline(bootstrap, prefix, replication_factor) as pipeline:
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
    databases: dict[str, str] | None = None,
    replication_factor: int | None = None,
) -> None:
    instances = results.setup.instances
    print(
        f"[system] {scenario}: starting the four services …"
        if instances == 1
        else f"[system] {scenario}: starting {instances} instances of each of the four services …",
        flush=True,
    )
    rig = SystemRig(
        bootstrap, prefix, scenario, clock, results.memory, observability,
        instances=instances, database_urls=databases, replication_factor=replication_factor,
        timing=results.setup.timing, count_work=results.setup.count_work,
    )  # fmt: skip
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
            raid = scenario == "raid"
            shipped = results.setup.timing == "shipped"
            drain = load.drain_seconds
            if raid and shipped:  # the follow-up waits for the shipped batch to close
                drain += shipped_batch_seconds()
            run = await rig.run(
                load.count, load.rate, scenario, drain,
                operation=RAID_OPERATION if raid else None,
                immediate_every=RAID_IMMEDIATE_EVERY if raid and shipped else 0,
            )  # fmt: skip
            if raid and shipped:
                timing = run.extra["raid_timing"] = await rig.raid_timing(run)
                print(f"[system] raid: {describe_raid_timing(timing)}", flush=True)
            run.extra["notifier_provider_call_ms"] = await rig.send_times()
            cpu = run.extra.get("cpu_ms_per_contact", {})
            print(
                f"[system] {scenario}: CPU ms per contact: "
                + ", ".join(f"{name} {ms:g}" for name, ms in sorted(cpu.items())),
                flush=True,
            )
            kernel = run.extra.get("cpu_kernel_ms_per_contact", {})
            print(
                f"[system] {scenario}: … of which in the kernel: "
                + ", ".join(f"{name} {ms:g}" for name, ms in sorted(kernel.items())),
                flush=True,
            )
            for name, work in sorted(run.extra.get("work_per_contact", {}).items()):
                print(
                    f"[system] {scenario}: {name}'s work per contact: "
                    + ", ".join(f"{key} {value:g}" for key, value in work.items()),
                    flush=True,
                )
            if each := run.extra.get("cpu_ms_per_contact_per_instance"):
                print(
                    f"[system] {scenario}: … per instance: "
                    + ", ".join(f"{name} {ms:g}" for name, ms in sorted(each.items())),
                    flush=True,
                )
            results.runs.setdefault(scenario, {})["system"] = run
            _check(scenario, run, results)
            if run.refused or run.incomplete:
                rig.keep_logs()  # the services' logs and databases say what happened to them
        for name, service in rig.processes().items():
            if not service.running():
                rig.keep_logs()
                results.errors.append(f"{scenario}: the {name} service exited during the run")
