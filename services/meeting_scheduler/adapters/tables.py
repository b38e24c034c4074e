from __future__ import annotations

import sqlalchemy as sa

from shared.audit import staff_actions_table
from shared.db import UtcDateTime, processed_events_table
from shared.outbox import outbox_table

metadata = sa.MetaData()

agenda_items = sa.Table(
    "agenda_items",
    metadata,
    sa.Column("item_id", sa.String(64), primary_key=True),
    sa.Column("case_reference", sa.String(32), nullable=False),
    sa.Column("meeting_series", sa.String(64), nullable=False),
    sa.Column("meeting_starts_at", UtcDateTime, nullable=False),
    sa.Column("district", sa.String(32), nullable=False),
    sa.Column("exploitation_types", sa.String(200), nullable=False),
    sa.Column("urgency", sa.String(16), nullable=False),
    sa.Column("open_needs", sa.String(400), nullable=False),
    sa.Column("late", sa.Boolean, nullable=False),
    sa.Column("added_at", UtcDateTime, nullable=False),
    # The coordinator's hand: a position in the agenda, and withdrawal with a reason.
    sa.Column("position", sa.Integer, nullable=True),
    sa.Column("withdrawn_reason", sa.String(500), nullable=True),
    # From the referral, for the printed agenda (None on items listed before they were kept).
    sa.Column("pathway", sa.String(32), nullable=True),
    sa.Column("contacted_at", UtcDateTime, nullable=True),
    # True once the scheduler records who acknowledged the case's alert (meeting_scheduler_0011):
    # an item listed before then with no acknowledgement known prints "not recorded", not "not
    # yet acknowledged".
    sa.Column("advisor_recorded", sa.Boolean, nullable=False, server_default=sa.false()),
    # A case enters a series once; later meetings list it as a review while it stays open.
    sa.UniqueConstraint("case_reference", "meeting_series", name="uq_agenda_case_series"),
    sa.Index("ix_agenda_items_series", "meeting_series", "meeting_starts_at"),  # an agenda's reads
)

# Items the coordinator adds by hand: any other business.
manual_items = sa.Table(
    "manual_items",
    metadata,
    sa.Column("item_id", sa.String(64), primary_key=True),
    sa.Column("meeting_series", sa.String(64), nullable=False),
    sa.Column("meeting_starts_at", UtcDateTime, nullable=False),
    sa.Column("text", sa.String(500), nullable=False),
    sa.Column("added_by", sa.String(64), nullable=False),
    sa.Column("added_at", UtcDateTime, nullable=False),
    sa.Index("ix_manual_items_series", "meeting_series", "meeting_starts_at"),
)

