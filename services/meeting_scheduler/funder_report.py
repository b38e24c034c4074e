"""The funder's quarterly report (issue #15 part 6), as figures, CSV and PDF: pure, no I/O.

Casework's figures for the quarter and the project to date (CaseworkQuarterV1) and the meeting
scheduler's own (`SchedulerFigures`: operations supported, training sessions and attendance, NASN
meetings held) become one list of `Figure` rows: section, figure, quarter, project to date. The CSV
is those rows; the API answers with them; the PDF prints them in tables, after two charts (people
supported against the target; onward referrals by need and outcome).

Small numbers: every count of 1 or 2 reads "<3" (the NASN agenda's threshold, nasn.SMALL_NUMBER),
in the CSV, the PDF, the charts and the API alike; 0 stays 0. The target is not a count and is
shown as it is. Hours from police contact to first contact (median, 90th percentile) show one
decimal, and read "<3" too when fewer than 3 people were supported in the period (a median of one
or two people is their own time). In the charts a suppressed value is drawn as no bar, with "<3"
written where its bar would stand, so no height can be read off for it.

No case reference reaches the report: casework's event carries none, and its category keys (need,
outcome, criminal-justice state) are printed only when they look like keys (lower case, digits,
underscores); anything else reads "other".

Deterministic: the same figures give the same CSV and the same PDF bytes (fixed creation date, PNG
charts without software or date metadata)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

from services.meeting_scheduler.nasn import SMALL_NUMBER
from services.meeting_scheduler.printing import FONT, _font_files
from shared.events import CaseworkQuarterV1, QuarterCaseworkFigures
from shared.labels import TASK_KINDS, label

SUPPRESSED = f"<{SMALL_NUMBER}"
NOT_KNOWN = "not known"
MARKING = "OFFICIAL"  # aggregated counts only: no case-level detail
CSV_HEADER = ("section", "figure", "quarter", "project_to_date")
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


@dataclass(frozen=True)
class SchedulerFigures:
    """The meeting scheduler's own figures for one period (see funder_reporting.py for what each
    counts)."""

    operations_supported: int
    operation_contacts: int
    training_sessions_held: int
    training_attendance: int
    nasn_meetings_held: int


@dataclass(frozen=True)
class Figure:
    section: str
    figure: str
    quarter: str
    project_to_date: str


def shown(value: int) -> str:
    """A count as the report shows it: 1 or 2 read "<3"."""
    return SUPPRESSED if 0 < value < SMALL_NUMBER else str(value)


def hours(value: float | None, people: int) -> str:
    if value is None:
        return NOT_KNOWN
    if 0 < people < SMALL_NUMBER:
        return SUPPRESSED
    return f"{value:.1f}"


def _key(value: str) -> str:
    return value if _KEY.match(value) else "other"


def _merged(counts: Mapping[str, int]) -> dict[str, int]:
    merged: dict[str, int] = {}
    for key, value in counts.items():
        merged[_key(key)] = merged.get(_key(key), 0) + value
    return merged


def referrals(figures: QuarterCaseworkFigures) -> dict[tuple[str, str], int]:
    """(need, outcome) -> count, keys made safe to print."""
    found: dict[tuple[str, str], int] = {}
    for need, outcomes in figures.referrals_by_need_and_outcome.items():
        for outcome, value in outcomes.items():
            pair = (_key(need), _key(outcome))
            found[pair] = found.get(pair, 0) + value
    return found


def quarter_title(quarter: str) -> str:
    return f"Modern Slavery Advisor: quarterly report to the funder, {quarter}"


def figures_of(
    event: CaseworkQuarterV1, quarter: SchedulerFigures, to_date: SchedulerFigures
) -> list[Figure]:
    """Every figure of the report, suppressed, in the order the PDF and the CSV give them."""
    q, t = event.quarter_figures, event.to_date
    rows: list[Figure] = []

    def add(section: str, figure: str, in_quarter: int, so_far: int) -> None:
        rows.append(Figure(section, figure, shown(in_quarter), shown(so_far)))

    people = "People supported"
    add(people, "People supported (cases opened)", q.people_supported, t.people_supported)
    rows.append(Figure(people, "Target over the project", "", str(event.target)))
    add(people, "Children (handed to children's services)", q.children, t.children)
    add(people, "Adults who declined the NRM", q.adults_declined_nrm, t.adults_declined_nrm)
    add(people, "Other adults (consented, or not yet asked)", q.adults_other, t.adults_other)
    response = "Response"
    rows.append(
        Figure(
            response, "Hours from police contact to first contact, median",
            hours(q.hours_to_first_contact_median, q.people_supported),
            hours(t.hours_to_first_contact_median, t.people_supported),
        )
    )  # fmt: skip
    rows.append(
        Figure(
            response, "Hours from police contact to first contact, 90th percentile",
            hours(q.hours_to_first_contact_p90, q.people_supported),
            hours(t.hours_to_first_contact_p90, t.people_supported),
        )
    )  # fmt: skip
    add(response, "Alerts acknowledged", q.alerts_acknowledged, t.alerts_acknowledged)
    add(
        response, "Alerts acknowledged within target",
        q.alerts_acknowledged_within_target, t.alerts_acknowledged_within_target,
    )  # fmt: skip
    in_quarter, so_far = referrals(q), referrals(t)
    for need, outcome in sorted(in_quarter.keys() | so_far.keys()):
        add(
            "Onward referrals by need and outcome",
            f"{label(TASK_KINDS, need)}: {label({}, outcome).lower()}",
            in_quarter.get((need, outcome), 0), so_far.get((need, outcome), 0),
        )  # fmt: skip
    states_q, states_t = _merged(q.criminal_justice_by_state), _merged(t.criminal_justice_by_state)
    for state in sorted(states_q.keys() | states_t.keys()):
        add(
            "Criminal-justice engagement", label({}, state),
            states_q.get(state, 0), states_t.get(state, 0),
        )  # fmt: skip
    add("Police operations", "Operations supported", quarter.operations_supported,
        to_date.operations_supported)  # fmt: skip
    add("Police operations", "People met under those operations", quarter.operation_contacts,
        to_date.operation_contacts)  # fmt: skip
    add("Training", "Training sessions held", quarter.training_sessions_held,
        to_date.training_sessions_held)  # fmt: skip
    add("Training", "Attendance at training sessions", quarter.training_attendance,
        to_date.training_attendance)  # fmt: skip
    add("NASN", "NASN meetings held", quarter.nasn_meetings_held, to_date.nasn_meetings_held)
    return rows


def to_csv(rows: Iterable[Figure]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    writer.writerows((row.section, row.figure, row.quarter, row.project_to_date) for row in rows)
    return out.getvalue()


# --- Charts ----------------------------------------------------------------------------------


def _plotted(value: int) -> tuple[float, str]:
    """A bar's height and its label: a suppressed value has no bar, only its "<3"."""
    text = shown(value)
    return (0.0 if text == SUPPRESSED else float(value)), text


