"""History's SQLite file: its schema, the migrations that bring an older file up to it, and the
checks a file passes before History trusts it.

One file, `history.db` in the data dir (WAL; the schema version in PRAGMA user_version). A
migration is appended, never edited: its index + 1 is the schema version it produces. The jobs
table's columns are history_record.Job's fields, in the same order.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

DB_NAME = "history.db"

# Append only: a migration's index + 1 is the schema version it produces.
MIGRATIONS = (
    """
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        mode TEXT NOT NULL,
        status TEXT NOT NULL,
        params TEXT NOT NULL,
        used TEXT,
        seed INTEGER,
        inputs TEXT NOT NULL,
        output TEXT,
        batch TEXT,
        created_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        timings TEXT,
        error_kind TEXT,
        error_message TEXT,
        bytes INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX jobs_created ON jobs (created_at);
    CREATE INDEX jobs_mode_status ON jobs (mode, status);
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # Who a job belongs to (owners.py): "local" on a single-user install.
    """
    ALTER TABLE jobs ADD COLUMN owner TEXT NOT NULL DEFAULT 'local';
    CREATE INDEX jobs_owner ON jobs (owner, created_at);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
SQLITE_HEADER = b"SQLite format 3\x00"


class ForeignSchema(sqlite3.DatabaseError):
    """The file is an SQLite database, but not one of History's."""


def has_sqlite_header(path: Path) -> bool:
    """An empty file (SQLite's own new database) or one that starts with SQLite's header."""
    try:
        with path.open("rb") as f:
            head = f.read(len(SQLITE_HEADER))
    except OSError:
        return True  # unreadable: sqlite3 says why (and it is never set aside)
    return head in (b"", SQLITE_HEADER)


def connect(db_path: Path) -> sqlite3.Connection:
    """Open the file, check it is whole and History's, and migrate it to SCHEMA_VERSION.

    sqlite3.OperationalError: it could not be opened (locked, read-only), and may be fine;
    sqlite3.DatabaseError (ForeignSchema among them): it is damaged, newer or not History's.
    """
    db = sqlite3.connect(db_path, timeout=30, isolation_level=None, check_same_thread=False)
    try:
        # A mounted bucket may refuse WAL (no shared memory); the default journal still works.
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        check = db.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            raise sqlite3.DatabaseError(f"integrity check failed: {check}")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if version == 0 and tables:
            raise ForeignSchema(
                f"it holds tables ({', '.join(sorted(tables))}) but no schema version: "
                "not a History database this app made"
            )
        if version > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(
                f"schema version {version} is newer than this app's {SCHEMA_VERSION}"
            )
        for number in range(version, SCHEMA_VERSION):
            db.executescript(
                f"BEGIN; {MIGRATIONS[number]}; PRAGMA user_version={number + 1}; COMMIT;"
            )
    except BaseException:
        db.close()
        raise
    return db


def insert_new(db: sqlite3.Connection, columns: Sequence[str], values: Sequence) -> int:
    """Add one job row unless a row with its id is there already; how many were added (0 or 1)."""
    cursor = db.execute(
        f"INSERT OR IGNORE INTO jobs ({', '.join(columns)}) "
        f"VALUES ({', '.join('?' * len(columns))})",
        values,
    )
    return cursor.rowcount