# Each version of a meeting's agenda that was sent to the coordinator, with a digest of its text:
# a change after publication is published again as the next version, marked as revised.
agenda_publications = sa.Table(
    "agenda_publications",
    metadata,
    sa.Column("meeting_series", sa.String(64), primary_key=True),
    sa.Column("meeting_starts_at", UtcDateTime, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("published_at", UtcDateTime, nullable=False),
)

# What casework says about each case's tasks: open needs, overdue actions, and whether the case is
# still open (a case with no open task drops off the agenda).
case_tasks = sa.Table(
    "case_tasks",
    metadata,
    sa.Column("task_id", sa.String(64), primary_key=True),
    sa.Column("case_reference", sa.String(32), nullable=False, index=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("open", sa.Boolean, nullable=False),
    sa.Column("overdue", sa.Boolean, nullable=False),
)

# Who took each case: the rota person id of the advisor who acknowledged its alert
# (AlertAcknowledgedV1, the latest acknowledgement by its time), for the agenda's "Assigned advisor".
# Staff, not the person the case is about. Kept per case, so an acknowledgement that arrives before
# the referral's agenda item still finds it.
case_advisors = sa.Table(
    "case_advisors",
    metadata,
    sa.Column("case_reference", sa.String(32), primary_key=True),
    sa.Column("person_id", sa.String(64), nullable=False),
    sa.Column("alert_id", sa.String(64), nullable=False),
    sa.Column("acknowledged_at", UtcDateTime, nullable=False),
)

# Non-identifying facts of every referral (adult and child), for the NASN's anonymised counts.
referral_stats = sa.Table(
    "referral_stats",
    metadata,
    sa.Column(
        "case_reference", sa.String(32), primary_key=True
    ),  # never rendered: de-duplication only
    sa.Column("occurred_at", UtcDateTime, nullable=False),
    sa.Column("district", sa.String(32), nullable=False),
    sa.Column("exploitation_types", sa.String(200), nullable=False),
    sa.Column("operation", sa.String(100), nullable=True),
    # The NASN agenda's quarter summary reads one quarter (meeting_scheduler_0017).
    sa.Index("ix_referral_stats_occurred", "occurred_at"),
)

# The latest figures casework reported (CaseworkFiguresV1), for the NASN's themes.
casework_figures = sa.Table(
    "casework_figures",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),  # always 1: only the latest is kept
    sa.Column("figures", sa.Text, nullable=False),
    sa.Column("reported_at", UtcDateTime, nullable=False),
)

# Themes the coordinator flags for the NASN's learning: text only, the case stays behind.
learning_flags = sa.Table(
    "learning_flags",
    metadata,
    sa.Column("flag_id", sa.String(64), primary_key=True),
    sa.Column("theme", sa.String(300), nullable=False),
    sa.Column("flagged_by", sa.String(64), nullable=False),
    sa.Column("flagged_at", UtcDateTime, nullable=False),
)

# Minutes (services/meeting_scheduler/minutes.py): who attended each meeting or sent apologies,
# and the decisions and actions recorded per item. Organisations and roles only: no names.
meeting_attendance = sa.Table(
    "meeting_attendance",
    metadata,
    sa.Column("meeting_series", sa.String(64), primary_key=True),
    sa.Column("meeting_starts_at", UtcDateTime, primary_key=True),
    sa.Column("organisation", sa.String(120), primary_key=True),  # present or apologies, not both
    sa.Column("status", sa.String(16), nullable=False),  # "present" | "apologies"
    sa.Column("ordinal", sa.Integer, nullable=False),  # as the coordinator listed them
    sa.Column("recorded_by", sa.String(64), nullable=False),
    sa.Column("recorded_at", UtcDateTime, nullable=False),
)

meeting_decisions = sa.Table(
    "meeting_decisions",
    metadata,
    sa.Column("decision_id", sa.String(64), primary_key=True),
    sa.Column("meeting_series", sa.String(64), nullable=False),
    sa.Column("meeting_starts_at", UtcDateTime, nullable=False),
    sa.Column("case_reference", sa.String(32), nullable=True),  # None: the meeting as a whole
    sa.Column("text", sa.String(500), nullable=False),
    sa.Column("ordinal", sa.Integer, nullable=False),
    sa.Column("recorded_by", sa.String(64), nullable=False),
    sa.Column("recorded_at", UtcDateTime, nullable=False),
    sa.Index("ix_meeting_decisions_meeting", "meeting_series", "meeting_starts_at"),
)

# An action stays open (and on every later agenda of its series) until marked done.
meeting_actions = sa.Table(
    "meeting_actions",
    metadata,
    sa.Column("action_id", sa.String(64), primary_key=True),
    sa.Column("meeting_series", sa.String(64), nullable=False),
    sa.Column("meeting_starts_at", UtcDateTime, nullable=False),
    sa.Column("case_reference", sa.String(32), nullable=True),  # None: the meeting as a whole
    sa.Column("text", sa.String(500), nullable=False),
    sa.Column("owner", sa.String(120), nullable=False),
    sa.Column("due", sa.Date, nullable=False),
    sa.Column("ordinal", sa.Integer, nullable=False),
    sa.Column("recorded_by", sa.String(64), nullable=False),
    sa.Column("recorded_at", UtcDateTime, nullable=False),
    sa.Column("done_at", UtcDateTime, nullable=True),
    sa.Column("done_by", sa.String(64), nullable=True),
    sa.Index("ix_meeting_actions_series", "meeting_series", "meeting_starts_at"),
)

# Training and awareness sessions (services/meeting_scheduler/training.py, meeting_scheduler_0012):
# a topic about training (no personal data), the audience organisations as a JSON list of short
# names, and the number attending once the session is held (None: planned).
training_sessions = sa.Table(
    "training_sessions",
    metadata,
    sa.Column("session_id", sa.String(64), primary_key=True),
    sa.Column("meeting_series", sa.String(64), nullable=False),
    sa.Column("starts_at", UtcDateTime, nullable=False, index=True),
    sa.Column("topic", sa.String(120), nullable=False),
    sa.Column("audience", sa.Text, nullable=False),
    sa.Column("materials_url", sa.String(500), nullable=True),
    sa.Column("attending", sa.Integer, nullable=True),
    sa.Column("attendance_recorded_by", sa.String(64), nullable=True),
    sa.Column("attendance_recorded_at", UtcDateTime, nullable=True),
    sa.Column("recorded_by", sa.String(64), nullable=False),
    sa.Column("recorded_at", UtcDateTime, nullable=False),
)

# The shortfall level the head of service was last warned of (expected_by_now), per series: a
# warning is sent when the expected count rises above it while behind; the row goes when the
# sessions held catch up. In the database, so a restart does not warn twice.
training_pace_warnings = sa.Table(
    "training_pace_warnings",
    metadata,
    sa.Column("meeting_series", sa.String(64), primary_key=True),
    sa.Column("warned_expected", sa.Integer, nullable=False),
    sa.Column("warned_at", UtcDateTime, nullable=False),
)

# Police operations announced ahead (services/meeting_scheduler/operations.py): the latest version
# of each and the case-panel meeting its debrief goes on; and, per case, the operation group and
# the facts its debrief counts (no identity: child or not, NRM consent, when the police met them).
operation_debriefs = sa.Table(
    "operation_debriefs",
    metadata,
    sa.Column("operation_group", sa.String(80), primary_key=True),
    sa.Column("operation", sa.String(64), nullable=False),
    sa.Column("district", sa.String(32), nullable=False),
    sa.Column("starts_at", UtcDateTime, nullable=False),
    sa.Column("ends_at", UtcDateTime, nullable=False),
    sa.Column("expected_victims", sa.Integer, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("meeting_series", sa.String(64), nullable=False),
    sa.Column("meeting_starts_at", UtcDateTime, nullable=False, index=True),
)

operation_contacts = sa.Table(
    "operation_contacts",
    metadata,
    sa.Column("case_reference", sa.String(32), primary_key=True),
    sa.Column("operation_group", sa.String(200), nullable=False, index=True),
    sa.Column("child", sa.Boolean, nullable=False),
    sa.Column("nrm_consent", sa.String(16), nullable=False),
    sa.Column("recorded_at", UtcDateTime, nullable=False),
)

# The funder's quarterly reports (services/meeting_scheduler/funder_report.py,
# meeting_scheduler_0015): one row per financial quarter and version (a rebuild is a higher
# version; the highest is the report), the figures as shown (JSON, small numbers suppressed) and
# the PDF and CSV as sent. No case reference.
funder_reports = sa.Table(
    "funder_reports",
    metadata,
    sa.Column("quarter", sa.String(10), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("event_id", sa.String(64), nullable=False),  # casework's CaseworkQuarterV1
    sa.Column("starts_on", sa.Date, nullable=False),
    sa.Column("ends_on", sa.Date, nullable=False),
    sa.Column("figures", sa.Text, nullable=False),
    sa.Column("pdf", sa.LargeBinary, nullable=False),
    sa.Column("csv", sa.Text, nullable=False),
    sa.Column("published_at", UtcDateTime, nullable=False),
)

# Onward referrals (services/meeting_scheduler/referral_outcomes.py, meeting_scheduler_0014): the
# latest outcome of each referral casework reported, for the case panel's agenda. `recorded_at` and
# `event_id` order the reports, so a redelivered or older one never replaces a newer one.
referral_outcomes = sa.Table(
    "referral_outcomes",
    metadata,
    sa.Column("referral_id", sa.String(64), primary_key=True),
    sa.Column("case_reference", sa.String(32), nullable=False, index=True),
    sa.Column("task_id", sa.String(64), nullable=False),
    sa.Column("need", sa.String(64), nullable=False),
    sa.Column("organisation_id", sa.String(64), nullable=True),
    sa.Column("organisation_name", sa.String(80), nullable=True),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("decline_reason", sa.String(32), nullable=True),
    sa.Column("recorded_at", UtcDateTime, nullable=False),
    sa.Column("event_id", sa.String(64), nullable=False),
)

outbox = outbox_table(metadata)
processed_events = processed_events_table(metadata)

# Who changed an agenda, how and when (shared/audit.py): append-only.
staff_actions = staff_actions_table(metadata)
# Every agenda build reads the deferrals and withdrawals by action and case (meeting_scheduler_0017).
sa.Index("ix_staff_actions_action_subject", staff_actions.c.action, staff_actions.c.subject)
