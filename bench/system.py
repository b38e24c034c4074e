"""The system under test: the four services as real `faststream run` processes (the harness in
tests/support/live.py), each on its own SQLite file or PostgreSQL database, once or `instances`
times (every instance of a service on the same database), with a real HTTP SMS gateway and SMTP
server in this process. Contacts come from the fault suite's open-loop generator, half over HTTP
(round-robin over the intake instances) and half on the ingress topic."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import psutil
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from bench.clock import ClockPair
from bench.effects import EffectsWatcher, first_alerts, grouped_after_close
from bench.memory import MemoryLedger, RssSampler
from bench.runs import ALERT_METRIC, Run
from bench.setup import instance_names, per_service, service_of
from bench.stats import summarize
from services.casework.settings import CaseworkSettings
from services.intake.settings import IntakeSettings
from services.meeting_scheduler.settings import SchedulerSettings
from services.notifier.adapters.tables import delivery_attempts
from services.notifier.settings import NotifierSettings
from shared.kafka import ensure_topics
from shared.settings import ServiceSettings
from shared.topics import POLICE_CONTACTS
from tests.support.ground_truth import Contact, Generator, tally
from tests.support.http_gateway import Gateway, RunningGateway
from tests.support.live import ENV_PREFIX, SERVICES, LiveSystem, ServiceProcess
from tests.support.smtp import SmtpSink

WORK_HOOK = Path(__file__).resolve().parent / "work_hook"  # `--count-work`'s sitecustomize
# The settings the test harness shortens (tests/support/live.py `service_env`), by service; with
# `--timing shipped` each is set back to its shipped default, read from the settings class. The
# intake heartbeat stays off: its events would add to the counts the ground truth checks.
SHORTENED = ("outbox_poll_seconds", "consumer_retry_backoff_seconds")
SHORTENED_BY_SERVICE: dict[str, tuple[type[ServiceSettings], tuple[str, ...]]] = {
    "intake": (IntakeSettings, SHORTENED),
    "notifier": (
        NotifierSettings, (*SHORTENED, "dispatch_poll_seconds", "delivery_lease_seconds")
    ),
    "casework": (CaseworkSettings, (*SHORTENED, "chase_poll_seconds")),
    "meeting_scheduler": (SchedulerSettings, SHORTENED),
}  # fmt: skip


def shipped_timing_env() -> dict[str, dict[str, str]]:
    """Each service's environment overrides that put the shortened settings back to shipped."""
    env: dict[str, dict[str, str]] = {}
    for name, (settings, fields) in SHORTENED_BY_SERVICE.items():
        prefix = ENV_PREFIX[name]
        env[name] = {
            f"{prefix}_{field.upper()}": str(settings.model_fields[field].default)
            for field in fields
        }
    return env


class SystemFailed(RuntimeError):
    """The system could not be brought up or warmed up."""


class SpreadGenerator(Generator):
    """The generator, with its HTTP contacts sent round-robin to several intake instances (a load
    balancer's simplest policy); the Kafka half is spread by the ingress topic's partitions."""

    def __init__(self, intake_urls: list[str], *args: Any, **kwargs: Any) -> None:
        super().__init__(intake_urls[0], *args, **kwargs)
        self.intake_urls = intake_urls
        self._clients: list[httpx.AsyncClient] = []
        self._next = 0

    async def run(self, *args: Any, **kwargs: Any) -> list[Contact]:
        async with AsyncExitStack() as stack:
            self._clients = [
                await stack.enter_async_context(
                    httpx.AsyncClient(base_url=url, timeout=self.send_timeout)
                )
                for url in self.intake_urls
            ]
            return await super().run(*args, **kwargs)

    async def _send(self, contact: Contact, client: httpx.AsyncClient, producer: Any) -> None:
        if contact.via == "http" and self._clients:
            client = self._clients[self._next % len(self._clients)]
            self._next += 1
        await super()._send(contact, client, producer)


