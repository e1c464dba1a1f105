"""The page's data tables (a batch's queue, the Models view): rows where their box is wide enough,
one card per row where it is narrow (a phone), never wider than their box.

Each cell carries its column's name (`data-label`), which the narrow layout shows beside the value
(theme_ui.LAYOUT_CSS). Cells are given as HTML their caller has escaped.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    cells: Sequence[str]  # escaped HTML, one per column
    attrs: dict[str, str] | None = None  # e.g. {"data-job": id}: how tests and scripts find it
    css: str = ""


def table_html(name: str, headers: Sequence[str], rows: Iterable[Row], *, nowrap=()) -> str:
    """`nowrap`: columns (by header) whose values must stay on one line (sizes, chips)."""
    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for row in rows:
        attrs = "".join(f' {k}="{esc(v)}"' for k, v in (row.attrs or {}).items())
        css = f' class="{esc(row.css)}"' if row.css else ""
        cells = "".join(
            f'<td data-label="{esc(h)}"{" class=aio-nowrap" if h in nowrap else ""}>{cell}</td>'
            for h, cell in zip(headers, row.cells, strict=True)
        )
        body.append(f"<tr{css}{attrs}>{cells}</tr>")
    return (
        f'<div class="aio-table-wrap"><table class="aio-table aio-{esc(name)}">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )
