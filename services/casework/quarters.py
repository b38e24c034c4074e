"""Financial quarters and casework's figures for the funder's quarterly report: pure rules.

A financial year starts on 1 April; Q1 is April to June, Q4 January to March. A quarter is named
by its financial year and number: 2026-27-Q3 is October to December 2026, 2026-27-Q4 January to
March 2027. A quarter's days are London days: it starts at London midnight on its first day and
ends at London midnight after its last (GMT or BST, whichever is in force then).

The figures for a period (a quarter, or the project to date) are computed here from plain facts
that services/casework/quarter_reports.py reads from casework's tables; see `period_figures` for
what each figure counts.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from services.casework.criminal_justice import Engagement
from shared.clock import LONDON
from shared.events import NrmConsent, Pathway, QuarterCaseworkFigures, Urgency

QUARTER_NAME = re.compile(r"^(\d{4})-(\d{2})-Q([1-4])$")
# The first month of each quarter of a financial year, and whether it falls in the next
# calendar year (Q4: January).
_FIRST_MONTH = {1: (4, 0), 2: (7, 0), 3: (10, 0), 4: (1, 1)}


class BadQuarter(ValueError):
    """Not a quarter's name (e.g. 2026-27-Q3); the message is safe to return."""


@dataclass(frozen=True, order=True)
class Quarter:
    financial_year: int  # the calendar year the financial year starts in (April)
    number: int  # 1..4

    @property
    def name(self) -> str:
        return f"{self.financial_year}-{(self.financial_year + 1) % 100:02d}-Q{self.number}"

    @property
    def starts_on(self) -> date:
        month, later = _FIRST_MONTH[self.number]
        return date(self.financial_year + later, month, 1)

    @property
    def ends_on(self) -> date:
        """The last day (inclusive)."""
        return self.following().starts_on - timedelta(days=1)

    def following(self) -> Quarter:
        if self.number == 4:
            return Quarter(self.financial_year + 1, 1)
        return Quarter(self.financial_year, self.number + 1)

    def previous(self) -> Quarter:
        if self.number == 1:
            return Quarter(self.financial_year - 1, 4)
        return Quarter(self.financial_year, self.number - 1)

    def bounds(self) -> tuple[datetime, datetime]:
        """[start, end) as instants: London midnight on the first day and after the last."""
        return london_midnight(self.starts_on), london_midnight(self.ends_on + timedelta(days=1))

    def has_ended(self, now: datetime) -> bool:
        return now >= self.bounds()[1]


def parse_quarter(name: str) -> Quarter:
    found = QUARTER_NAME.fullmatch(name)
    if found is None:
        raise BadQuarter("a quarter is named like 2026-27-Q3 (financial year, then Q1 to Q4)")
    year, short, number = int(found[1]), int(found[2]), int(found[3])
    if not 2000 <= year <= 2999:
        raise BadQuarter("a financial year from 2000-01 to 2999-00")
    if short != (year + 1) % 100:
        raise BadQuarter("a financial year is two consecutive years, e.g. 2026-27")
    return Quarter(year, number)


def quarter_of(day: date) -> Quarter:
    """The financial quarter containing a (London) date."""
    year = day.year if day.month >= 4 else day.year - 1
    return Quarter(year, (day.month - 4) % 12 // 3 + 1)


def london_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), LONDON)


def last_closed_quarter(now: datetime) -> Quarter:
    """The latest quarter whose last London day has ended at the instant `now`."""
    return quarter_of(now.astimezone(LONDON).date()).previous()


@dataclass(frozen=True)
class ReportPolicy:
    """What the report measures against: the project's first day (London date; the project to
    date runs from it), the people-supported target, and the acknowledgement target per urgency
    (services/casework/config.py: `acknowledgement_target_minutes`)."""

    project_starts: date
    target: int
    acknowledgement_targets: Mapping[Urgency, timedelta]

    def reportable(self, quarter: Quarter) -> bool:
        """A quarter that ended before the project started has nothing to report."""
        return quarter.ends_on >= self.project_starts

    def to_date_bounds(self, quarter: Quarter) -> tuple[datetime, datetime]:
        return london_midnight(self.project_starts), quarter.bounds()[1]


