"""Financial quarters (April start) as casework's quarterly report reads them: names and dates,
London midnights in GMT and BST, the last quarter closed at an instant (31 March / 1 April), and
the shipped configuration kept in step with the notifier's and the meeting scheduler's.

Expected dates and instants are written out by hand here, never computed by the code under test."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import yaml

from services.casework.config import load_config
from services.casework.quarters import (
    BadQuarter,
    Quarter,
    last_closed_quarter,
    nearest_rank,
    parse_quarter,
    quarter_of,
)
from services.notifier.figures import target_for
from services.notifier.policy import load_policy
from shared.events import Urgency
from tests.support.system import ROOT

# 2026-27: each quarter by hand, with its first and last day.
FY_2026_27 = {
    "2026-27-Q1": (date(2026, 4, 1), date(2026, 6, 30)),
    "2026-27-Q2": (date(2026, 7, 1), date(2026, 9, 30)),
    "2026-27-Q3": (date(2026, 10, 1), date(2026, 12, 31)),
    "2026-27-Q4": (date(2027, 1, 1), date(2027, 3, 31)),
}


@pytest.mark.parametrize("name", sorted(FY_2026_27))
def test_a_quarter_s_name_and_days(name: str) -> None:
    quarter = parse_quarter(name)
    assert (quarter.starts_on, quarter.ends_on) == FY_2026_27[name]
    assert quarter.name == name
    assert quarter_of(FY_2026_27[name][0]) == quarter
    assert quarter_of(FY_2026_27[name][1]) == quarter


def test_march_31_and_april_1_fall_in_different_financial_years() -> None:
    assert quarter_of(date(2027, 3, 31)).name == "2026-27-Q4"
    assert quarter_of(date(2027, 4, 1)).name == "2027-28-Q1"
    assert quarter_of(date(2027, 1, 1)).name == "2026-27-Q4"
    assert quarter_of(date(2026, 12, 31)).name == "2026-27-Q3"
    assert parse_quarter("2026-27-Q4").following().name == "2027-28-Q1"
    assert parse_quarter("2027-28-Q1").previous().name == "2026-27-Q4"
    # A leap year's February is in Q4 of the year before.
    assert parse_quarter("2027-28-Q4").ends_on == date(2028, 3, 31)
    assert quarter_of(date(2028, 2, 29)).name == "2027-28-Q4"
    assert parse_quarter("2099-00-Q3").starts_on == date(2099, 10, 1)


def test_bounds_are_london_midnights_in_bst_and_gmt() -> None:
    # Q1 starts and ends in BST (UTC+1): 23:00 UTC the evening before.
    assert parse_quarter("2026-27-Q1").bounds() == (
        datetime(2026, 3, 31, 23, 0, tzinfo=UTC),
        datetime(2026, 6, 30, 23, 0, tzinfo=UTC),
    )
    # Q3 starts in BST (1 October) and ends in GMT (1 January).
    assert parse_quarter("2026-27-Q3").bounds() == (
        datetime(2026, 9, 30, 23, 0, tzinfo=UTC),
        datetime(2027, 1, 1, 0, 0, tzinfo=UTC),
    )
    # Q4 starts in GMT and ends in BST (the clocks went forward on 28 March 2027).
    assert parse_quarter("2026-27-Q4").bounds() == (
        datetime(2027, 1, 1, 0, 0, tzinfo=UTC),
        datetime(2027, 3, 31, 23, 0, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("instant", "closed"),
    [
        # 31 March 2027 23:59:59 BST is still Q4; a second later Q4 has closed.
        (datetime(2027, 3, 31, 22, 59, 59, tzinfo=UTC), "2026-27-Q3"),
        (datetime(2027, 3, 31, 23, 0, 0, tzinfo=UTC), "2026-27-Q4"),
        # 31 December in GMT: London and UTC agree.
        (datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC), "2026-27-Q2"),
        (datetime(2027, 1, 1, 0, 0, 0, tzinfo=UTC), "2026-27-Q3"),
        # 30 September in BST.
        (datetime(2026, 9, 30, 22, 59, 59, tzinfo=UTC), "2026-27-Q1"),
        (datetime(2026, 9, 30, 23, 0, 0, tzinfo=UTC), "2026-27-Q2"),
        # 1 April 2026 00:30 BST: the year 2025-26 has closed.
        (datetime(2026, 3, 31, 23, 30, tzinfo=UTC), "2025-26-Q4"),
    ],
)
def test_the_last_quarter_closed_at_an_instant(instant: datetime, closed: str) -> None:
    assert last_closed_quarter(instant).name == closed
    assert parse_quarter(closed).has_ended(instant)
    assert not parse_quarter(closed).following().has_ended(instant)


@pytest.mark.parametrize(
    "name",
    ["2026-28-Q1", "2026-27-Q5", "2026-27-Q0", "2026-27-q1", "26-27-Q1", "2026-2027-Q1",
     "2026-27-Q1 ", "1999-00-Q1", "0000-01-Q1", "9999-00-Q4", ""],
)  # fmt: skip
def test_malformed_names_are_refused(name: str) -> None:
    with pytest.raises(BadQuarter):
        parse_quarter(name)


def test_quarters_order_and_round_trip() -> None:
    quarter = Quarter(2025, 1)
    for _ in range(12):
        assert parse_quarter(quarter.name) == quarter
        assert quarter.following().starts_on == quarter.ends_on + timedelta(days=1)
        assert quarter.following() > quarter
        quarter = quarter.following()
    assert quarter == Quarter(2028, 1)


def test_nearest_rank_percentile() -> None:
    assert nearest_rank([float(n) for n in range(10, 0, -1)], 0.9) == 9.0
    assert nearest_rank([4.0], 0.9) == 4.0
    assert nearest_rank([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0], 0.9) == 10.0


def test_shipped_targets_match_the_notifier_and_the_project_start_the_scheduler() -> None:
    report = load_config(ROOT / "deploy" / "config" / "casework.yaml").report_policy()
    alerting = load_policy(ROOT / "deploy" / "config" / "alerting.yaml")
    for urgency in Urgency:
        assert report.acknowledgement_targets[urgency] == target_for(alerting, urgency)
    meetings = yaml.safe_load((ROOT / "deploy" / "config" / "meetings.yaml").read_text())
    assert report.project_starts == date.fromisoformat(meetings["training"]["project_starts"])
    assert report.target == 100
