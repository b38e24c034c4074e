"""The training pace warning: the meeting scheduler found the training and awareness sessions held
behind the straight-line pace to the funder's target (TrainingPaceWarningV1 on the agenda topic);
the head of service is told, once. Like the rota-gap warning (scheduling.warn_rota_gaps): one
alert, one step, to the head of service, no escalation.

Once per shortfall level: the scheduler publishes one event per level, and here the event is
claimed by its id (processed_events) and the alert keyed on the series, the project's start and
the level (`expected_by_now`), so a redelivery or a second event for the same level raises
nothing (the alerts table's unique kind and subject key)."""

from __future__ import annotations

from datetime import timedelta

from services.notifier.adapters.tables import processed_events
from services.notifier.deps import NotifierDeps
from services.notifier.policy import Target
from services.notifier.raising import announce, raise_alert
from shared.db import claim_event
from shared.events import TrainingPaceWarningV1, Urgency


def pace_detail(event: TrainingPaceWarningV1) -> str:
    """Counts and dates only: e.g. "0 of 3 sessions held, 2 expected by now (target 3 by
    31 Mar 2029)"."""
    by = event.period_ends - timedelta(days=1)  # the period's last day
    return (
        f"{event.held} of {event.target} sessions held, {event.expected_by_now} expected by now "
        f"(target {event.target} by {by:%d %b %Y})"
    )


async def raise_for_training_pace(event: TrainingPaceWarningV1, deps: NotifierDeps) -> None:
    now = deps.clock.now()
    async with deps.engine.begin() as connection:
        if not await claim_event(connection, processed_events, str(event.event_id), now):
            return
        raised = await raise_alert(
            connection,
            deps,
            kind="training_pace",
            subject_key=(
                f"{event.meeting_series}:{event.project_starts.isoformat()}:{event.expected_by_now}"
            ),
            urgency=Urgency.ROUTINE,
            fields={"detail": pace_detail(event), "count": str(event.expected_by_now - event.held)},
            correlation_id=event.correlation_id,
            case_references=(),
            single_step=(Target.HEAD_OF_SERVICE.value,),
        )
    announce(deps, raised)
