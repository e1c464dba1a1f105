"""Every generation's record, so nothing a user made is ever lost: the Store the app calls.

One SQLite file plus one folder per job under the data dir (env LTX_AIO_DATA_DIR, else
<repo>/data): the rows (history_db.py; a row is a history_record.Job), and beside them copies of
the files each job was given and made, and its row as last written (history_files.py lays them
out), so a lost or damaged database can be rebuilt (history_recovery.py).

The output is copied (hard-linked where the filesystem allows), never moved: ComfyUI answers an
identical re-run from its cache with the same file name, which must still exist where it said.
A job becomes "done" only after its output was checked to decode and fully copied in; a crash
before that leaves it queued/running, and the next start records those as failed.

One app process per data dir (history_claim.py): only the process that claimed it treats what it
finds as left by a stopped run (a running job failed, a damaged database set aside, scratch
swept); a store another live process has claimed opens as a guest that changes none of that
(`Store.guest`), and the app refuses to start on it (app.main).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import history_claim
import history_db
import history_files
import history_record
import history_recovery
import videofile
from errors import AppError
from history_record import (
    COLUMNS,
    LOCAL,
    REFUSALS,
    UNFINISHED,
    Job,
    dumps,
    filters,
    used_columns,
)
from job_spec import Spec

log = logging.getLogger("ltx_aio.history")

REPO_DIR = Path(__file__).resolve().parent
INTERRUPTED_WHILE_RUNNING = (
    "Interrupted by a restart of the app while it ran. Run again (in History) runs it once more."
)


def data_dir() -> Path:
    override = os.environ.get("LTX_AIO_DATA_DIR")
    return Path(override).expanduser().resolve() if override else REPO_DIR / "data"


class Store:
    """The job records of one data dir. Safe to share between Gradio's worker threads."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root is not None else data_dir()
        self.jobs_dir = self.root / history_files.JOBS
        self.db_path = self.root / history_db.DB_NAME
        # Something the UI should tell the user once (a database set aside, jobs recovered).
        self.notice: str | None = None
        self._lock = threading.RLock()
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        # False: another live process claimed this data dir, and this store is its guest.
        self.claimed = history_claim.hold(self.root)
        self._claim_held = self.claimed
        existed = self.db_path.exists()
        # Rows that could not be read (a damaged field): hidden, and said once.
        self.unreadable: set[str] = set()
        try:
            if existed:
                history_recovery.check_file(self.db_path, self.jobs_dir)
            self._db = history_db.connect(self.db_path)
        except sqlite3.OperationalError:
            self._let_go()
            raise  # locked, unopenable, read-only: the file may be fine, so it is never set aside
        except sqlite3.DatabaseError as exc:
            if not self.claimed:  # the process using it decides what to do with it
                raise
            self._db, self.notice = history_recovery.recover(self.root, exc, COLUMNS)
        else:
            if not existed and history_files.records(self.jobs_dir) and self.claimed:
                self.notice = history_recovery.rebuild_missing(self._db, self.jobs_dir, COLUMNS)
        if not self.claimed:
            log.warning(
                "History in %s is in use by another process (pid %s): opened without touching "
                "its unfinished jobs.",
                self.root,
                history_claim.claimant(self.root),
            )
            return
        self._fail_interrupted()
        history_files.sweep(self.root)

    @property
    def guest(self) -> bool:
        """Whether another live process claimed this data dir (this store only reads and adds)."""
        return not self.claimed

    def _let_go(self) -> None:
        if self._claim_held:
            self._claim_held = False
            history_claim.release(self.root)

    def _fail_interrupted(self) -> None:
        """A job that was running when the process ended cannot go on: it failed (the user may
        run it again). Jobs that were only queued stay queued: the app runs them again in their
        order once it has started (restarts.resume_queued)."""
        with self._lock:
            ids = [
                r[0]
                for r in self._db.execute("SELECT id FROM jobs WHERE status = 'running'").fetchall()
            ]
        for job_id in ids:
            history_files.drop_parts(self.jobs_dir / job_id)
            self._finish(job_id, "failed", "interrupted", INTERRUPTED_WHILE_RUNNING)

    def queued(self) -> list[Job]:
        """Jobs waiting to start, oldest first."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {', '.join(COLUMNS)} FROM jobs WHERE status = 'queued' "
                "ORDER BY created_at, rowid"
            ).fetchall()
        return [job for job in map(self._read, rows) if job is not None]

    def close(self) -> None:
        with self._lock:
            self._db.close()
            self._let_go()

    def __del__(self) -> None:
        # A store dropped unclosed lets its claim go too, at the next claim: the collector may
        # run this while this thread holds the claims' lock.
        if getattr(self, "_claim_held", False):
            self._claim_held = False
            history_claim.release_later(self.root)

    # -- writing

    def create_job(
        self,
        mode: str,
        params: dict,
        inputs: dict[str, str | Path | None] | None = None,
        *,
        batch: str | None = None,
        owner: str = LOCAL,
        extensions: dict[str, str] | None = None,
    ) -> str:
        """Record a queued job of `owner` and keep copies of its input files (each under its
        field's name and the extension `extensions` gives it, from its decoded content; the
        file's own suffix is never trusted). Returns the job id."""
        job_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(4)}"
        folder = self.jobs_dir / job_id
        try:
            history_files.new_folder(folder)
            kept = history_files.keep_inputs(self.root, folder, inputs or {}, extensions)
            row = {
                "id": job_id,
                "mode": mode,
                "status": "queued",
                "params": dumps(params),
                "inputs": dumps(kept),
                "batch": batch,
                "created_at": time.time(),
                "bytes": history_files.tree_bytes(folder),
                "owner": owner,
            }
            with self._lock:
                self._db.execute(
                    f"INSERT INTO jobs ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                    list(row.values()),
                )
                self._write_record(job_id)
        except BaseException:
            history_files.discard(folder)
            raise
        return job_id

    def keep_inputs(
        self,
        job_id: str,
        params: dict,
        inputs: dict[str, str | Path],
        extensions: dict[str, str] | None = None,
    ) -> bool:
        """A queued job's full parameters and copies of its inputs, once they are checked."""
        folder = self.jobs_dir / job_id
        kept = history_files.keep_inputs(self.root, folder, inputs, extensions)
        changes = {
            "params": dumps(params),
            "inputs": dumps(kept),
            "bytes": history_files.tree_bytes(folder),
        }
        return self._update(job_id, changes, only_from=("queued",))

    def mark_running(self, job_id: str, spec: Spec | None = None) -> bool:
        """Queued -> running, with the job as it runs (seed included) when known."""
        changes = {"status": "running", "started_at": time.time()}
        changes.update(used_columns(spec.record() if spec else None))
        return self._update(job_id, changes, only_from=("queued",))

    def note_spec(self, job_id: str, spec: Spec) -> bool:
        """Record the job as it runs (job_spec.Spec: the parameters as snapped, seed included)
        once known, while it runs: a job that fails later still says what it ran with. History
        keeps its record(), the column `used`."""
        return self._update(job_id, used_columns(spec.record()), only_from=UNFINISHED)

    def mark_done(
        self,
        job_id: str,
        output: str | Path,
        *,
        spec: Spec | None = None,
        timings: dict | None = None,
    ) -> bool:
        """Keep a copy of the output and record the job as done.

        An output that does not decode marks the job failed and raises AppError: a partial file
        is never shown as a result. Returns False, keeping nothing, when the job had already
        ended (cancelled while the copy ran).
        """
        source = Path(output)
        problem = videofile.problem(source)
        if problem:
            self.mark_failed(job_id, "node_failed", f"The output file is unusable: {problem}.")
            raise AppError(
                "node_failed", f"The output file is unusable: {problem}.", where=source.name
            )
        job = self.get(job_id)
        if job is None or job.status not in UNFINISHED:
            return False
        folder = self.jobs_dir / job_id
        target = history_files.output_path(folder, job.mode, job_id, source)
        part = history_files.stage(source, target)
        changes = {
            "status": "done",
            "output": target.relative_to(self.root).as_posix(),
            "finished_at": time.time(),
            "timings": dumps({**job.timings, **(timings or {})}),
            "error_kind": None,
            "error_message": None,
        }
        changes.update(used_columns(spec.record() if spec else None))
        with self._lock:
            if self._status(job_id) not in UNFINISHED:
                part.unlink(missing_ok=True)
                return False
            os.replace(part, target)
            changes["bytes"] = history_files.tree_bytes(folder)
            return self._update(job_id, changes, only_from=UNFINISHED)

    def mark_failed(self, job_id: str, error_kind: str, message: str) -> bool:
        if error_kind in REFUSALS:
            return self.mark_refused(job_id, error_kind, message)
        return self._finish(job_id, "failed", error_kind, message)

    def mark_refused(self, job_id: str, error_kind: str, message: str) -> bool:
        """A job refused before any work: its mode, reason and times stay; what it was given
        (parameters, prompt, copies of files) goes."""
        changes = {
            "status": "failed", "finished_at": time.time(), "error_kind": error_kind,
            "error_message": message, "params": "{}", "used": None, "seed": None,
            "inputs": "{}", "bytes": 0,
        }  # fmt: skip
        if not self._update(job_id, changes, only_from=UNFINISHED):
            return False
        history_files.drop_inputs(self.jobs_dir / job_id)
        return True

    def record_refusal(self, mode: str, error_kind: str, message: str, owner: str = LOCAL) -> str:
        """A submission refused before it was even queued (e.g. over its owner's quota)."""
        job_id = self.create_job(mode, {}, owner=owner)
        self.mark_refused(job_id, error_kind, message)
        return job_id

    def mark_cancelled(self, job_id: str, message: str = "Cancelled by the user.") -> bool:
        return self._finish(job_id, "cancelled", "interrupted", message)

    @contextlib.contextmanager
    def running(self, job_id: str, spec: Spec | None = None) -> Iterator[None]:
        """Mark the job running for the block; call mark_done inside it.

        Whatever escapes is recorded: AppError by its kind ("interrupted" -> cancelled), any other
        exception by its class name, a cancelled task or closed generator as cancelled. A block
        that ends without mark_done records a failure, never a done job without output.
        """
        if not self.mark_running(job_id, spec):
            raise AppError("interrupted", "The job was cancelled before it started.")
        try:
            yield
        except AppError as exc:
            if exc.kind == "interrupted":
                self.mark_cancelled(job_id, exc.message)
            else:
                self.mark_failed(job_id, exc.kind, str(exc))
            raise
        except Exception as exc:
            self.mark_failed(job_id, type(exc).__name__, str(exc) or type(exc).__name__)
            raise
        except BaseException:
            self.mark_cancelled(job_id)
            raise
        else:
            self.mark_failed(job_id, "node_failed", "The generation ended without an output.")

    def _finish(self, job_id: str, status: str, kind: str, message: str) -> bool:
        changes = {
            "status": status,
            "finished_at": time.time(),
            "error_kind": kind,
            "error_message": message,
        }
        return self._update(job_id, changes, only_from=UNFINISHED)

    def _update(self, job_id: str, changes: dict, only_from: tuple[str, ...]) -> bool:
        """Apply changes only while the job is in one of only_from: an ended job stays ended."""
        sets = ", ".join(f"{name} = ?" for name in changes)
        marks = ", ".join("?" * len(only_from))
        with self._lock:
            cursor = self._db.execute(
                f"UPDATE jobs SET {sets} WHERE id = ? AND status IN ({marks})",
                [*changes.values(), job_id, *only_from],
            )
            if cursor.rowcount:
                self._write_record(job_id)
            return bool(cursor.rowcount)

    def _write_record(self, job_id: str) -> None:
        row = self._db.execute(
            f"SELECT {', '.join(COLUMNS)} FROM jobs WHERE id = ?", (job_id,)
        ).fetchone()
        if row is not None:
            history_files.write_record(self.jobs_dir / job_id, dict(zip(COLUMNS, row, strict=True)))

    def _status(self, job_id: str, owner: str | None = None) -> str | None:
        where, args = filters(owner=owner)
        where = f"{where} AND id = ?" if where else "WHERE id = ?"
        row = self._db.execute(f"SELECT status FROM jobs {where}", [*args, job_id]).fetchone()
        return row[0] if row else None

    # -- reading

    def get(self, job_id: str, owner: str | None = None) -> Job | None:
        """The job with this id; given an owner, only when it is that owner's: a forged or
        replayed id of someone else's job finds nothing."""
        where, args = filters(owner=owner)
        where = f"{where} AND id = ?" if where else "WHERE id = ?"
        with self._lock:
            row = self._db.execute(
                f"SELECT {', '.join(COLUMNS)} FROM jobs {where}", [*args, str(job_id)]
            ).fetchone()
        return self._read(row) if row else None

    def jobs(
        self,
        mode: str | None = None,
        status: str | None = None,
        limit: int = 50,
        offset: int = 0,
        *,
        owner: str | None = None,
        refusals: bool = True,
    ) -> list[Job]:
        """Newest first, optionally only one mode, status and/or owner, and without refused
        jobs; limit=-1 means all. A row that cannot be read is left out (and said once, in
        `notice`)."""
        where, args = filters(mode, status, owner, refusals)
        with self._lock:
            rows = self._db.execute(
                f"SELECT {', '.join(COLUMNS)} FROM jobs {where} "
                "ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?",
                [*args, int(limit), int(offset)],
            ).fetchall()
        return [job for job in map(self._read, rows) if job is not None]

    def count(
        self,
        mode: str | None = None,
        status: str | None = None,
        *,
        owner: str | None = None,
        refusals: bool = True,
        since: float | None = None,
    ) -> int:
        """How many jobs match (`since`: created at or after that time)."""
        where, args = filters(mode, status, owner, refusals, since)
        with self._lock:
            return self._db.execute(f"SELECT COUNT(*) FROM jobs {where}", args).fetchone()[0]

    def owner_bytes(self, owner: str) -> int:
        """What `owner`'s jobs keep on disk."""
        with self._lock:
            row = self._db.execute(
                "SELECT COALESCE(SUM(bytes), 0) FROM jobs WHERE owner = ?", (owner,)
            ).fetchone()
        return int(row[0])

    def pending(self) -> list[Job]:
        """Queued and running jobs, oldest first: a job's index is its place in line."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {', '.join(COLUMNS)} FROM jobs WHERE status IN (?, ?) "
                "ORDER BY status = 'queued', created_at, rowid",
                UNFINISHED,
            ).fetchall()
        return [history_record.from_row(row, self.root) for row in rows]

    def thumbnail(self, job_id: str) -> Path | None:
        """The first frame of a done job's output as a PNG, made once and kept beside it."""
        job = self.get(job_id)
        if job is None or job.status != "done" or job.output is None:
            return None
        return history_files.thumbnail(self.jobs_dir / job_id, job.output)

    def derived(self, job_id: str, name: str, make) -> Path | None:
        """A file made from a done job's output (`make(path)` writes it from `job.output`), made
        once and kept beside it (history_files.derived); None when the job has no output."""
        job = self.get(job_id)
        if job is None or job.status != "done" or job.output is None or not job.output.is_file():
            return None
        folder = self.jobs_dir / job_id
        path = history_files.derived(folder, name, make)
        # What it adds counts toward its owner's share and the retention limits.
        self._update(job_id, {"bytes": history_files.tree_bytes(folder)}, only_from=("done",))
        return path

    def _read(self, row: tuple) -> Job | None:
        try:
            return history_record.from_row(row, self.root)
        except (ValueError, TypeError, AttributeError) as exc:
            job_id = str(row[0])
            if job_id not in self.unreadable:
                self.unreadable.add(job_id)
                log.warning("History row %s cannot be read (%s); it is hidden", job_id, exc)
                self.notice = (
                    f"{len(self.unreadable)} job record(s) could not be read and are hidden "
                    f"({', '.join(sorted(self.unreadable)[:3])}); their files are kept."
                )
            return None

    # -- removing

    def delete(self, job_id: str, owner: str | None = None) -> bool:
        """Remove the row and the job's files together (given an owner, only that owner's job).
        A queued or running job is refused."""
        with self._lock:
            status = self._status(job_id, owner)
            if status is None:
                return False
            if status in UNFINISHED:
                raise AppError(
                    "bad_input",
                    "This job has not finished.",
                    where="history",
                    hint="Cancel it first.",
                )
            # Fails before the row goes if the files cannot be removed.
            trash = history_files.to_trash(self.jobs_dir / job_id)
            self._db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        history_files.discard(trash)
        return True

    def setting(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_setting(self, key: str, value: str | None) -> None:
        """Store a small app setting beside the records (None removes it)."""
        with self._lock:
            if value is None:
                self._db.execute("DELETE FROM settings WHERE key = ?", (key,))
            else:
                self._db.execute(
                    "INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", (key, value)
                )


_stores: dict[Path, Store] = {}
_stores_lock = threading.Lock()


def open_store(root: Path | str | None = None) -> Store:
    """The process's store for a data dir (default: data_dir()), opened once."""
    path = (Path(root) if root is not None else data_dir()).resolve()
    with _stores_lock:
        if path not in _stores:
            _stores[path] = Store(path)
        return _stores[path]


def close_all() -> None:
    """Close and forget every store open_store() made: the next call reads the disk afresh, as
    after a restart."""
    with _stores_lock:
        for store in _stores.values():
            store.close()
        _stores.clear()
