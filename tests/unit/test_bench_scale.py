"""The benchmark's setup options (--database, --kafka, --instances) and the scale comparison's
merging of per-instance figures, without a broker: pure functions over made-up runs."""

from __future__ import annotations

import pytest

from bench.__main__ import parse, setup_of
from bench.memory import MemoryLedger
from bench.runner import Results
from bench.runs import ALERT_METRIC, Run
from bench.saturation import Saturation, Step
from bench.scale import Round, compare, summarize_round
from bench.setup import Setup, SetupRefused, instance_names, per_service, service_of


def test_sqlite_with_two_instances_is_refused_before_anything_starts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as stopped:
        parse(["--instances", "2"])
    assert stopped.value.code == 2
    assert "needs --database postgresql" in capsys.readouterr().err
    with pytest.raises(SetupRefused, match="single-instance"):
        Setup("sqlite", "cluster", 2).check()
    with pytest.raises(SetupRefused, match="between 1 and"):
        Setup("postgresql", "single", 0).check()


def test_options_default_to_the_single_broker_sqlite_run_and_record_their_choice() -> None:
    assert setup_of(parse([])) == Setup()
    chosen = setup_of(parse(["--database", "postgresql", "--kafka", "cluster", "--instances", "2"]))
    assert chosen == Setup("postgresql", "cluster", 2)
    assert chosen.to_json() == {
        "database": "postgresql", "kafka": "cluster", "instances": 2, "timing": "test",
        "count_work": False,
    }  # fmt: skip


def test_instances_are_named_and_summed_per_service() -> None:
    assert instance_names("intake", 1) == ["intake"]
    assert instance_names("meeting_scheduler", 2) == ["meeting_scheduler.1", "meeting_scheduler.2"]
    assert service_of("meeting_scheduler.2") == "meeting_scheduler"
    assert per_service({"intake.1": 4.5, "intake.2": 5.25, "notifier.1": 30.0}) == {
        "intake": 9.75,
        "notifier": 30.0,
    }


def test_memory_peak_of_a_service_is_its_largest_instance() -> None:
    ledger = MemoryLedger()
    ledger.record("steady", {"intake.1": 80, "intake.2": 95}, {"intake.1": 90, "intake.2": None})
    ledger.record("saturation", {"intake.1": 70, "intake.2": 60}, {})
    assert ledger.peak("intake") == 95
    assert ledger.peak("intake.1") == 90
    assert ledger.services() == ["intake.1", "intake.2"]


def _steady(latencies: list[float], cpu: dict[str, float]) -> Results:
    run = Run("system", "steady", 10.0, len(latencies), 0.0)
    for number, latency in enumerate(latencies):
        item = f"c{number}"
        run.planned[item] = number / 10
        run.latencies.setdefault(ALERT_METRIC, {})[item] = latency
        run.done[item] = number / 10 + latency
    run.extra["cpu_ms_per_contact"] = per_service(cpu)
    if any("." in name for name in cpu):
        run.extra["cpu_ms_per_contact_per_instance"] = cpu
    results = Results(("steady",), True)
    results.runs["steady"] = {"system": run}
    return results


def _saturation(rate: float | None) -> Results:
    results = Results(("saturation",), True)
    search = Saturation("system", sustainable_rate=rate)
    run = Run("system", "sat", 24.0, 2, 0.0)
    run.latencies[ALERT_METRIC] = {"a": 2.0, "b": 3.0}
    search.steps.append(Step(run, False, ["p99 2990 ms > 1000 ms"]))
    results.saturation["system"] = search
    return results


def test_rounds_merge_into_a_comparison_of_two_instances_against_one() -> None:
    one = Round(1, _steady([0.1] * 99 + [0.5], {"intake": 10.0, "notifier": 30.0}))
    one.saturation = _saturation(12.0)
    one.steady.memory.record("steady", {"intake": 100 * 2**20}, {})  # type: ignore[union-attr]
    two = Round(
        2,
        _steady(
            [0.2] * 100, {"intake.1": 6.0, "intake.2": 6.5, "notifier.1": 20.0, "notifier.2": 19.0}
        ),
        _saturation(18.0),
    )
    first, second = summarize_round(one), summarize_round(two)
    assert first["steady"]["cpu_ms_per_contact_total"] == 40.0
    assert second["steady"]["cpu_ms_per_contact"] == {"intake": 12.5, "notifier": 39.0}
    assert second["steady"]["cpu_ms_per_contact_per_instance"]["intake.2"] == 6.5
    assert first["peak_rss_mb_per_instance"] == {"intake": 100.0}
    assert first["saturation"]["steps"][0]["alert_p99_ms"] == pytest.approx(2990.0)
    ratios = compare([first, second])["2_vs_1"]
    assert ratios["sustainable_rate"] == 1.5
    assert ratios["cpu_ms_per_contact_total"] == round(51.5 / 40.0, 2)
    assert ratios["steady_alert_p99"] == round(200.0 / first["steady"]["alert_p99_ms"], 2)
    assert compare([first]) == {}