class SystemRig:
    """`async with SystemRig(...) as rig: await rig.run(...)`: one scenario's services, with fresh
    databases and topics, memory sampling from start to end, and the effects watcher."""

    def __init__(
        self,
        bootstrap: str,
        prefix: str,
        scenario: str,
        clock: ClockPair,
        memory: MemoryLedger,
        observability: bool = True,
        instances: int = 1,
        database_urls: dict[str, str] | None = None,
        replication_factor: int | None = None,
        timing: str = "test",
        count_work: bool = False,
    ) -> None:
        self.bootstrap, self.prefix, self.scenario = bootstrap, prefix, scenario
        # Off: the services run without their metrics and spans (what they cost, `--observability`).
        self.extra_env: dict[str, dict[str, str]] = {} if observability else {
            name: {"METRICS_ENABLED": "false", "TRACING_ENABLED": "false"} for name in SERVICES
        }  # fmt: skip
        self.shipped = timing == "shipped"
        if self.shipped:
            for name, env in shipped_timing_env().items():
                self.extra_env[name] = self.extra_env.get(name, {}) | env
        self.clock, self.memory = clock, memory
        self.folder = Path(tempfile.mkdtemp(prefix=f"bench-{scenario}-"))
        # `--count-work`: each service counts its records, statements and commits (bench/work_hook).
        self.work_folder: Path | None = None
        if count_work:
            self.work_folder = self.folder / "work-counts"
            for name in SERVICES:
                self.extra_env[name] = self.extra_env.get(name, {}) | work_count_env(
                    self.work_folder
                )
        # Every instance of a service shares its database (PostgreSQL); SQLite is one instance.
        self.database_urls = database_urls or {
            name: f"sqlite+aiosqlite:///{self.folder}/{name}.sqlite3" for name in SERVICES
        }
        self.instances, self.replication_factor = instances, replication_factor
        self.lives: list[LiveSystem] = []  # one LiveSystem per instance number
        self.contacts: list[Contact] = []  # every contact this rig sent, warm-up included
        self.last_contacts: list[Contact] = []  # those of the latest `run`
        self._stack = AsyncExitStack()
        self._keep_folder = False

    async def __aenter__(self) -> SystemRig:
        try:
            await ensure_topics(
                self.bootstrap, self.prefix, replication_factor=self.replication_factor
            )
            self.gateway: Gateway = await self._stack.enter_async_context(RunningGateway())
            self.smtp = self._stack.enter_context(SmtpSink())
            self.live = await self._stack.enter_async_context(
                LiveSystem(
                    self.bootstrap,
                    self.prefix,
                    self.database_urls,
                    self.folder,
                    self.gateway,
                    self.smtp.port,
                    extra_env=self.extra_env,
                    batch_seconds=None if self.shipped else 2.0,
                )
            )
            self.lives = [self.live]
            # Further instances: the same services on the same databases, each set in its own
            # folder (logs, rota and policy files as LiveSystem writes them).
            for number in range(2, self.instances + 1):
                self.lives.append(
                    await self._stack.enter_async_context(
                        LiveSystem(
                            self.bootstrap,
                            self.prefix,
                            self.database_urls,
                            self.folder / f"instance-{number}",
                            self.gateway,
                            self.smtp.port,
                            extra_env=self.extra_env,
                            batch_seconds=None if self.shipped else 2.0,
                        )
                    )
                )
            pids = {}
            for name, service in self.processes().items():
                process = service.process
                assert process is not None
                pids[name] = process.pid
            self._sampler = RssSampler(pids)
            self._sampler.start()
            # Exit callbacks run last-in first-out: VmHWM is read before LiveSystem stops them.
            self._stack.push_async_callback(self._record_memory)
            self.watcher = await self._stack.enter_async_context(
                EffectsWatcher(self.bootstrap, self.prefix)
            )
            # Consumer groups form and connections open on the first contacts; keep that out.
            warm = await self.run(4, 4.0, "warmup", drain_seconds=90.0)
            if warm.incomplete or warm.refused:
                raise SystemFailed(
                    f"warm-up contacts did not complete ({len(warm.refused)} refused, "
                    f"{len(warm.incomplete)} incomplete); service logs in {self.folder}"
                )
        except BaseException as error:
            await self._close(error)
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, error: BaseException | None, *rest: object
    ) -> None:
        await self._close(error)

    async def _close(self, error: BaseException | None) -> None:
        """Stop everything; an error is passed on so the gateway and SMTP sink skip their
        allow-list checks (they would only hide the real failure) and the logs are kept."""
        if error is not None:
            self._keep_folder = True
        try:
            await self._stack.__aexit__(type(error) if error else None, error, None)
        finally:
            if self._keep_folder:
                print(f"  [{self.scenario}] service logs and databases kept in {self.folder}")
            else:
                shutil.rmtree(self.folder, ignore_errors=True)

    def processes(self) -> dict[str, ServiceProcess]:
        """Every service process by instance name (bench/setup.py's `instance_names`)."""
        found = {}
        for name in SERVICES:
            labels = instance_names(name, self.instances)
            for label, live in zip(labels, self.lives or [self.live], strict=False):
                found[label] = live[name]
        return found

    def keep_logs(self) -> None:
        """Keep the work folder (logs, databases) after exit: something went wrong."""
        self._keep_folder = True

    async def _record_memory(self) -> None:
        hwm = await self._sampler.stop()
        self.memory.record(self.scenario, self._sampler.peaks, hwm)

    async def run(
        self,
        count: int,
        rate: float,
        label: str,
        drain_seconds: float,
        operation: str | None = None,
        immediate_every: int = 0,
    ) -> Run:
        """Send `count` contacts at `rate`/s (open loop), every `immediate_every`-th at immediate
        risk (0: none), and wait up to `drain_seconds` after the last send for each acknowledged
        one's alert, tasks and agenda item."""
        run_id = re.sub(r"[^A-Za-z0-9_-]", "-", f"{self.scenario}-{label}")
        ingress = POLICE_CONTACTS.full_name(self.prefix)
        generator = (
            Generator(
                self.live["intake"].url, self.bootstrap, ingress, run_id=run_id,
                immediate_every=immediate_every,
            )
            if len(self.lives) <= 1
            else SpreadGenerator(
                [live["intake"].url for live in self.lives], self.bootstrap, ingress,
                run_id=run_id, immediate_every=immediate_every,
            )
        )  # fmt: skip
        cpu_before, kernel_before = self.cpu_seconds_and_kernel()
        work_before = self.work_counts()
        contacts = await generator.run(count, rate, operation=operation)
        self.contacts.extend(contacts)
        self.last_contacts = contacts
        started = contacts[0].planned_at if contacts else time.monotonic()
        deadline = time.monotonic() + drain_seconds
        while True:
            run = await self.observe(contacts, label, rate, started)
            if not run.incomplete or time.monotonic() > deadline:
                # CPU each service spent from the first send until the last effect (or the drain's
                # end), per contact: what a contact costs, whatever the latency hides.
                cpu_after, kernel_after = self.cpu_seconds_and_kernel()
                per_instance = _per_contact(cpu_before, cpu_after, count)
                # The part spent in the kernel (system time: socket calls, wake-ups, fsync), to
                # tell per-record system calls from Python work.
                kernel = per_service(_per_contact(kernel_before, kernel_after, count))
                run.extra["cpu_kernel_ms_per_contact"] = kernel
                if self.instances == 1:
                    run.extra["cpu_ms_per_contact"] = per_instance
                else:  # each service's instances summed: what a contact costs the service
                    run.extra["cpu_ms_per_contact"] = per_service(per_instance)
                    run.extra["cpu_ms_per_contact_per_instance"] = per_instance
                if self.work_folder is not None:
                    run.extra["work_per_contact"] = work_per_contact(
                        work_before, self.work_counts(), count
                    )
                return run
            # Latencies come from the gateway's and Kafka's timestamps, not from this poll, so a
            # slow poll costs nothing in accuracy and leaves the two cores to the services.
            await asyncio.sleep(1.0)

    def work_counts(self) -> dict[str, dict[str, int]]:
        """Each service process's counted work so far, by instance name (`--count-work` only;
        bench/work_hook/sitecustomize.py writes them ten times a second)."""
        counts: dict[str, dict[str, int]] = {}
        if self.work_folder is None:
            return counts
        for name, service in self.processes().items():
            if service.process is None:
                continue
            with contextlib.suppress(OSError, ValueError):
                path = self.work_folder / f"{service.process.pid}.json"
                counts[name] = json.loads(path.read_text())
        return counts

    def cpu_seconds(self) -> dict[str, float]:
        """User + system CPU seconds each service process (and its children) has used so far, by
        instance name."""
        return self.cpu_seconds_and_kernel()[0]

    def cpu_seconds_and_kernel(self) -> tuple[dict[str, float], dict[str, float]]:
        """`cpu_seconds`, and the system (kernel) part of it, from one reading of each process."""
        used: dict[str, float] = {}
        kernel: dict[str, float] = {}
        for name, service in self.processes().items():
            if service.process is None:
                continue
            with contextlib.suppress(psutil.Error):
                process = psutil.Process(service.process.pid)
                times = [p.cpu_times() for p in [process, *process.children(recursive=True)]]
                used[name] = sum(t.user + t.system for t in times)
                kernel[name] = sum(t.system for t in times)
        return used, kernel

    async def settle(self, limit: float) -> bool:
        """Wait until every contact sent so far has all its effects; False if `limit` ran out."""
        deadline = time.monotonic() + limit
        while True:
            run = await self.observe(self.contacts, "settle", 1.0, 0.0)
            if not run.incomplete:
                return True
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(1.0)

    async def raid_timing(self, run: Run) -> dict[str, Any]:
        """Issue #16's raid goal, for the latest run: how long each immediate-risk contact took to
        be paged (contact → its SMS), and how long after its batch closed each grouped follow-up's
        SMS arrived (batch send_at → SMS). Milliseconds, every value, with the worst."""
        alerts = run.latencies.get(ALERT_METRIC, {})
        immediate = [c.police_reference for c in self.last_contacts if c.immediate]
        paged = [alerts[item] for item in immediate if item in alerts]
        grouped = list(
            (
                await grouped_after_close(
                    list(self.gateway.received), self.database_urls["notifier"], self.clock
                )
            ).values()
        )
        return {
            "immediate_contacts": len(immediate),
            "immediate_paged": len(paged),
            "immediate_contact_to_page_ms": sorted(round(v * 1000, 1) for v in paged),
            "grouped_follow_ups": len(grouped),
            "grouped_close_to_sms_ms": sorted(round(v * 1000, 1) for v in grouped),
        }

    async def send_times(self) -> dict[str, Any]:
        """The notifier's own timing of each provider call (delivery_attempts.latency_ms), by
        channel: if these are long, the SMS gateway or SMTP server in this process was slow, not
        the notifier."""
        engine = create_async_engine(self.database_urls["notifier"])
        try:
            async with engine.connect() as connection:
                rows = (
                    await connection.execute(
                        sa.select(delivery_attempts.c.channel, delivery_attempts.c.latency_ms)
                    )
                ).all()
        finally:
            await engine.dispose()
        by_channel: dict[str, list[float]] = {}
        for row in rows:
            by_channel.setdefault(row.channel, []).append(row.latency_ms / 1000.0)
        return {
            channel: summary.as_ms()
            for channel, values in sorted(by_channel.items())
            if (summary := summarize(values)) is not None
        }

    async def observe(
        self, contacts: list[Contact], label: str, rate: float, started: float
    ) -> Run:
        """What has happened so far to `contacts`."""
        self.watcher.check()
        found = await tally(self.database_urls, contacts)
        alerts = await first_alerts(list(self.gateway.received), self.database_urls["notifier"])
        run = Run("system", label, rate, len(contacts), started)
        latency = {
            metric: run.latencies.setdefault(metric, {}) for metric in ("alert", "tasks", "agenda")
        }
        for contact in contacts:
            item = contact.police_reference
            run.planned[item] = contact.planned_at
            run.via[item] = contact.via
            if not contact.acknowledged:
                run.refused.append(item)
                continue
            case = found.references.get(item)
            alert = alerts.get(case) if case else None
            tasks = self.watcher.tasks_opened(case, contact.tasks_expected) if case else None
            agenda = self.watcher.agenda.get(case) if case else None
            if alert is not None:
                latency[ALERT_METRIC][item] = alert.at - contact.planned_at
                run.kinds[item] = alert.kind
            planned_wall = self.clock.to_wall(contact.planned_at)
            if tasks is not None:
                latency["tasks"][item] = tasks - planned_wall
            if agenda is not None:
                latency["agenda"][item] = agenda - planned_wall
            if alert is None or tasks is None or agenda is None:
                run.incomplete.append(item)
                continue
            run.done[item] = max(
                alert.at, self.clock.to_monotonic(tasks), self.clock.to_monotonic(agenda)
            )
        return run


def work_count_env(folder: Path) -> dict[str, str]:
    """The environment that makes a service process count its work into `folder`."""
    path = os.pathsep.join(p for p in (str(WORK_HOOK), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, "BENCH_WORK_COUNT_DIR": str(folder)}


def work_per_contact(
    before: dict[str, dict[str, int]], after: dict[str, dict[str, int]], count: int
) -> dict[str, dict[str, float]]:
    """Each service's counted work between two readings, per contact, its instances summed."""
    totals: dict[str, dict[str, float]] = {}
    for instance, now in after.items():
        earlier = before.get(instance, {})
        service = totals.setdefault(service_of(instance), {})
        for key, value in now.items():
            service[key] = service.get(key, 0.0) + (value - earlier.get(key, 0)) / max(count, 1)
    return {
        name: {key: round(value, 2) for key, value in sorted(work.items())}
        for name, work in sorted(totals.items())
    }


def _per_contact(before: dict[str, float], after: dict[str, float], count: int) -> dict[str, float]:
    """CPU milliseconds per contact between two readings, by instance."""
    return {
        name: round((after[name] - before[name]) * 1000 / max(1, count), 2)
        for name in after
        if name in before
    }
