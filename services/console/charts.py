"""Charts as SVG drawn on the server: they need no script (the page policy allows none inline),
print and scale on a phone, and each carries its own text alternative. Hand-made because the
charts are a few rectangles: a plotting library (matplotlib is a dev dependency only) would add
tens of megabytes to the console for them."""

from __future__ import annotations

from markupsafe import Markup

WIDTH, ROW, LABEL = 640, 28, 220
BAR = "#1d70b8"  # GOV.UK blue: 4.5:1 against white for the text beside it
TEXT = "#0b0c0c"


def progress_bar(title: str, value: int, target: int) -> Markup:
    share = min(value / target, 1.0) if target else 0.0
    filled = round((WIDTH - 2) * share)
    label = f"{value} of {target} ({round(100 * value / target) if target else 0}%)"
    # Markup.format escapes every argument: titles and labels cannot inject markup.
    return Markup(
        '<svg class="console-chart" viewBox="0 0 {width} 60" role="img" aria-label="{title}: '
        '{label}" xmlns="http://www.w3.org/2000/svg"><title>{title}: {label}</title>'
        '<rect x="1" y="1" width="{inner}" height="30" fill="#f3f2f1" stroke="{text}"/>'
        '<rect x="1" y="1" width="{filled}" height="30" fill="{bar}"/>'
        '<text x="0" y="52" font-size="16" fill="{text}">{label}</text></svg>'
    ).format(width=WIDTH, inner=WIDTH - 2, title=title, label=label, filled=filled, text=TEXT,
             bar=BAR)  # fmt: skip


def bar_chart(
    title: str, rows: list[tuple[str, float]], maximum: float | None = None, unit: str = ""
) -> Markup:
    if not rows:
        return Markup('<p class="govuk-body">{}: nothing recorded yet.</p>').format(title)
    top = maximum or max(value for _, value in rows) or 1
    height = ROW * len(rows) + 4
    bars = []
    for index, (name, value) in enumerate(rows):
        y = 2 + index * ROW
        length = round((WIDTH - LABEL - 70) * min(value / top, 1.0))
        shown = f"{value:g}{unit}"
        bars.append(
            Markup(
                '<text x="0" y="{y}" font-size="15" fill="{text}">{name}</text>'
                '<rect x="{left}" y="{top}" width="{length}" height="{height}" fill="{bar}"/>'
                '<text x="{after}" y="{y}" font-size="15" fill="{text}">{shown}</text>'
            ).format(
                y=y + 18,
                text=TEXT,
                name=name[:28],
                left=LABEL,
                top=y + 4,
                length=length,
                height=ROW - 8,
                bar=BAR,
                after=LABEL + length + 6,
                shown=shown,
            )
        )
    summary = "; ".join(f"{name}: {value:g}{unit}" for name, value in rows)
    return Markup(
        '<svg class="console-chart" viewBox="0 0 {width} {height}" role="img" '
        'aria-label="{title}. {summary}" xmlns="http://www.w3.org/2000/svg">'
        "<title>{title}</title>{bars}</svg>"
    ).format(width=WIDTH, height=height, title=title, summary=summary, bars=Markup("").join(bars))
