"""The funder's quarterly report: the meeting scheduler built it (FunderReportPublishedV1 on the
agenda topic) and the head of service gets it by e-mail with the PDF and the CSV attached, as the
coordinator gets an agenda (raising.raise_for_agenda): one alert, one step, by e-mail only
(escalating.EMAIL_ONLY_KINDS), no escalation. A redelivered event raises nothing new (claimed by
its id), nor does a second event for the same quarter and version (the alert's subject key).

Size: the attachments travel inside the event, so the Kafka record's limit (1 MiB by default) is
the one that counts; a report is about 60 KiB of PDF and 2 KiB of CSV. apprise attaches files of
up to 1000 MB, and the notifier sets no limit of its own."""

from __future__ import annotations

import base64

from services.notifier.adapters.tables import processed_events
from services.notifier.deps import NotifierDeps
from services.notifier.policy import Target
from services.notifier.ports import Attachment
from services.notifier.raising import agenda_recipients, announce, raise_alert
from shared.db import claim_event
from shared.events import FunderReportPublishedV1, Urgency


async def raise_for_funder_report(event: FunderReportPublishedV1, deps: NotifierDeps) -> None:
    now = deps.clock.now()
    async with deps.engine.begin() as connection:
        if not await claim_event(connection, processed_events, str(event.event_id), now):
            return
        raised = await raise_alert(
            connection,
            deps,
            kind="funder_report",
            subject_key=f"funder-report:{event.quarter}:v{event.version}",
            urgency=Urgency.ROUTINE,
            fields={"detail": event.quarter + (f" (version {event.version})" if event.version > 1 else "")},
            correlation_id=event.correlation_id,
            case_references=(),
            single_step=agenda_recipients(event.recipients or (Target.HEAD_OF_SERVICE.value,)),
            attachments=tuple(
                Attachment(item.filename, item.content_type, base64.b64decode(item.content_base64))
                for item in event.attachments
            ),
        )  # fmt: skip
    announce(deps, raised)