def _png(figure: object) -> bytes:
    buffer = io.BytesIO()
    # No "Software" (matplotlib's version) and no date: the same figures, the same bytes.
    figure.savefig(buffer, format="png", dpi=110, metadata={"Software": None})  # type: ignore[attr-defined]
    return buffer.getvalue()


def people_chart(event: CaseworkQuarterV1) -> bytes:
    """People supported this quarter and to date, against the project's target."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure as Canvas

    canvas = Canvas(figsize=(6.0, 2.6))
    axes = canvas.subplots()
    names = ["This quarter", "Project to date", "Target"]
    plotted = [
        _plotted(event.quarter_figures.people_supported),
        _plotted(event.to_date.people_supported),
    ]
    heights = [height for height, _ in plotted] + [float(event.target)]
    texts = [text for _, text in plotted] + [str(event.target)]
    bars = axes.barh(names, heights, color=["#4c72b0", "#4c72b0", "#bbbbbb"])
    axes.bar_label(bars, labels=texts, padding=3)
    axes.invert_yaxis()
    axes.set_xlim(0, max(heights) * 1.15 + 1)
    axes.set_xlabel("People")
    axes.set_title("People supported against the target")
    canvas.tight_layout()
    return _png(canvas)


def referrals_chart(event: CaseworkQuarterV1) -> bytes:
    """Onward referrals to date: one group of bars per need, one bar per outcome."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure as Canvas

    counts = referrals(event.to_date)
    needs = sorted({need for need, _ in counts})
    outcomes = sorted({outcome for _, outcome in counts})
    canvas = Canvas(figsize=(6.0, 3.2))
    axes = canvas.subplots()
    if not counts:
        axes.text(0.5, 0.5, "No onward referrals yet", ha="center", va="center")
        axes.set_axis_off()
    else:
        width = 0.8 / len(outcomes)
        for number, outcome in enumerate(outcomes):
            plotted = [_plotted(counts.get((need, outcome), 0)) for need in needs]
            positions = [index + number * width for index in range(len(needs))]
            bars = axes.bar(
                positions, [height for height, _ in plotted], width, label=label({}, outcome)
            )
            axes.bar_label(bars, labels=[text for _, text in plotted], padding=2, fontsize=7)
        axes.set_xticks(
            [index + 0.4 - width / 2 for index in range(len(needs))],
            [label(TASK_KINDS, need) for need in needs],
            rotation=20,
            ha="right",
            fontsize=8,
        )
        axes.set_ylabel("Referrals")
        axes.legend(fontsize=7)
        axes.margins(y=0.2)
    axes.set_title("Onward referrals to date, by need and outcome")
    canvas.tight_layout()
    return _png(canvas)


