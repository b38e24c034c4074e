"""The service-kill scenario on a secured broker: TLS, SCRAM-SHA-512 and the StandardAuthorizer with
deploy/kafka_acls.py's grants (deny by default), started by the test itself. The four services run
as processes, each on its OWN principal (intake, notifier, casework, meeting_scheduler), and the
generator writes its signed ingress records as `police-intake`, the one principal allowed to.

kill -9 each service once, in turn (intake last), while a modest stream of police contacts comes
in (120 at 10 a second by default: a tenth of FAULT_CONTACTS and half of FAULT_RATE, so a soak
scales it too); each is started again on the same database, with the same credentials. Then as in test_service_kill.py:
every contact sent while its door was up is acknowledged, and every acknowledged contact has
exactly one case, alert, task set and agenda item, and its messages.

The connection is shown to be TLS + SCRAM: a plaintext client and a TLS client without SCRAM are
both refused at the broker's only client port, a TLS handshake against the throwaway CA succeeds
there, and each service process's env says KAFKA_SECURITY=sasl_scram_sha_512 with its own user.

Run on both `database_kind`s, SQLite and PostgreSQL, like the rest of the fault suite."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from deploy.kafka_acls import grant_service_acls
from deploy.kafka_broker import ADMIN, LocalKafka, start_and_wait
from services.notifier.delivering import DELIVERY_CONCURRENCY
from shared.kafka import PRODUCER_SAFETY, ensure_topics
from shared.topics import POLICE_CONTACTS
from tests.fault.conftest import Sinks, fault_scale, report, settled
from tests.support.ground_truth import Fault, Generator, owed, summary, unacknowledged_owed
from tests.support.live import SERVICES, LiveSystem

pytestmark = pytest.mark.fault

# Intake last: on a stream this short a restart can outlast the rest of it, and intake killed at
# 10% would leave no POST answered at all (the first ones can still be in flight at the kill).
KILL_ORDER = ("notifier", "casework", "meeting_scheduler", "intake")
REFUSAL_SECONDS = 20.0  # a refused client gives up well within this; no answer at all fails too


def scale() -> tuple[int, float]:
    count, rate = fault_scale()
    return max(count // 10, 40), rate / 2


async def refused(bootstrap: str, options: dict[str, Any]) -> str:
    """What happens to a producer with these options writing the ingress topic: the error's class
    name, or "written" (which must not happen)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, request_timeout_ms=5000, **PRODUCER_SAFETY, **options
    )
    try:
        await asyncio.wait_for(producer.start(), REFUSAL_SECONDS)
        await asyncio.wait_for(
            producer.send_and_wait(POLICE_CONTACTS.name, b"{}", key=b"probe"), REFUSAL_SECONDS
        )
        return "written"
    except Exception as error:
        return type(error).__name__
    finally:
        await producer.stop()


async def tls_handshake(bootstrap: str, context: ssl.SSLContext) -> str:
    """The TLS version the broker's client port speaks, verified against `context`'s CA."""
    host, port = bootstrap.rsplit(":", 1)
    _, writer = await asyncio.wait_for(
        asyncio.open_connection(host, int(port), ssl=context, server_hostname=host), 20
    )
    try:
        version = writer.get_extra_info("ssl_object").version()
        return str(version)
    finally:
        writer.close()


async def test_each_service_killed_on_secured_kafka_loses_and_duplicates_nothing(
    tmp_path: Path, sinks: Sinks, service_databases: dict[str, str], database_kind: str
) -> None:
    count, rate = scale()
    started = time.monotonic()
    broker: LocalKafka = await start_and_wait(tmp_path / "kafka", secured=True)
    try:
        security = broker.security
        assert security is not None
        bootstrap = broker.bootstrap_servers
        await ensure_topics(bootstrap, "", security=security.faststream(ADMIN))
        await grant_service_acls(broker)
        broker_ready = time.monotonic() - started

        # The only client port is TLS, then SCRAM: without either, no way in.
        admin_context = security.client_options(ADMIN)["ssl_context"]
        plaintext, tls_only, tls_version = await asyncio.gather(
            refused(bootstrap, {}),
            refused(bootstrap, {"security_protocol": "SSL", "ssl_context": admin_context}),
            tls_handshake(bootstrap, admin_context),
        )
        assert plaintext == "KafkaConnectionError", plaintext
        assert tls_only == "KafkaConnectionError", tls_only
        assert tls_version.startswith("TLSv1."), tls_version

        kill_points = {
            int(count * (0.1 + 0.8 * index / len(KILL_ORDER))): name
            for index, name in enumerate(KILL_ORDER)
        }
        recoveries: dict[str, float] = {}
        faults: list[Fault] = []  # intake down: from its kill until it is ready again
        async with LiveSystem(
            bootstrap, "", service_databases, tmp_path / "live", sinks.gateway, sinks.smtp.port,
            extra_env={name: security.service_env(name) for name in SERVICES},
        ) as live:  # fmt: skip
            for name in SERVICES:
                env = live[name].env
                assert env["KAFKA_SECURITY"] == "sasl_scram_sha_512", name
                assert env["KAFKA_USERNAME"] == name
                assert env["KAFKA_CA_FILE"] == str(security.ca_file)
            restarts: list[asyncio.Task[None]] = []

            async def kill_and_restart(name: str) -> None:
                live[name].kill()
                killed_at = time.monotonic()
                await live.restart(name)
                ready_at = time.monotonic()
                recoveries[name] = ready_at - killed_at
                if name == "intake":
                    faults.append(Fault("http", killed_at, ready_at))

            def on_sent(sent: int) -> None:
                if (name := kill_points.get(sent)) is not None:
                    restarts.append(asyncio.create_task(kill_and_restart(name)))

            gen = Generator(
                live["intake"].url, bootstrap, POLICE_CONTACTS.full_name(""), "secured-kill",
                kafka_options=security.client_options("police-intake"),
            )  # fmt: skip
            contacts = await gen.run(count, rate, on_sent=on_sent)
            await asyncio.gather(*restarts)
            found, settle_seconds = await settled(service_databases, contacts, sinks, within=180)
            assert all(live[name].running() for name in SERVICES)
            assert all(live[name].starts == 2 for name in SERVICES)
    finally:
        broker.stop()

    report(
        f"service kill on TLS + SCRAM Kafka ({database_kind})",
        summary(contacts, faults)
        | {"kills": len(KILL_ORDER),
           "not acknowledged": dict(Counter(c.status for c in contacts if not c.acknowledged)),
           "plaintext client": plaintext, "TLS without SCRAM": tls_only, "TLS": tls_version,
           "secured broker, topics and ACLs ready s": round(broker_ready, 1),
           "ready again after kill -9 s (max)": round(max(recoveries.values()), 1),
           "settled after stream s": round(settle_seconds, 1)},
        found, contacts,
    )  # fmt: skip
    assert len(faults) == 1
    figures = summary(contacts, faults)
    assert figures["acknowledged"] >= figures["acknowledged minimum"] > 0, figures
    assert sum(c.via == "kafka" and c.acknowledged for c in contacts) > 0, "no produce went in"
    assert any(c.via == "http" and owed(c, faults) for c in contacts), "no POST was owed"
    assert not (unowed := unacknowledged_owed(contacts, faults)), (
        f"{len(unowed)} contacts sent while their door was up were not acknowledged: {unowed[:5]}"
    )
    assert found.problems(contacts) == {}
    assert found.missing_messages(contacts) == 0
    # As in test_service_kill.py: a notifier killed mid-send may have sent each of its in-flight
    # messages once more.
    assert found.message_duplicates() <= DELIVERY_CONCURRENCY
