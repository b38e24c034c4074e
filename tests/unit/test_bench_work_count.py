"""`python -m bench --count-work` and `python -m bench.floor`: a process started with the bench's
hook counts its SQL statements and commits and wraps aiokafka's calls; without the hook's
environment it is left alone; the counts become work per contact and, priced, a floor. No broker:
a real child interpreter with SQLAlchemy on an in-memory SQLite database, and made-up figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.__main__ import parse, setup_of
from bench.floor import UNITS, floor_of, table
from bench.setup import Setup, describe
from bench.system import WORK_HOOK, work_count_env, work_per_contact

CHILD = """
import time
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
engine = sa.create_engine("sqlite://")
with engine.begin() as connection:
    connection.execute(sa.text("CREATE TABLE t (n INTEGER)"))
    for n in range(4):
        connection.execute(sa.text("INSERT INTO t VALUES (:n)"), {"n": n})
print(AIOKafkaProducer.send.__name__, AIOKafkaProducer.send_batch.__name__,
      AIOKafkaConsumer.getmany.__name__, AIOKafkaConsumer.commit.__name__)
time.sleep(0.5)  # the hook writes its counts ten times a second
"""


def _child(env: dict[str, str]) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_a_process_started_with_the_hook_counts_its_statements_and_commits(tmp_path: Path) -> None:
    env = dict(os.environ) | work_count_env(tmp_path / "counts")
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(WORK_HOOK)
    wrapped = _child(env)
    assert wrapped == ["counted_send", "counted_send_batch", "counted_getmany", "counted_commit"]
    (written,) = (tmp_path / "counts").glob("*.json")
    counts = json.loads(written.read_text())
    assert counts["statements"] == 5  # CREATE and four INSERTs
    assert counts["transactions"] == 1
    assert counts["consumed"] == counts["consumed_unhurried"] == counts["produced"] == 0


def test_without_the_hook_s_environment_nothing_is_wrapped(tmp_path: Path) -> None:
    env = dict(os.environ) | work_count_env(tmp_path / "counts")
    del env["BENCH_WORK_COUNT_DIR"]
    assert _child(env) == ["send", "send_batch", "getmany", "commit"]
    assert not (tmp_path / "counts").exists()


def test_counts_become_work_per_contact_with_instances_summed() -> None:
    before = {"intake.1": {"consumed": 10, "statements": 100}, "intake.2": {"consumed": 0}}
    after = {
        "intake.1": {"consumed": 30, "statements": 180},
        "intake.2": {"consumed": 20, "statements": 40},
        "notifier.1": {"consumed": 60, "statements": 0},  # no reading before: counted from 0
    }
    assert work_per_contact(before, after, 20) == {
        "intake": {"consumed": 2.0, "statements": 6.0},
        "notifier": {"consumed": 3.0, "statements": 0.0},
    }


def test_the_floor_prices_each_count_and_a_paced_record_by_how_its_group_fetches() -> None:
    units = dict.fromkeys(UNITS, 0.0) | {
        "consumed": 0.05, "consumed_paced": 0.6, "consumed_paced_unhurried": 0.2,
        "transactions": 0.3, "statements": 0.03,
    }  # fmt: skip
    work = {
        "casework": {
            "consumed": 4.0, "consumed_unhurried": 3.0, "transactions": 3.0, "statements": 10.0,
        }
    }  # fmt: skip
    assert floor_of(work, units)["casework"]["consumed"] == 0.2
    assert sum(floor_of(work, units)["casework"].values()) == pytest.approx(1.4)
    assert floor_of(work, units, paced=True)["casework"]["consumed"] == pytest.approx(0.6 + 3 * 0.2)
    report = {
        "scenarios": {
            "steady": {
                "system": {"work_per_contact": work, "cpu_ms_per_contact": {"casework": 9.5}}
            }
        }
    }
    last = table(report, units).splitlines()[-1].split()
    assert last == ["all", "services", "1.40", "2.40", "9.50"]


def test_the_option_is_recorded_and_said() -> None:
    chosen = setup_of(parse(["--count-work"]))
    assert chosen == Setup(count_work=True)
    assert chosen.to_json()["count_work"] is True
    assert describe(chosen).endswith(", work counted")
    assert setup_of(parse([])).count_work is False
