"""SQLAlchemy's aiosqlite adapter with one trip to the database thread per statement, not three or four.

aiosqlite runs each sqlite3 call on its own thread and hands the result back through the event
loop's self-pipe. SQLAlchemy's adapter makes one such call to open a cursor, one to execute, one
to fetch the rows and one to close the cursor: four thread hand-offs (each a queue put, a thread
wake-up, a pipe write and a loop wake-up) for a statement SQLite itself runs in microseconds.
`python -m bench.profile` put those hand-offs (`_write_to_self`, `_read_from_self`, the worker
thread's wake-ups) among the largest single costs of every SQLite service. Here the cursor is
opened, executed, read and closed in one function on that same thread, so each statement costs one
hand-off; transactions, errors and the thread that owns the connection are aiosqlite's as before.

A hand-made part: neither aiosqlite nor SQLAlchemy offers a one-call execute for this adapter
(aiosqlite's `execute_fetchall` returns no row count or description, which SQLAlchemy needs).
It uses aiosqlite's `_execute` (the method its own cursor calls) and SQLAlchemy's documented
adapter classes; tests/unit/test_sqlite_driver.py pins what it relies on, and the whole suite runs
on it.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Sequence
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util.concurrency import await_

_Outcome = tuple[Any, list[Any], int, int | None]


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
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        async with self._adapt_connection._execute_mutex:
            outcome: _Outcome = await connection._execute(  # type: ignore[no-untyped-call]
                _run_statement, connection._conn, operation, parameters, many
            )
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows)


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneHopCursor  # type: ignore[assignment]


class OneHopAiosqlite(AsyncAdapt_aiosqlite_dbapi):
    """The DB-API module handed to `create_async_engine(module=…)`."""

    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        stock = super().connect(*arg, **kw)
        return OneHopConnection(self, stock._connection)


def one_hop_module() -> OneHopAiosqlite:
    return OneHopAiosqlite(aiosqlite, sqlite3)
