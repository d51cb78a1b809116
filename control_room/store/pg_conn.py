"""The thin connector that lets the registry's operations (store/ops.py and its siblings), written
against sqlite3, run unchanged on a synchronous psycopg 3 connection.

It offers what the operations use of sqlite3: `execute(sql, params)` giving a cursor with
`fetchone`/`fetchall`/`rowcount` (iterable), `executemany`, and rows that index by position and
by column name like `sqlite3.Row`. It translates only placeholders (`?` and `:name` into
psycopg's `%s` and `%(name)s`, a literal `%` into `%%`), outside quoted text and comments.
A statement whose SQLite spelling does not run on PostgreSQL is a `Sql` value
(store/spelling.py) holding both spellings side by side in its sql module; the connector picks
the PostgreSQL one. Everything else runs as written: the SQLite functions the queries use
(json_each, json_group_array, sum over a condition...) exist on PostgreSQL as small functions
of store/pg_schema.py.
Python booleans are sent as 0/1, as sqlite3 stores them (the flag columns are integers).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import psycopg
from psycopg.rows import RowMaker


def spelling(query: str) -> str:
    """The PostgreSQL text of `query`, with psycopg placeholders."""
    return to_pyformat(getattr(query, "postgres", query))


@functools.lru_cache(maxsize=2048)
def to_pyformat(query: str) -> str:
    """`?` -> `%s`, `:name` -> `%(name)s`, `%` -> `%%`; quoted text, quoted names, comments
    and `::` casts are left alone."""
    out: list[str] = []
    i, n = 0, len(query)
    while i < n:
        c = query[i]
        if c in "'\"":
            end = i + 1
            while end < n:
                if query[end] == c:
                    if end + 1 < n and query[end + 1] == c:  # a doubled quote inside
                        end += 2
                        continue
                    break
                end += 1
            out.append(query[i : end + 1].replace("%", "%%"))
            i = end + 1
        elif c == "-" and query.startswith("--", i):
            end = query.find("\n", i)
            end = n if end < 0 else end
            out.append(query[i:end].replace("%", "%%"))
            i = end
        elif c == "?":
            out.append("%s")
            i += 1
        elif c == "%":
            out.append("%%")
            i += 1
        elif c == ":" and query.startswith("::", i):
            out.append("::")
            i += 2
        elif c == ":" and i + 1 < n and (query[i + 1].isalpha() or query[i + 1] == "_"):
            end = i + 1
            while end < n and (query[end].isalnum() or query[end] == "_"):
                end += 1
            out.append(f"%({query[i + 1 : end]})s")
            i = end
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _value(value: Any) -> Any:
    return int(value) if isinstance(value, bool) else value


def params_of(params: Sequence[Any] | Mapping[str, Any]) -> Sequence[Any] | Mapping[str, Any]:
    if isinstance(params, Mapping):
        return {k: _value(v) for k, v in params.items()}
    return [_value(v) for v in params]


class Row(tuple[Any, ...]):
    """A result row: by position, by column name (`row["title"]`), `keys()`, like sqlite3.Row."""

    _index: dict[str, int]

    def __new__(cls, values: Iterable[Any], index: dict[str, int]) -> Row:
        made = super().__new__(cls, values)
        made._index = index
        return made

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


def row_factory(cursor: psycopg.Cursor[Any]) -> RowMaker[Row]:
    names = [column.name for column in cursor.description or ()]
    index: dict[str, int] = {}
    for position, name in enumerate(names):
        index.setdefault(name, position)

    def make(values: Sequence[Any]) -> Row:
        return Row(values, index)

    return make


class PgConn:
    """What the operations use of a sqlite3 connection, over a psycopg one in autocommit
    mode (the writer sends BEGIN, SAVEPOINT and COMMIT itself, as on SQLite)."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.raw = conn

    def execute(
        self, query: str, params: Sequence[Any] | Mapping[str, Any] = ()
    ) -> psycopg.Cursor[Any]:
        return self.raw.execute(spelling(query), params_of(params))

    def executemany(
        self, query: str, seq: Iterable[Sequence[Any] | Mapping[str, Any]]
    ) -> psycopg.Cursor[Any]:
        cursor = self.raw.cursor()
        cursor.executemany(spelling(query), [params_of(p) for p in seq])
        return cursor

    @property
    def in_transaction(self) -> bool:
        status = self.raw.info.transaction_status
        return status != psycopg.pq.TransactionStatus.IDLE
