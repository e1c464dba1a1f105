"""What a claiming store does with a database it cannot trust, so that no job is lost with it.

A file SQLite would open and lose (empty beside job folders, overwritten by something that is not
SQLite), one that fails its integrity check, a newer app's or another program's is set aside as
`history.db.corrupt-<time>` (its WAL and shared memory with it), never deleted; a new database is
started, the job rows still readable in the kept file are copied in (through a scratch copy, so
the kept file stays as it was; never from another program's), and every job folder's record.json
is read back. A missing database is rebuilt from the record.json files alone. Each says what it
did in a notice the page shows once (Store.notice).
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import history_db
import history_files
from history_db import DB_NAME


def check_file(db_path: Path, jobs_dir: Path) -> None:
    """Raise sqlite3.DatabaseError for an existing file that SQLite would open "fine" and lose."""
    if db_path.stat().st_size == 0 and history_files.records(jobs_dir):
        # SQLite would take an empty file as a new database and History would start
        # empty, every job's folder orphaned.
        raise sqlite3.DatabaseError("the file is empty")
    if not history_db.has_sqlite_header(db_path):
        # With its WAL beside it SQLite reads the pages the WAL holds and never looks
        # at the overwritten file: it would open "fine" and lose it all at a checkpoint.
        raise sqlite3.DatabaseError("the file does not start as an SQLite database does")


def recover(root: Path, exc: Exception, columns: Sequence[str]) -> tuple[sqlite3.Connection, str]:
    """Set the unreadable database aside and start a new one with every job that can be read
    back: (the new database, the notice that says so)."""
    db_path = root / DB_NAME
    aside = set_aside(db_path)
    db = history_db.connect(db_path)
    # Another program's database is not read back: its "jobs" would not be ours.
    salvaged = 0 if isinstance(exc, history_db.ForeignSchema) else salvage(root, aside, db, columns)
    recovered = rebuild(db, root / history_files.JOBS, columns)
    said = f"{recovered} job(s) were recovered from their folders"
    if salvaged:
        said = f"{salvaged} job(s) were read back from it and {said}"
    notice = (
        f"The history database could not be read ({exc}); it was kept as {aside.name} "
        f"and a new one was started. {said[0].upper()}{said[1:]}."
    )
    return db, notice


def rebuild_missing(db: sqlite3.Connection, jobs_dir: Path, columns: Sequence[str]) -> str:
    """Fill a new database that replaced a missing one from the job folders; the notice."""
    recovered = rebuild(db, jobs_dir, columns)
    return (
        f"The history database was missing; a new one was started and {recovered} "
        "job(s) were recovered from their folders."
    )


def set_aside(db_path: Path) -> Path:
    """Rename the database (and its WAL and shared memory) out of the way; its new name."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = db_path.with_name(f"{DB_NAME}.corrupt-{stamp}")
    n = 1
    while aside.exists():
        aside = db_path.with_name(f"{DB_NAME}.corrupt-{stamp}-{n}")
        n += 1
    db_path.rename(aside)
    for suffix in ("-wal", "-shm"):
        side = db_path.with_name(DB_NAME + suffix)
        if side.exists():
            side.rename(aside.with_name(aside.name + suffix))
    return aside


def salvage(root: Path, aside: Path, db: sqlite3.Connection, columns: Sequence[str]) -> int:
    """Copy the job rows still readable in a set-aside database (through a scratch copy, its
    WAL included, so the kept file stays as it was) into the new one; how many were added."""
    scratch = Path(tempfile.mkdtemp(prefix=history_files.SALVAGE_PREFIX, dir=root))
    added = 0
    try:
        copy = scratch / DB_NAME
        shutil.copy2(aside, copy)
        wal = aside.with_name(aside.name + "-wal")
        if wal.exists():
            shutil.copy2(wal, copy.with_name(DB_NAME + "-wal"))
        old = sqlite3.connect(copy, timeout=5)
        try:
            names = [r[1] for r in old.execute("PRAGMA table_info(jobs)")]
            kept = [c for c in columns if c in names]
            if "id" not in kept:
                return 0
            rows = old.execute(f"SELECT {', '.join(kept)} FROM jobs")
            while True:
                try:
                    row = rows.fetchone()
                except sqlite3.DatabaseError:
                    break  # the rest of the table is past the damage
                if row is None:
                    break
                added += history_db.insert_new(db, kept, row)
        finally:
            old.close()
    except (OSError, sqlite3.Error):
        pass  # nothing readable: the job folders are what is left
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return added


def rebuild(db: sqlite3.Connection, jobs_dir: Path, columns: Sequence[str]) -> int:
    """Re-insert the rows kept beside each job's files. Returns how many were recovered."""
    count = 0
    for record in history_files.records(jobs_dir):
        try:
            row = history_files.read_record(record)
            kept = [c for c in columns if c in row]
            count += history_db.insert_new(db, kept, [row[c] for c in kept])
        except (OSError, ValueError, sqlite3.Error):
            continue  # an unreadable record loses that row only; its files stay on disk
    return count
