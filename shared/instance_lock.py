"""One instance per SQLite database: a service on SQLite holds an exclusive lock on a sidecar file
(`<database>.instance.lock`) for as long as it runs, and a second copy started on the same file
refuses to start, naming it.

SQLite cannot be shared safely: the timers and the outbox relay rely on PostgreSQL's row locks and
advisory lock (shared/outbox.py) to run once across instances. On PostgreSQL any number of
instances may run, so there is nothing to lock.

Hand-made rather than a library: `filelock` and `portalocker` are not dependencies, and what is
needed is one `fcntl.flock` call. flock, not a PID file: the kernel releases the lock when the
process dies however it dies (kill -9 included), so a restart never finds a stale lock.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import sqlalchemy as sa

SUFFIX = ".instance.lock"


class SecondInstance(RuntimeError):
    """Another process runs a service on this SQLite database."""


def sqlite_file(database_url: str) -> Path | None:
    """The database file of a SQLite URL; None for PostgreSQL or an in-memory database."""
    url = sa.engine.make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(str(url.database)).resolve()


def instance_mode(database_url: str) -> str:
    """What the start-up log says about running more than one copy of the service."""
    if sa.engine.make_url(database_url).get_backend_name() == "sqlite":
        return "single instance (SQLite)"
    return "multi-instance safe (PostgreSQL)"


class InstanceLock:
    """`acquire()` at start-up, `release()` at shutdown. A no-op for PostgreSQL."""

    def __init__(self, service: str, database_url: str) -> None:
        self._service = service
        database = sqlite_file(database_url)
        self.path = database.with_name(database.name + SUFFIX) if database else None
        self._fd: int | None = None

    def acquire(self) -> None:
        if self.path is None or self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise SecondInstance(
                f"another {self._service} instance already runs on this SQLite database "
                f"(lock held on {self.path}); SQLite is single-instance: stop it first, or use "
                "PostgreSQL to run more than one"
            ) from None
        # Who holds it, for an operator looking at the file (the lock itself is the flock).
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        # The file stays: deleting it could let a third process lock a new file while a second
        # still waits on the old one's inode.
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None
