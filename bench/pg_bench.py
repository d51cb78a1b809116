"""PostgreSQL for the benchmarks (`--registry URL`): a fresh database per run, made on the
server the URL names (its user needs CREATEDB) and dropped afterwards; the URL's own database
is only used to issue CREATE/DROP DATABASE, never written.

    python tests/pg.py  # or python -m tests.pg: a throwaway local server, printing its URL
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import psycopg

_made = itertools.count(1)


@contextmanager
def fresh_database(url: str) -> Iterator[str]:
    """The URL of a new, empty database beside `url`'s, dropped on exit."""
    name = f"cr_bench_{os.getpid()}_{next(_made)}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    try:
        yield urlsplit(url)._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]
