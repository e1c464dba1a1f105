"""L1: a data table's cells carry their column's name, for the narrow (card) layout."""

from __future__ import annotations

import re

import pytest

import tables


def test_each_cell_names_its_column_and_rows_keep_their_attributes():
    said = tables.table_html(
        "queue",
        ("#", "State"),
        [tables.Row(["#1", "done"], attrs={"data-job": 'a"b'}, css="aio-queue-row")],
        nowrap=("State",),
    )
    assert re.findall(r'<td data-label="([^"]+)"', said) == ["#", "State"]
    assert '<tr class="aio-queue-row" data-job="a&quot;b">' in said
    assert '<td data-label="State" class=aio-nowrap>done</td>' in said
    assert said.startswith('<div class="aio-table-wrap"><table class="aio-table aio-queue">')


def test_a_row_with_a_missing_cell_is_a_bug_not_a_shifted_table():
    with pytest.raises(ValueError):
        tables.table_html("x", ("a", "b"), [tables.Row(["only one"])])
