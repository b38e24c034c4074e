"""A Layout written as Markdown, as HTML, and as PDF (fpdf2 drawing that same HTML with
`FPDF.write_html`): three formats from one structure, so they say the same thing.

Deterministic throughout: the same layout gives the same text and the same PDF bytes."""

from __future__ import annotations

import importlib.util
import logging
from functools import cache
from html import escape as _escape
from pathlib import Path

from services.meeting_scheduler.layout import Bullets, Layout, Paragraph, Section, Table

# --- Markdown --------------------------------------------------------------------------------

_MARKDOWN_SPECIAL = str.maketrans({c: f"\\{c}" for c in "\\`*_[]<>|"})


def _md(text: str) -> str:
    """Text as Markdown shows it literally: what staff type is never read as markup."""
    return " ".join(text.translate(_MARKDOWN_SPECIAL).split())


def _md_line(text: str) -> str:
    """Text that starts a line: a leading #, - or + would make it a heading or a list item."""
    escaped = _md(text)
    return f"\\{escaped}" if escaped.startswith(("#", "-", "+")) else escaped


def _markdown_block(block: Paragraph | Bullets | Table) -> list[str]:
    if isinstance(block, Paragraph):
        return [_md_line(block.text), ""]
    if isinstance(block, Bullets):
        return [*(f"- {_md_line(item)}" for item in block.items), ""]
    lines = [
        "| " + " | ".join(_md(cell) for cell in block.header) + " |",
        "|" + "|".join("---" for _ in block.header) + "|",
    ]
    lines += ["| " + " | ".join(_md(cell) for cell in row) + " |" for row in block.rows]
    return [*lines, ""]


def to_markdown(layout: Layout) -> str:
    lines = [f"# {_md(layout.title)}", "", f"**{layout.marking}**", ""]
    lines += [f"- **{label}:** {_md(value)}" for label, value in layout.cover]
    for section in layout.sections:
        lines += ["", f"{'#' * section.level} {_md(section.heading)}", ""]
        for block in section.blocks:
            lines += _markdown_block(block)
        while lines[-1] == "":
            lines.pop()
    return "\n".join([*lines, "", f"**{layout.marking}**", ""])


# --- HTML ------------------------------------------------------------------------------------


def escape(text: str) -> str:
    """Text content only (no attribute carries what people type): <, > and & are enough, and
    King's Lynn stays readable in the source."""
    return _escape(text, quote=False)


def _html_block(block: Paragraph | Bullets | Table) -> str:
    if isinstance(block, Paragraph):
        return f"<p>{escape(block.text)}</p>\n"
    if isinstance(block, Bullets):
        items = "".join(f"<li>{escape(item)}</li>\n" for item in block.items)
        return f"<ul>\n{items}</ul>\n"
    # width on the first row's cells: fpdf2 sizes the PDF's columns from it, as browsers do.
    header = "".join(
        f'<th width="{width:g}%" align="left" bgcolor="#e8e8e8">{escape(cell)}</th>'
        for cell, width in zip(block.header, block.widths, strict=True)
    )
    rows = "".join(
        "<tr>" + "".join(f'<td align="left">{escape(cell)}</td>' for cell in row) + "</tr>\n"
        for row in block.rows
    )
    return f'<table border="1" width="100%">\n<tr>{header}</tr>\n{rows}</table>\n'


def _html_section(section: Section) -> str:
    tag = f"h{section.level}"
    blocks = "".join(_html_block(block) for block in section.blocks)
    return f"<{tag}>{escape(section.heading)}</{tag}>\n{blocks}"


def _head(layout: Layout) -> str:
    cover = "<br>\n".join(
        f"<strong>{escape(label)}:</strong> {escape(value)}" for label, value in layout.cover
    )
    return f"<h1>{escape(layout.title)}</h1>\n<p>{cover}</p>\n"


def _parts(layout: Layout) -> list[str]:
    """The PDF's body: the head, then each section (the marking is in every page's margins)."""
    return [_head(layout), *(_html_section(section) for section in layout.sections)]


BODY_PT = 9.0  # a dense paper
WIDE_TABLE_PT = 8.0  # a table of more than WIDE_TABLE_COLUMNS columns, so it fits A4 portrait
WIDE_TABLE_COLUMNS = 8