# --- PDF -------------------------------------------------------------------------------------


def to_pdf(event: CaseworkQuarterV1, rows: list[Figure], version: int, created: datetime) -> bytes:
    from fpdf import FPDF

    title = quarter_title(event.quarter)

    class MarkedPdf(FPDF):
        def header(self) -> None:
            self.set_font(FONT, "B", 9)
            self.cell(0, 5, MARKING, align="C", new_x="LMARGIN", new_y="NEXT")
            self.ln(2)

        def footer(self) -> None:
            self.set_y(-13)
            self.set_font(FONT, "", 9)
            self.cell(self.epw / 2, 5, MARKING, align="L")
            self.cell(0, 5, f"Page {self.page_no()} of {{nb}}", align="R")

    pdf = MarkedPdf(format="A4")
    for style, path in _font_files().items():
        pdf.add_font(FONT, style, str(path))
    pdf.set_creation_date(created)
    pdf.set_title(title)
    pdf.set_producer("safeguarding meeting_scheduler")
    pdf.set_margins(15, 12, 15)
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.add_page()
    pdf.set_font(FONT, "B", 14)
    pdf.multi_cell(0, 7, title, align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", 9)
    pdf.multi_cell(
        0, 5,
        f"Quarter: {_day(event.starts_on)} to {_day(event.ends_on)}. Project to date: from "
        f"{_day(event.project_starts)}. Version {version}. Counts of 1 or 2 read {SUPPRESSED}; "
        "no case reference appears.",
        new_x="LMARGIN", new_y="NEXT",
    )  # fmt: skip
    pdf.ln(2)
    for chart in (people_chart(event), referrals_chart(event)):
        pdf.image(io.BytesIO(chart), w=pdf.epw * 0.85)
        pdf.ln(2)
    section = None
    for name in dict.fromkeys(row.section for row in rows):
        section = [row for row in rows if row.section == name]
        if pdf.will_page_break(20):
            pdf.add_page()
        pdf.set_font(FONT, "B", 11)
        pdf.cell(0, 7, name, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(FONT, "", 9)
        with pdf.table(col_widths=(60, 20, 20), text_align=("LEFT", "RIGHT", "RIGHT")) as table:
            table.row(("Figure", "Quarter", "Project to date"))
            for row in section:
                table.row((row.figure, row.quarter, row.project_to_date))
        pdf.ln(2)
    return bytes(pdf.output())


def _day(value: date) -> str:
    return f"{value.day} {value:%B %Y}"
