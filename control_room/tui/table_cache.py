"""Changing a few cells of a big DataTable without drawing the whole table again.

Textual's `DataTable.update_cell` counts an update, and every rendered cell, row and line the
table caches is keyed by that count: one changed cell makes the next frame render every visible
cell again (~40 rows x 8 columns, tens of milliseconds of the event loop; with agents reporting
progress every few seconds that is most frames, and keys wait behind them). Here the cells change
in the table's data and only the changed rows' cached renders are dropped: the next frame renders
those rows and reuses the rest.

This reaches into DataTable's private caches (checked against Textual 8.2). When they are not
what it expects, `update_in_place` declines and the caller uses `update_cell`.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Sequence
from typing import Any

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

_NEEDED = (
    "_data", "_row_locations", "_cell_render_cache", "_row_render_cache",
    "_row_renderable_cache", "_line_cache", "_get_offsets",
)  # fmt: skip


def _drop(cache: Any, position: int, wanted: Collection[Hashable]) -> None:
    """Remove the entries of an LRUCache whose key holds one of `wanted` at `position`."""
    held = cache.keys()  # an LRUCache is not iterable itself
    for key in [k for k in held if k[position] in wanted]:
        cache.discard(key)


def update_in_place(table: DataTable[Text], changes: Sequence[tuple[str, str, Text]]) -> bool:
    """Set each (row key, column key, value) and forget only those rows' renders; False (and
    nothing changed) when the table's internals are not the expected ones."""
    if not all(hasattr(table, name) for name in _NEEDED):
        return False
    inner: Any = table  # the private parts, checked above
    data = inner._data
    rows: set[RowKey] = set()
    for row, column, _ in changes:
        row_key, column_key = RowKey(row), ColumnKey(column)
        if row_key not in data or column_key not in data[row_key]:
            return False
        rows.add(row_key)
    for row, column, value in changes:
        data[RowKey(row)][ColumnKey(column)] = value
    indices = {inner._row_locations.get(row_key) for row_key in rows}
    _drop(inner._cell_render_cache, 0, rows)  # (row key, column key, style, ...)
    _drop(inner._row_render_cache, 0, rows)  # (row key, line, style, cursor, ...)
    _drop(inner._row_renderable_cache, 1, indices)  # (update count, row index)
    _drop_lines(inner, rows)
    for index in indices:  # only those rows' lines are painted again
        table.refresh_row(index)
    return True


def _drop_lines(inner: Any, rows: Collection[RowKey]) -> None:
    """The line cache is keyed by the line's y in the table: drop the lines of `rows` (and any
    line that no longer maps to a row)."""
    held = inner._line_cache.keys()
    stale = []
    for key in held:
        try:
            row_key, _ = inner._get_offsets(key[0])
        except LookupError:
            stale.append(key)
            continue
        if row_key in rows:
            stale.append(key)
    for key in stale:
        inner._line_cache.discard(key)
