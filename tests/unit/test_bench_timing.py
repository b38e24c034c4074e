"""`python -m bench --timing shipped` (issue #16's raid goal): the settings the test harness
shortens are all put back to their shipped defaults, the raid's immediate-risk contacts are the
ones the generator marks, and the goal is judged from the run's figures. No broker: the settings
classes, the generator's bodies and made-up runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.__main__ import parse, setup_of
from bench.goals import RAID_SHIPPED_LIMIT_MS, evaluate
from bench.runner import Results
from bench.runs import Run
from bench.scenarios import shipped_batch_seconds
from bench.setup import Setup, SetupRefused
from bench.system import shipped_timing_env
from services.notifier.settings import NotifierSettings
from tests.support.ground_truth import Generator
from tests.support.live import SERVICES, service_env


def test_every_setting_the_harness_shortens_is_put_back_to_its_shipped_default(
    tmp_path: Path,
) -> None:
    shipped = shipped_timing_env()
    for name in SERVICES:
        harness = service_env(name, "k:1", "p-", "sqlite+aiosqlite:///x", tmp_path, {})
        shortened = {
            key for key in harness if key.endswith("_SECONDS") and key != "INTAKE_HEARTBEAT_SECONDS"
        }
        assert shortened == set(shipped[name]), name
    poll = shipped["notifier"]["NOTIFIER_DISPATCH_POLL_SECONDS"]
    assert float(poll) == NotifierSettings.model_fields["dispatch_poll_seconds"].default == 1.0


def test_the_option_is_recorded_and_checked(capsys: pytest.CaptureFixture[str]) -> None:
    assert setup_of(parse(["--timing", "shipped"])) == Setup(timing="shipped")
    assert Setup(timing="shipped").to_json()["timing"] == "shipped"
    with pytest.raises(SetupRefused, match="--timing"):
        Setup(timing="fast").check()
    assert shipped_batch_seconds() == 120.0  # deploy/config/alerting.yaml: batch_minutes 2


def test_every_tenth_raid_contact_is_at_immediate_risk_and_the_rest_of_the_stream_is_unchanged() -> (
    None
):
    plain = Generator("http://x", "k:1", "t", run_id="r")
    marked = Generator("http://x", "k:1", "t", run_id="r", immediate_every=10)
    a = [plain.make(n) for n in range(30)]
    b = [marked.make(n) for n in range(30)]
    assert [c.immediate for c in b] == [n % 10 == 9 for n in range(30)]
    assert all(json.loads(c.body)["immediate_risk"] == c.immediate for c in b)
    for before, after in zip(a, b, strict=True):
        body_before, body_after = json.loads(before.body), json.loads(after.body)
        body_before.pop("recorded_at"), body_after.pop("recorded_at")
        body_before.pop("immediate_risk"), body_after.pop("immediate_risk")
        assert (body_before, before.via) == (body_after, after.via)
    assert not any(c.immediate for c in a)


def _results(timing: dict[str, object] | None) -> Results:
    results = Results(("raid",), True, setup=Setup(timing="shipped"))
    run = Run("system", "raid", 6.0, 60, 0.0)
    if timing is not None:
        run.extra["raid_timing"] = timing
    results.runs["raid"] = {"system": run}
    return results


def _goal(results: Results) -> str:
    (goal,) = [g for g in evaluate(results) if g.name.startswith("raid with the shipped")]
    return goal.verdict


def test_the_raid_goal_is_met_only_when_every_page_and_follow_up_is_in_time() -> None:
    limit = RAID_SHIPPED_LIMIT_MS
    good = {
        "immediate_contacts": 6, "immediate_paged": 6,
        "immediate_contact_to_page_ms": [80.0, 120.0], "grouped_follow_ups": 1,
        "grouped_close_to_sms_ms": [300.0],
    }  # fmt: skip
    assert _goal(_results(good)) == "MET"
    assert _goal(_results(good | {"grouped_close_to_sms_ms": [limit + 1]})) == "NOT MET"
    assert _goal(_results(good | {"immediate_contact_to_page_ms": [limit + 1]})) == "NOT MET"
    assert _goal(_results(good | {"immediate_paged": 5})) == "NOT MET"
    assert _goal(_results(good | {"grouped_follow_ups": 0, "grouped_close_to_sms_ms": []})) == (
        "NOT MET"
    )
    assert _goal(_results(None)) == "NOT RUN"
    # The earlier goal (every alert within 5 s of its contact) assumes 2 s test batches.
    (earlier,) = [g for g in evaluate(_results(good)) if g.name.startswith("raid: every")]
    assert earlier.verdict == "NOT RUN"
