"""Reading and purging personal data: the only ways the vault's contents are used, both audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.intake.adapters.tables import (
    cases,
    outbox,
    request_ids,
    vault_access_log,
    vault_records,
)
from services.intake.adapters.vault import Sealed, VaultCipher
from shared.api_times import utc_text
from shared.logging import get_logger
from shared.outbox import prune_published
from shared.sqlite_driver import on_database_thread

log = get_logger(__name__)


class NotInVault(LookupError):
    """No personal data is held for that case (unknown, or purged under the retention rule)."""


@dataclass(frozen=True)
class PurgeResult:
    cases_purged: int
    request_ids_forgotten: int


async def read_personal_data(
    engine: AsyncEngine,
    vault: VaultCipher,
    case_reference: str,
    accessor: str,
    purpose: str,
    now: datetime,
) -> dict[str, Any]:
    """Decrypt a case's personal data. The audit row commits in the same transaction as the read,
    so there is no read without its record."""
    async with engine.begin() as connection:
        row = (
            await connection.execute(
                sa.select(vault_records).where(vault_records.c.case_reference == case_reference)
            )
        ).first()
        if row is None:
            raise NotInVault(case_reference)
        await connection.execute(
            vault_access_log.insert().values(
                case_reference=case_reference,
                accessor=accessor,
                purpose=purpose,
                action="read",
                accessed_at=now,
            )
        )
    log.info("vault_read", case_reference=case_reference, accessor=accessor)
    document = vault.open(Sealed(row.key_id, row.nonce, row.ciphertext), case_reference)
    # The vault holds the contact time with the offset the police sent; the API answers every
    # time in UTC (shared/api_times.py), records sealed before the rule included.
    recorded = document.get("recorded_at")
    if isinstance(recorded, str):
        document["recorded_at"] = utc_text(datetime.fromisoformat(recorded))
    return document


@on_database_thread  # whole-table statements: on SQLite they must not hold the loop
async def purge_expired(
    engine: AsyncEngine, now: datetime, retention: timedelta, request_id_window: timedelta
) -> PurgeResult:
    """Delete the personal data of cases not updated within the retention period (the case row,
    with no identifiers, stays for statistics and de-duplication), and forget old request ids."""
    cutoff = now - retention
    async with engine.begin() as connection:
        expired = (
            (
                await connection.execute(
                    sa.select(cases.c.case_reference).where(
                        cases.c.updated_at < cutoff, cases.c.purged_at.is_(None)
                    )
                )
            )
            .scalars()
            .all()
        )
        for reference in expired:
            await connection.execute(
                vault_records.delete().where(vault_records.c.case_reference == reference)
            )
            # The police reference links the case to the police system's record of the person,
            # and the fingerprint to their details: neither outlives the vault record. (A contact
            # sent again after this opens a new case: retention has ended the old one.)
            await connection.execute(
                cases.update()
                .where(cases.c.case_reference == reference)
                .values(purged_at=now, police_reference=f"purged:{reference}", fingerprint="")
            )
            await connection.execute(
                vault_access_log.insert().values(
                    case_reference=reference, accessor="retention", purpose="retention period ended",
                    action="purge", accessed_at=now,
                )
            )  # fmt: skip
        forgotten = await connection.execute(
            request_ids.delete().where(request_ids.c.seen_at < now - request_id_window)
        )
        await prune_published(connection, outbox, cutoff)
    if expired:
        log.info("vault_purged", cases=len(expired))
    return PurgeResult(len(expired), forgotten.rowcount or 0)