def _body_size(section: Section) -> float:
    wide = any(
        isinstance(block, Table) and len(block.header) > WIDE_TABLE_COLUMNS
        for block in section.blocks
    )
    return WIDE_TABLE_PT if wide else BODY_PT


def html_body(layout: Layout) -> str:
    """The document's body, marked top and bottom. The PDF draws the same parts (`_parts`) and
    prints the marking in every page's header and footer instead."""
    mark = f"<p><strong>{escape(layout.marking)}</strong></p>\n"
    return f"{mark}{''.join(_parts(layout))}{mark}"


_STYLE = (
    "body{font-family:'DejaVu Sans',Verdana,sans-serif;max-width:60em;margin:1em auto}"
    "table{border-collapse:collapse}th,td{border:1px solid #999;padding:.2em .4em;"
    "vertical-align:top;text-align:left}"
)


def to_html(layout: Layout) -> str:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(layout.title)}</title><style>{_STYLE}</style></head>\n"
        f"<body>\n{html_body(layout)}</body></html>\n"
    )


# --- PDF -------------------------------------------------------------------------------------

FONT = "dejavu"
# fontTools reports each table it subsets at INFO: twenty lines per PDF, nothing to act on.
logging.getLogger("fontTools").setLevel(logging.WARNING)


@cache
def _font_files() -> dict[str, Path]:
    """DejaVu Sans, from the copy matplotlib ships (mpl-data/fonts/ttf, the directory
    `matplotlib.get_data_path()` names; found without importing matplotlib and numpy into the
    service). A font inside a pinned Python package, so the PDF prints Ł, Ș, ő and any European
    name the same on every host with no system font installed; fpdf2's built-in Helvetica covers
    Latin-1 only."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or spec.origin is None:
        raise RuntimeError("matplotlib (for its DejaVu Sans font) is not installed")
    fonts = Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf"
    return {"": fonts / "DejaVuSans.ttf", "B": fonts / "DejaVuSans-Bold.ttf"}


def to_pdf(layout: Layout) -> bytes:
    from fpdf import FPDF, FontFace, TextStyle

    class MarkedPdf(FPDF):
        """The marking on every page, and "Page N of M" ({nb}: fpdf2's total-pages alias)."""

        def header(self) -> None:
            self.set_font(FONT, "B", 9)
            self.cell(0, 5, layout.marking, align="C", new_x="LMARGIN", new_y="NEXT")
            self.ln(3)

        def footer(self) -> None:
            self.set_y(-13)
            self.set_font(FONT, "B", 9)
            self.cell(self.epw / 2, 5, layout.marking, align="L")
            self.set_font(FONT, "", 9)
            self.cell(0, 5, f"Page {self.page_no()} of {{nb}}", align="R")

    pdf = MarkedPdf(format="A4")
    for style, path in _font_files().items():
        pdf.add_font(FONT, style, str(path))
    if layout.created is not None:
        # Aware, so fpdf2 does not read it in the host's time zone: same agenda, same bytes.
        pdf.set_creation_date(layout.created)
    pdf.set_title(layout.title)
    pdf.set_producer("safeguarding meeting_scheduler")
    pdf.set_margins(15, 12, 15)
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.add_page()

    def heading(size: float, space_above: float) -> TextStyle:
        return TextStyle(
            font_size_pt=size, t_margin=space_above, b_margin=1, color="#1a1a1a", font_style="B"
        )

    # One write_html per section, so a heading never ends a page without what it heads.
    sizes = [BODY_PT, *(_body_size(section) for section in layout.sections)]
    for number, (part, size) in enumerate(zip(_parts(layout), sizes, strict=True)):
        if number and pdf.will_page_break(30):
            pdf.add_page()
        pdf.set_font(FONT, "", size)
        pdf.write_html(
            part,
            font_family=FONT,
            table_line_separators=True,
            li_prefix_color="#1a1a1a",
            ul_bullet_char="\u2022",
            tag_styles={
                "h1": heading(15, 1),
                "h2": heading(12, 2),
                "h3": heading(10, 1),
                "strong": FontFace(emphasis="BOLD"),
            },
        )
    return bytes(pdf.output())
