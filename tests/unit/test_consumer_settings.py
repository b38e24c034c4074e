"""Every consumer each service's composition root builds takes the fetch settings shared/kafka.py
chose for it: the quiet fetch-loop fallback for all, and the unhurried fetch only for groups whose
records need no haste (a referral or a police contact is fetched the moment it arrives)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from faststream.kafka.subscriber.usecase import LogicSubscriber

from shared.kafka import (
    FETCH_LOOP_FALLBACK_MS,
    UNHURRIED_FETCH_MAX_WAIT_MS,
    UNHURRIED_FETCH_MIN_BYTES,
)
from shared.topics import POLICE_CONTACTS, REFERRALS
from tests.support import system


def consumers(tmp_path: Path) -> list[tuple[str, LogicSubscriber[Any]]]:
    built: list[tuple[str, LogicSubscriber[Any]]] = []
    for name, build in system.BUILDERS.items():
        app = build("127.0.0.1:9", "", f"sqlite+aiosqlite:///{tmp_path / name}.sqlite3")
        for subscriber in app.kafka_broker.subscribers:
            assert isinstance(subscriber, LogicSubscriber)
            built.append((name, subscriber))
    return built


def test_every_consumer_uses_the_quiet_fetch_loop_fallback(tmp_path: Path) -> None:
    found = consumers(tmp_path)
    assert len(found) == 9  # intake 1, notifier 3, casework 2, meeting scheduler 3
    for name, subscriber in found:
        # FastStream keeps the consumer's keyword arguments here until it builds the consumer.
        settings = subscriber._connection_args
        assert settings.get("consumer_timeout_ms") == FETCH_LOOP_FALLBACK_MS, (
            name,
            subscriber.group_id,
        )


def test_only_groups_reading_neither_referrals_nor_contacts_fetch_unhurried(
    tmp_path: Path,
) -> None:
    urgent = {POLICE_CONTACTS.name, REFERRALS.name}
    for name, subscriber in consumers(tmp_path):
        settings = subscriber._connection_args
        where = (name, subscriber.group_id)
        if urgent & set(subscriber.topic_names_for_subscribe):
            assert settings.get("fetch_min_bytes", 1) == 1, where
        else:
            assert settings.get("fetch_min_bytes") == UNHURRIED_FETCH_MIN_BYTES, where
            assert settings.get("fetch_max_wait_ms") == UNHURRIED_FETCH_MAX_WAIT_MS, where
