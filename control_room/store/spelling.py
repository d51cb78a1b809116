"""`Sql`: a statement whose SQLite spelling does not run on PostgreSQL, with both spellings side
by side in its sql module. sqlite3 runs the value itself (it is a `str`); the PostgreSQL
connector (store/pg_conn.py) runs `.postgres`. Most queries need none: they are written to run
on both (store/pg_schema.py COMPAT supplies the SQLite functions they use)."""

from __future__ import annotations


class Sql(str):
    """A statement in its SQLite spelling (the `str` itself, what sqlite3 runs) with its
    PostgreSQL spelling beside it."""

    postgres: str

    def __new__(cls, sqlite: str, postgres: str) -> Sql:
        made = super().__new__(cls, sqlite)
        made.postgres = postgres
        return made
