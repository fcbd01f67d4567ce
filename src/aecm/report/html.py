"""The report page: self-contained HTML (inline CSS and base64 PNG images, no network)."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["Section", "image", "page", "paragraph", "table"]

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #222;
       background: #fafafa; }
header, main, footer { max-width: 1100px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 24px; }
nav a { margin-right: 14px; }
section { background: white; border: 1px solid #ddd; border-radius: 6px; padding: 8px 20px 18px;
          margin: 18px 0; }
h1 { font-size: 1.5em; } h2 { font-size: 1.25em; border-bottom: 1px solid #eee; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { text-align: left; padding: 3px 12px 3px 0; vertical-align: top; }
th { color: #555; font-weight: 600; }
td.num { font-variant-numeric: tabular-nums; text-align: right; }
img { max-width: 100%; height: auto; display: block; margin: 10px 0; }
.note { color: #666; font-size: 0.92em; }
details { margin: 6px 0; }
footer { color: #777; font-size: 0.85em; padding-bottom: 24px; }
"""


@dataclass
class Section:
    """One section of the page: an anchor id, a heading and its HTML body."""

    id: str
    heading: str
    body: str


def image(png: bytes, alt: str, id: str | None = None) -> str:
    """An ``<img>`` holding the PNG inline (base64 data URL)."""
    data = base64.b64encode(png).decode("ascii")
    attribute = f' id="{escape(id)}"' if id else ""
    return f'<img{attribute} alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def paragraph(text: str, css_class: str | None = None) -> str:
    attribute = f' class="{css_class}"' if css_class else ""
    return f"<p{attribute}>{escape(text)}</p>"


def table(rows: Iterable[Sequence], header: Sequence[str] | None = None) -> str:
    """A table of text cells (escaped); numbers are right-aligned."""
    parts = ["<table>"]
    if header:
        parts.append("<tr>" + "".join(f"<th>{escape(str(h))}</th>" for h in header) + "</tr>")
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            tag = "th" if i == 0 and not header else "td"
            css = ' class="num"' if isinstance(cell, int | float) and tag == "td" else ""
            cells.append(f"<{tag}{css}>{escape(_text(cell))}</{tag}>")
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</table>")
    return "".join(parts)


def _text(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def page(title: str, sections: Sequence[Section], footer: str) -> str:
    """The whole document."""
    nav = " ".join(f'<a href="#{escape(s.id)}">{escape(s.heading)}</a>' for s in sections)
    body = "\n".join(
        f'<section id="{escape(s.id)}">\n<h2>{escape(s.heading)}</h2>\n{s.body}\n</section>'
        for s in sections
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"<header><h1>{escape(title)}</h1>\n<nav>{nav}</nav></header>\n"
        f"<main>\n{body}\n</main>\n<footer>{escape(footer)}</footer>\n</body>\n</html>\n"
    )
