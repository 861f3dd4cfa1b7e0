"""Databases for the key-store tests: a real PostgreSQL server, a fresh database on it per
test, and ways to hit one store from many threads and processes at once."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import psycopg
from psycopg import sql
from sqlalchemy import make_url

REPO = Path(__file__).resolve().parents[1]
T = TypeVar("T")

# Run by child interpreters: argv = url, server key hex, then what the snippet reads.
CHILD_PRELUDE = """
import sys
from facelive.auth.secrets import SecretCipher
from facelive.auth.store import KeyStore
store = KeyStore(sys.argv[1], SecretCipher(bytes.fromhex(sys.argv[2])))
"""


def plain_postgres(url: str) -> str:
    """The URL libpq understands (no ``+driver``), password kept."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def postgres_server_url() -> str:
    """``FACELIVE_TEST_DATABASE_URL`` (a role that may create databases), else the throw-away
    server ``scripts/postgres start`` provisions. Never skipped when missing: it fails."""
    configured = os.environ.get("FACELIVE_TEST_DATABASE_URL")
    if configured:
        return plain_postgres(configured)
    done = subprocess.run(
        [str(REPO / "scripts" / "postgres"), "start"],
        stdout=subprocess.PIPE,
        text=True,
        check=True,
        timeout=600,
    )
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, f"scripts/postgres start printed {done.stdout!r}"
    return lines[0]


def create_database(server: str, name: str) -> str:
    """A new, empty database ``name`` on ``server`` (dropped first if left by a crashed run);
    its URL."""
    with psycopg.connect(server, autocommit=True) as admin:
        drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
        admin.execute(drop.format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_url(server).set(database=name).render_as_string(hide_password=False)


def drop_database(server: str, name: str) -> None:
    with psycopg.connect(server, autocommit=True) as admin:
        drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
        admin.execute(drop.format(sql.Identifier(name)))


def in_threads(count: int, work: Callable[[], T]) -> list[T]:
    """Runs ``work`` in ``count`` threads released together; returns results, raises errors."""
    start = threading.Barrier(count)

    def run() -> T:
        start.wait(timeout=30)
        return work()

    with ThreadPoolExecutor(count) as pool:
        futures = [pool.submit(run) for _ in range(count)]
        return [future.result(timeout=60) for future in futures]


def store_child(snippet: str, *args: str) -> subprocess.Popen[str]:
    """A child interpreter running ``snippet`` after CHILD_PRELUDE opened ``store``."""
    return subprocess.Popen(
        [sys.executable, "-c", CHILD_PRELUDE + snippet, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )


def release_together(children: list[subprocess.Popen[str]], timeout: float = 60) -> list[str]:
    """Waits until every child printed ``ready`` (its store is open), lets them all go at
    once, and returns what each printed after that; a child that fails fails the test."""
    for child in children:
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    outputs = []
    for child in children:
        out, _ = child.communicate(timeout=timeout)
        assert child.returncode == 0, out
        outputs.append(out)
    return outputs
