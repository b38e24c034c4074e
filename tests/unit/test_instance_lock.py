"""SQLite's single-instance lock across processes: held while a process runs, refused to a second
one with the file named, released by the kernel when the holder is killed -9 (no stale lock)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shared.instance_lock import InstanceLock, SecondInstance, instance_mode

HOLD = """
import sys, time
from shared.instance_lock import InstanceLock
InstanceLock("notifier", sys.argv[1]).acquire()
print("held", flush=True)
time.sleep(60)
"""


def test_a_second_process_is_refused_until_the_first_is_killed(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'notifier.sqlite3'}"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, url], stdout=subprocess.PIPE, cwd=Path(__file__).parents[2]
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == b"held\n"
        lock = InstanceLock("notifier", url)
        with pytest.raises(SecondInstance, match=r"notifier.sqlite3\.instance\.lock"):
            lock.acquire()
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        deadline = time.monotonic() + 5
        while True:
            try:
                lock.acquire()
                break
            except SecondInstance:
                assert time.monotonic() < deadline, "the lock outlived its killed holder"
                time.sleep(0.05)
        lock.release()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_postgresql_takes_no_lock_and_each_mode_says_so(tmp_path: Path) -> None:
    postgres = "postgresql+asyncpg://u@127.0.0.1:5432/notifier"
    lock = InstanceLock("notifier", postgres)
    lock.acquire()
    assert lock.path is None
    assert instance_mode(postgres) == "multi-instance safe (PostgreSQL)"
    assert instance_mode(f"sqlite+aiosqlite:///{tmp_path / 'x.sqlite3'}") == (
        "single instance (SQLite)"
    )