@dataclass(frozen=True)
class CaseFacts:
    """One case as casework knows it: no identifier beyond what the query needed."""

    pathway: str
    nrm_consent: str | None  # None: opened before casework_0009 kept it
    recorded_at: datetime  # police contact
    opened_at: datetime  # the case's first referral event
    first_contact_at: datetime | None  # the first_contact task closed as done
    alert_urgency: str | None  # the case's first alert about it (notifier's AlertRaisedV1)
    alert_raised_at: datetime | None
    alert_acknowledged_at: datetime | None
    engagement: str | None  # criminal-justice engagement now; None: not yet asked

    @property
    def child(self) -> bool:
        return self.pathway == Pathway.CHILD.value

    @property
    def declined_nrm(self) -> bool:
        if self.nrm_consent is not None:
            return self.nrm_consent == NrmConsent.DECLINED.value
        return self.pathway == Pathway.DUTY_TO_NOTIFY.value  # declined ⇒ Duty to Notify


@dataclass(frozen=True)
class ReferralFact:
    kind: str  # the need
    made_on: date
    outcome: str  # latest


def nearest_rank(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile: the smallest value with at least `fraction` of the values at
    or below it (the 90th percentile of 10 values is the 9th smallest)."""
    ordered = sorted(values)
    return ordered[max(math.ceil(fraction * len(ordered)), 1) - 1]


def period_figures(
    cases: Iterable[CaseFacts],
    referrals: Iterable[ReferralFact],
    start: datetime,
    end: datetime,
    policy: ReportPolicy,
) -> QuarterCaseworkFigures:
    """Casework's figures for the period [start, end):

    - cases: those first opened (first referral event) in the period. `people_supported` counts
      the adults among them (the service does not take a child's case; children are counted on
      their own), split into `adults_declined_nrm` (consent declined, the latest the police sent)
      and `adults_other` (consent given or not asked).
    - hours to first contact: as GET /v1/figures measures it, from the police contact
      (`recorded_at`) to the closing of the case's `first_contact` task as done, for the adult
      cases of the period whose first contact was done before the period ended; median and
      nearest-rank 90th percentile, in hours to 2 decimals; None when there is none.
    - alerts: cases of the period (children too) whose first alert was acknowledged before the
      period ended, and of those the ones acknowledged within the target for the alert's
      urgency, from the alert being raised (the notifier's own measure in its GET /v1/figures).
    - referrals: onward referrals made (`made_on`, a London date) in the period, by need then
      their latest outcome.
    - criminal justice: the adult cases of the period by their engagement now (no record: not
      yet asked), every state listed.
    """
    first_day = start.astimezone(LONDON).date()
    last_day = (end - timedelta(microseconds=1)).astimezone(LONDON).date()  # end is exclusive
    mine = [case for case in cases if start <= case.opened_at < end]
    adults = [case for case in mine if not case.child]
    declined = sum(1 for case in adults if case.declined_nrm)
    hours = [
        (case.first_contact_at - case.recorded_at).total_seconds() / 3600
        for case in adults
        if case.first_contact_at is not None and case.first_contact_at < end
    ]
    acknowledged = [
        case
        for case in mine
        if case.alert_acknowledged_at is not None and case.alert_acknowledged_at < end
    ]
    within = sum(1 for case in acknowledged if _within_target(case, policy))
    by_need: dict[str, dict[str, int]] = {}
    for referral in referrals:
        if first_day <= referral.made_on <= last_day:
            outcomes = by_need.setdefault(referral.kind, {})
            outcomes[referral.outcome] = outcomes.get(referral.outcome, 0) + 1
    engaged = {state.value: 0 for state in Engagement}
    for case in adults:
        state = case.engagement or Engagement.NOT_YET_ASKED.value
        engaged[state] = engaged.get(state, 0) + 1
    return QuarterCaseworkFigures(
        people_supported=len(adults),
        children=len(mine) - len(adults),
        adults_declined_nrm=declined,
        adults_other=len(adults) - declined,
        hours_to_first_contact_median=round(statistics.median(hours), 2) if hours else None,
        hours_to_first_contact_p90=round(nearest_rank(hours, 0.9), 2) if hours else None,
        alerts_acknowledged=len(acknowledged),
        alerts_acknowledged_within_target=within,
        referrals_by_need_and_outcome=by_need,
        criminal_justice_by_state=engaged,
    )


def _within_target(case: CaseFacts, policy: ReportPolicy) -> bool:
    raised, acknowledged = case.alert_raised_at, case.alert_acknowledged_at
    if raised is None or acknowledged is None or case.alert_urgency is None:
        return False  # the raise was never seen: no measure, so not counted as met
    target = policy.acknowledgement_targets.get(Urgency(case.alert_urgency))
    return target is not None and acknowledged - raised <= target
