"""SQLAlchemy's aiosqlite adapter, with most statements run without a trip to the database thread.

aiosqlite runs each sqlite3 call on its own thread and hands the result back through the event
loop's self-pipe. SQLAlchemy's adapter makes one such call to open a cursor, one to execute, one
to fetch the rows and one to close the cursor: four thread hand-offs (each a queue put, a thread
wake-up, a pipe write and a loop wake-up) for a statement SQLite itself runs in microseconds.
`python -m bench.profile` put those hand-offs (`_write_to_self`, `_read_from_self`, the worker
thread's wake-ups) among the largest single costs of every SQLite service. Here a cursor is
opened, executed, read and closed in one function (`_run_statement`); transactions, errors and the
thread that owns the connection are aiosqlite's as before.

A hand-made part: neither aiosqlite nor SQLAlchemy offers a one-call execute for this adapter
(aiosqlite's `execute_fetchall` returns no row count or description, which SQLAlchemy needs).
It uses aiosqlite's `_execute` (the method its own cursor calls) and SQLAlchemy's documented
adapter classes; tests/unit/test_sqlite_driver.py pins what it relies on, and the whole suite runs
on it.

No hand-off at all for most statements. Even one hand-off per statement (a thread wake-up, the
GIL passed twice, a pipe write and a loop wake-up) cost more CPU than the statement: SQLite runs
a claim, an insert or a keyed read in microseconds from its page cache. So a single `execute` runs
on the event loop's own thread when aiosqlite's thread has nothing queued or running for that
connection (`_CountingConnection.usable_here`); the two threads never use the sqlite3 connection
at once, which is what `check_same_thread=False` asks of us. What stays on aiosqlite's thread:
  - a COMMIT, which waits for the disk (WAL with synchronous=FULL fsyncs there), and ROLLBACK;
  - `executemany`, which could have applied some rows before failing and so cannot be re-run;
  - a statement that met a lock. The loop must never wait on SQLite's busy handler (the service
    would stall, and so would the transaction holding the lock), so the connection's busy timeout
    is 0 and a statement answered SQLITE_BUSY is run again on the thread, which raises the timeout
    to the configured patience around it. A statement that failed with SQLITE_BUSY changed nothing
    (SQLite undoes a failed statement), so running it again is safe.
  - every statement of a function decorated `@on_database_thread`: what reads or changes a
    whole table (the hourly erasing and purging, the outbox prunes, the figures a head of service
    asks for, the task and alert lists, an agenda's reads). On the loop's thread these held the
    service for their duration, about 0.1-0.3 s a million rows (measured in review); there they
    hold only aiosqlite's thread, as before.
What is left on the loop is a keyed statement (a claim, an insert, a read by key or by an index
range) or a bounded batch (housekeeping's processed-events deletes go 1,000 rows at a time).
A read that scans a table and is not marked holds the loop while it runs: README, round two,
twentieth part, lists the ones a review found small enough to leave.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import sqlite3
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from contextvars import ContextVar
from functools import partial
from typing import Any, ParamSpec, TypeVar

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util.concurrency import await_

_Outcome = tuple[Any, list[Any], int, int | None]
_T = TypeVar("_T")
_P = ParamSpec("_P")

#: How long a statement that met a lock, a COMMIT or a ROLLBACK waits for it on aiosqlite's thread
#: when the URL's `connect_args` give no `timeout` (sqlite3's own default is 5 s).
DEFAULT_PATIENCE_SECONDS = 30.0


_ON_THREAD: ContextVar[bool] = ContextVar("sqlite_statements_on_thread", default=False)


def on_database_thread(
    function: Callable[_P, Awaitable[_T]],
) -> Callable[_P, Coroutine[Any, Any, _T]]:
    """Decorates a coroutine function whose SQLite statements must run on aiosqlite's thread:
    those whose length grows with a table. Other databases are unaffected (their statements never
    ran on the loop). SQLAlchemy's greenlets share the task's context, so the flag set here
    reaches the driver."""

    @functools.wraps(function)
    async def on_thread(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        token = _ON_THREAD.set(True)
        try:
            return await function(*args, **kwargs)
        finally:
            # A coroutine closed outside its task (collected while pending) ends in another
            # context, where the token cannot be reset; that context's flag is not ours to undo.
            with contextlib.suppress(ValueError):
                _ON_THREAD.reset(token)

    return on_thread


class _CountingConnection(aiosqlite.Connection):
    """aiosqlite's connection, counting the functions handed to its thread and those it has
    finished, so the loop's thread knows when the sqlite3 connection is free to use itself."""

    def __init__(self, connector: Callable[[], sqlite3.Connection], patience_ms: int) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self.patience_ms = patience_ms
        # True from raising the busy timeout until it is back at 0: if resetting it ever failed,
        # the loop's thread must not use a connection that could wait for a lock there.
        self.waits_for_locks = False
        # Each is written by one thread only (handed by the loop's, finished by aiosqlite's).
        self._handed = 0
        self._finished = 0

    async def _execute(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")  # aiosqlite's own check, before counting
        self._handed += 1
        return await super()._execute(self._finish, partial(fn, *args, **kwargs))  # type: ignore[no-untyped-call]

    def _finish(self, function: Callable[[], _T]) -> _T:
        try:
            return function()
        finally:
            self._finished += 1

    def usable_here(self) -> sqlite3.Connection | None:
        """The sqlite3 connection if it is open and nothing is queued or running on the thread
        (a cancelled caller can leave its function there), else None."""
        if (
            self._running
            and self._connection is not None
            and self._handed == self._finished
            and not self.waits_for_locks
        ):
            return self._connection
        return None


def _patiently(owner: _CountingConnection, function: Callable[[], _T]) -> _T:
    """On aiosqlite's thread: `function` with SQLite's busy handler waiting up to the patience."""
    connection = owner._conn
    connection.execute(f"PRAGMA busy_timeout={int(owner.patience_ms)}")
    owner.waits_for_locks = True
    try:
        return function()
    finally:
        connection.execute("PRAGMA busy_timeout=0")  # if this raises, the flag stays set
        owner.waits_for_locks = False


def _is_busy(error: sqlite3.OperationalError) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == sqlite3.SQLITE_BUSY


def _run_statement(
    connection: sqlite3.Connection, operation: str, parameters: Any, many: bool
) -> _Outcome:
    """On the database thread: the whole life of one cursor."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    """A client-side cursor whose statement, rows, row count and last row id come back together."""

    __slots__ = ("_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        # No aiosqlite cursor is opened here (the stock adapter opens one: a hand-off).
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._rows: collections.deque[Any] = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    @property
    def arraysize(self) -> int:
        return 1

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        pass

    async def _async_soft_close(self) -> None:
        return None  # the sqlite3 cursor closed with its statement

    def close(self) -> None:
        self._rows.clear()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        try:
            return await_(self._run(operation, parameters, many=False))
        except Exception as error:  # noqa: BLE001 - SQLAlchemy maps it, as the stock adapter does
            self._adapt_connection._handle_exception(error)

    def executemany(self, operation: Any, seq_of_parameters: Sequence[Any]) -> Any:
        try:
            return await_(self._run(operation, seq_of_parameters, many=True))
        except Exception as error:  # noqa: BLE001 - as above
            self._adapt_connection._handle_exception(error)

    async def _run(self, operation: Any, parameters: Any, many: bool) -> None:
        # A coroutine even when the statement runs here: SQLAlchemy's AsyncConnection insists
        # that each execute passes through at least one await.
        outcome = None if many else self._outcome_here(operation, parameters)
        if outcome is None:
            outcome = await self._outcome_on_thread(operation, parameters, many)
        self._keep(outcome)

    def _outcome_here(self, operation: Any, parameters: Any) -> _Outcome | None:
        """The statement run on the loop's thread if the connection is free; None if it was not
        run (the connection is in use on aiosqlite's thread, or SQLite answered SQLITE_BUSY)."""
        connection: _CountingConnection = self._connection  # type: ignore[assignment]
        if _ON_THREAD.get():
            return None
        sqlite = connection.usable_here()
        # No await between this check and the statement, so nothing else can take the connection.
        if sqlite is None or self._adapt_connection._execute_mutex.locked():
            return None
        try:
            return _run_statement(sqlite, operation, parameters, many=False)
        except sqlite3.OperationalError as error:
            if _is_busy(error):
                return None
            raise

    async def _outcome_on_thread(self, operation: Any, parameters: Any, many: bool) -> _Outcome:
        """On aiosqlite's thread, waiting for a lock up to the connection's patience."""
        connection: _CountingConnection = self._connection  # type: ignore[assignment]
        async with self._adapt_connection._execute_mutex:
            sqlite = connection._conn
            statement = partial(_run_statement, sqlite, operation, parameters, many)
            outcome: _Outcome = await connection._execute(_patiently, connection, statement)
        return outcome

    def _keep(self, outcome: _Outcome) -> None:
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows)


def _set_isolation_level(connection: sqlite3.Connection, value: str | None) -> None:
    connection.isolation_level = value  # type: ignore[assignment]


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneHopCursor  # type: ignore[assignment]

    @property
    def isolation_level(self) -> str | None:
        return self._connection.isolation_level  # type: ignore[no-any-return]

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        # SQLAlchemy's setter puts its function on aiosqlite's queue directly, past the count
        # `usable_here` trusts; this one goes through the counted `_execute`.
        connection: _CountingConnection = self._connection  # type: ignore[assignment]
        try:
            await_(connection._execute(_set_isolation_level, connection._conn, value))
        except Exception as error:  # noqa: BLE001 - SQLAlchemy maps it, as the stock adapter does
            self._handle_exception(error)

    def commit(self) -> None:
        self._on_thread_patiently("commit")

    def rollback(self) -> None:
        self._on_thread_patiently("rollback")

    def _on_thread_patiently(self, name: str) -> None:
        connection: _CountingConnection = self._connection  # type: ignore[assignment]
        if not connection._connection:
            return  # closed: as the stock adapter, nothing to end
        sqlite = connection._connection
        try:
            await_(connection._execute(_patiently, connection, getattr(sqlite, name)))
        except Exception as error:  # noqa: BLE001 - SQLAlchemy maps it, as the stock adapter does
            self._handle_exception(error)


class OneHopAiosqlite(AsyncAdapt_aiosqlite_dbapi):
    """The DB-API module handed to `create_async_engine(module=…)`."""

    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        # As aiosqlite.connect, with a counting connection. sqlite3's `timeout` becomes the
        # patience used on aiosqlite's thread; the connection itself never waits (see above).
        (database,) = arg
        patience_seconds = float(kw.pop("timeout", DEFAULT_PATIENCE_SECONDS))
        kw.pop("check_same_thread", None)
        connector = partial(
            sqlite3.connect, str(database), timeout=0, check_same_thread=False, **kw
        )
        connection = _CountingConnection(connector, patience_ms=int(patience_seconds * 1000))
        connection._thread.daemon = True  # as SQLAlchemy's adapter: no hang at interpreter exit
        opened: Any = await_(connection)
        return OneHopConnection(self, opened)


def one_hop_module() -> OneHopAiosqlite:
    return OneHopAiosqlite(aiosqlite, sqlite3)
