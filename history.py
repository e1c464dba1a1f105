"""Every generation's record, so nothing a user made is ever lost.

One SQLite file plus one folder per job under the data dir (env LTX_AIO_DATA_DIR, else <repo>/data):

    history.db                       the rows (WAL; schema version in PRAGMA user_version)
    jobs/<id>/inputs/<field><ext>    copies of the files the user gave
    jobs/<id>/output<ext>            copy of the finished video
    jobs/<id>/thumb.png              its first frame, made on first request
    jobs/<id>/record.json            the row as last written, so a lost database can be rebuilt

The output is copied (hard-linked where the filesystem allows), never moved: ComfyUI answers an
identical re-run from its cache with the same file name, which must still exist where it said.
A job becomes "done" only after its output was checked to decode and fully copied in; a crash
before that leaves it queued/running, and the next start records those as failed.

One app process per data dir: the first process to open a store there claims the dir (an
exclusive lock on `app.lock`, which the system lets go when the process ends, kill -9 included).
Only the claiming process treats what it finds as left by a stopped run (a running job failed, a
damaged database set aside, scratch swept); a store another live process has claimed opens as a
guest that changes none of that (`Store.guest`), and the app refuses to start on it (app.main).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: no claim is taken, as before
    fcntl = None

import videofile
from errors import AppError

log = logging.getLogger("ltx_aio.history")

REPO_DIR = Path(__file__).resolve().parent
DB_NAME = "history.db"
LOCK_NAME = "app.lock"
STATUSES = ("queued", "running", "done", "failed", "cancelled")
UNFINISHED = ("queued", "running")
INTERRUPTED_WHILE_RUNNING = (
    "Interrupted by a restart of the app while it ran. Run again (in History) runs it once more."
)
THUMB_WIDTH = 320

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
LOCAL = "local"
# Refused before any work (a bad field or file, generation unavailable): only the record is kept.
REFUSALS = ("bad_input", "unavailable")


class ForeignSchema(sqlite3.DatabaseError):
    """The file is an SQLite database, but not one of History's."""


def data_dir() -> Path:
    override = os.environ.get("LTX_AIO_DATA_DIR")
    return Path(override).expanduser().resolve() if override else REPO_DIR / "data"


@dataclass
class Job:
    id: str
    mode: str
    status: str
    params: dict
    used: dict | None
    seed: int | None
    inputs: dict[str, Path]
    output: Path | None
    batch: str | None
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    timings: dict = field(default_factory=dict)
    error_kind: str | None = None
    error_message: str | None = None
    bytes: int = 0
    owner: str = LOCAL

    def replay(self) -> dict:
        """The values to put back into the mode's panel: snapped values and seed win over requested
        ones, and inputs point at the kept copies."""
        values = dict(self.params)
        values.update(self.used or {})
        if "longest_frames" in values:  # automatic length: the cap is what the user set
            values["frames"] = values.pop("longest_frames")
            values["duration"] = self.params.get("duration")
        values.update({name: str(path) for name, path in self.inputs.items()})
        return values

    def to_dict(self) -> dict:
        data = asdict(self)
        data["inputs"] = {k: str(v) for k, v in self.inputs.items()}
        data["output"] = str(self.output) if self.output else None
        return data


SQLITE_HEADER = b"SQLite format 3\x00"


def _has_sqlite_header(path: Path) -> bool:
    """An empty file (SQLite's own new database) or one that starts with SQLite's header."""
    try:
        with path.open("rb") as f:
            head = f.read(len(SQLITE_HEADER))
    except OSError:
        return True  # unreadable: sqlite3 says why (and it is never set aside)
    return head in (b"", SQLITE_HEADER)


_claims: dict[Path, list] = {}  # data dir -> [its lock file, stores of this process open on it]
_claims_lock = threading.Lock()
_dropped: list[Path] = []  # claims of stores collected unclosed, let go at the next claim


def _claim(root: Path) -> bool:
    """Claim `root` for this process (True), or find that another live process holds it."""
    key = root.resolve()
    with _claims_lock:
        _let_dropped_go()
        held = _claims.get(key)
        if held is not None:
            held[1] += 1
            return True
        if fcntl is None:
            _claims[key] = [None, 1]
            return True
        handle = (key / LOCK_NAME).open("a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # held by another live process
            handle.close()
            return False
        except OSError as exc:  # a filesystem without locks: claimed, as before there were any
            log.warning("cannot lock %s (%s): one app per data dir is not enforced", key, exc)
            handle.close()
            _claims[key] = [None, 1]
            return True
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        _claims[key] = [handle, 1]
        return True


def _unclaim(root: Path) -> None:
    with _claims_lock:
        _dropped.append(root)
        _let_dropped_go()


def _let_dropped_go() -> None:
    while _dropped:
        key = _dropped.pop().resolve()
        held = _claims.get(key)
        if held is None:
            continue
        held[1] -= 1
        if held[1] <= 0:
            del _claims[key]
            if held[0] is not None:
                held[0].close()  # closing the file lets the lock go


def claim(root: Path | str) -> bool:
    """Claim a data dir for this process for as long as it runs (False: another live process
    holds it). app.main asks this before opening History, whatever state History is in."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    return _claim(root)


def claimant(root: Path | str) -> int | None:
    """The process id written by whoever claimed `root` (None when unknown)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int((Path(root) / LOCK_NAME).read_text().split()[0])
    return None


class Store:
    """The job records of one data dir. Safe to share between Gradio's worker threads."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root is not None else data_dir()
        self.jobs_dir = self.root / "jobs"
        self.db_path = self.root / DB_NAME
        # Something the UI should tell the user once (a database set aside, jobs recovered).
        self.notice: str | None = None
        self._lock = threading.RLock()
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        # False: another live process claimed this data dir, and this store is its guest.
        self.claimed = _claim(self.root)
        self._claim_held = self.claimed
        existed = self.db_path.exists()
        # Rows that could not be read (a damaged field): hidden, and said once.
        self.unreadable: set[str] = set()
        try:
            if existed and self.db_path.stat().st_size == 0 and self._records():
                # SQLite would take an empty file as a new database and History would start
                # empty, every job's folder orphaned.
                raise sqlite3.DatabaseError("the file is empty")
            if existed and not _has_sqlite_header(self.db_path):
                # With its WAL beside it SQLite reads the pages the WAL holds and never looks
                # at the overwritten file: it would open "fine" and lose it all at a checkpoint.
                raise sqlite3.DatabaseError("the file does not start as an SQLite database does")
            self._db = self._connect()
        except sqlite3.OperationalError:
            self._let_go()
            raise  # locked, unopenable, read-only: the file may be fine, so it is never set aside
        except sqlite3.DatabaseError as exc:
            if not self.claimed:  # the process using it decides what to do with it
                raise
            self._recover_from(exc)
        else:
            if not existed and self._records() and self.claimed:
                recovered = self._rebuild()
                self.notice = (
                    f"The history database was missing; a new one was started and {recovered} "
                    "job(s) were recovered from their folders."
                )
        if not self.claimed:
            log.warning(
                "History in %s is in use by another process (pid %s): opened without touching "
                "its unfinished jobs.",
                self.root,
                claimant(self.root),
            )
            return
        self._fail_interrupted()
        for trash in [*self.jobs_dir.glob(".trash-*"), *self.root.glob("history-salvage-*")]:
            shutil.rmtree(trash, ignore_errors=True)

    @property
    def guest(self) -> bool:
        """Whether another live process claimed this data dir (this store only reads and adds)."""
        return not self.claimed

    def _let_go(self) -> None:
        if self._claim_held:
            self._claim_held = False
            _unclaim(self.root)

    # -- opening, checking, migrating

    def _recover_from(self, exc: Exception) -> None:
        aside = self._set_aside()
        self._db = self._connect()
        # Another program's database is not read back: its "jobs" would not be ours.
        salvaged = 0 if isinstance(exc, ForeignSchema) else self._salvage(aside)
        recovered = self._rebuild()
        said = f"{recovered} job(s) were recovered from their folders"
        if salvaged:
            said = f"{salvaged} job(s) were read back from it and {said}"
        self.notice = (
            f"The history database could not be read ({exc}); it was kept as {aside.name} "
            f"and a new one was started. {said[0].upper()}{said[1:]}."
        )

    def _salvage(self, aside: Path) -> int:
        """Copy the job rows still readable in a set-aside database (through a scratch copy, its
        WAL included, so the kept file stays as it was) into the new one; how many were added."""
        scratch = Path(tempfile.mkdtemp(prefix="history-salvage-", dir=self.root))
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
                columns = [c for c in _COLUMNS if c in names]
                if "id" not in columns:
                    return 0
                rows = old.execute(f"SELECT {', '.join(columns)} FROM jobs")
                while True:
                    try:
                        row = rows.fetchone()
                    except sqlite3.DatabaseError:
                        break  # the rest of the table is past the damage
                    if row is None:
                        break
                    with self._lock:
                        cursor = self._db.execute(
                            f"INSERT OR IGNORE INTO jobs ({', '.join(columns)}) "
                            f"VALUES ({', '.join('?' * len(columns))})",
                            row,
                        )
                    added += cursor.rowcount
            finally:
                old.close()
        except (OSError, sqlite3.Error):
            pass  # nothing readable: the job folders are what is left
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return added

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(
            self.db_path, timeout=30, isolation_level=None, check_same_thread=False
        )
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

    def _set_aside(self) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = self.db_path.with_name(f"{DB_NAME}.corrupt-{stamp}")
        n = 1
        while aside.exists():
            aside = self.db_path.with_name(f"{DB_NAME}.corrupt-{stamp}-{n}")
            n += 1
        self.db_path.rename(aside)
        for suffix in ("-wal", "-shm"):
            side = self.db_path.with_name(DB_NAME + suffix)
            if side.exists():
                side.rename(aside.with_name(aside.name + suffix))
        return aside

    def _records(self) -> list[Path]:
        return sorted(self.jobs_dir.glob("*/record.json"))

    def _rebuild(self) -> int:
        """Re-insert the rows kept beside each job's files. Returns how many were recovered."""
        count = 0
        for record in self._records():
            try:
                row = json.loads(record.read_text())
                columns = [c for c in _COLUMNS if c in row]
                with self._lock:
                    cursor = self._db.execute(
                        f"INSERT OR IGNORE INTO jobs ({', '.join(columns)}) "
                        f"VALUES ({', '.join('?' * len(columns))})",
                        [row[c] for c in columns],
                    )
                count += cursor.rowcount
            except (OSError, ValueError, sqlite3.Error):
                continue  # an unreadable record loses that row only; its files stay on disk
        return count

    def _fail_interrupted(self) -> None:
        """A job that was running when the process ended cannot go on: it failed (the user may
        run it again). Jobs that were only queued stay queued: the app runs them again in their
        order once it has started (jobs.resume_queued)."""
        with self._lock:
            ids = [
                r[0]
                for r in self._db.execute("SELECT id FROM jobs WHERE status = 'running'").fetchall()
            ]
        for job_id in ids:
            for part in (self.jobs_dir / job_id).glob("*.part"):
                part.unlink(missing_ok=True)
            self._finish(job_id, "failed", "interrupted", INTERRUPTED_WHILE_RUNNING)

    def queued(self) -> list[Job]:
        """Jobs waiting to start, oldest first."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM jobs WHERE status = 'queued' "
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
            _dropped.append(self.root)

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
            (folder / "inputs").mkdir(parents=True)
            kept = self._keep(folder, inputs or {}, extensions)
            row = {
                "id": job_id,
                "mode": mode,
                "status": "queued",
                "params": _dumps(params),
                "inputs": _dumps(kept),
                "batch": batch,
                "created_at": time.time(),
                "bytes": _tree_bytes(folder),
                "owner": owner,
            }
            with self._lock:
                self._db.execute(
                    f"INSERT INTO jobs ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                    list(row.values()),
                )
                self._write_record(job_id)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
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
        kept = self._keep(folder, inputs, extensions)
        changes = {"params": _dumps(params), "inputs": _dumps(kept), "bytes": _tree_bytes(folder)}
        return self._update(job_id, changes, only_from=("queued",))

    def _keep(
        self, folder: Path, inputs: dict[str, str | Path | None], extensions: dict | None
    ) -> dict[str, str]:
        kept: dict[str, str] = {}
        (folder / "inputs").mkdir(parents=True, exist_ok=True)
        for name, source in inputs.items():
            if source is None or source == "":
                continue
            source = Path(source)
            if not source.is_file():
                raise AppError("bad_input", f"file not found: {source.name}", where=name)
            suffix = (extensions or {}).get(name) or ".bin"
            target = folder / "inputs" / (_safe(name) + _safe(suffix))
            _link_or_copy(source, target)
            kept[name] = target.relative_to(self.root).as_posix()
        return kept

    def mark_running(self, job_id: str, used: dict | None = None) -> bool:
        """Queued -> running, with the parameters as snapped (seed included) when known."""
        changes = {"status": "running", "started_at": time.time()}
        changes.update(_used_columns(used))
        return self._update(job_id, changes, only_from=("queued",))

    def note_used(self, job_id: str, used: dict) -> bool:
        """Record the parameters as snapped (seed included) once known, while the job runs: a job
        that fails later still says what it ran with."""
        return self._update(job_id, _used_columns(used), only_from=UNFINISHED)

    def mark_done(
        self,
        job_id: str,
        output: str | Path,
        *,
        used: dict | None = None,
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
        # Named for the job: the name a browser or API client saves the download under.
        target = folder / _safe(f"{job.mode}_{job_id}{source.suffix.lower() or '.mp4'}")
        part = target.with_name(target.name + ".part")
        _link_or_copy(source, part)
        changes = {
            "status": "done",
            "output": target.relative_to(self.root).as_posix(),
            "finished_at": time.time(),
            "timings": _dumps({**job.timings, **(timings or {})}),
            "error_kind": None,
            "error_message": None,
        }
        changes.update(_used_columns(used))
        with self._lock:
            if self._status(job_id) not in UNFINISHED:
                part.unlink(missing_ok=True)
                return False
            os.replace(part, target)
            changes["bytes"] = _tree_bytes(folder)
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
        shutil.rmtree(self.jobs_dir / job_id / "inputs", ignore_errors=True)
        return True

    def record_refusal(self, mode: str, error_kind: str, message: str, owner: str = LOCAL) -> str:
        """A submission refused before it was even queued (e.g. over its owner's quota)."""
        job_id = self.create_job(mode, {}, owner=owner)
        self.mark_refused(job_id, error_kind, message)
        return job_id

    def mark_cancelled(self, job_id: str, message: str = "Cancelled by the user.") -> bool:
        return self._finish(job_id, "cancelled", "interrupted", message)

    @contextlib.contextmanager
    def running(self, job_id: str, used: dict | None = None) -> Iterator[None]:
        """Mark the job running for the block; call mark_done inside it.

        Whatever escapes is recorded: AppError by its kind ("interrupted" -> cancelled), any other
        exception by its class name, a cancelled task or closed generator as cancelled. A block
        that ends without mark_done records a failure, never a done job without output.
        """
        if not self.mark_running(job_id, used):
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
            f"SELECT {', '.join(_COLUMNS)} FROM jobs WHERE id = ?", (job_id,)
        ).fetchone()
        path = self.jobs_dir / job_id / "record.json"
        if row is None or not path.parent.is_dir():
            return
        tmp = path.with_name("record.json.tmp")
        tmp.write_text(json.dumps(dict(zip(_COLUMNS, row, strict=True)), indent=1))
        os.replace(tmp, path)

    def _status(self, job_id: str, owner: str | None = None) -> str | None:
        where, args = _filters(owner=owner)
        where = f"{where} AND id = ?" if where else "WHERE id = ?"
        row = self._db.execute(f"SELECT status FROM jobs {where}", [*args, job_id]).fetchone()
        return row[0] if row else None

    # -- reading

    def get(self, job_id: str, owner: str | None = None) -> Job | None:
        """The job with this id; given an owner, only when it is that owner's: a forged or
        replayed id of someone else's job finds nothing."""
        where, args = _filters(owner=owner)
        where = f"{where} AND id = ?" if where else "WHERE id = ?"
        with self._lock:
            row = self._db.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM jobs {where}", [*args, str(job_id)]
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
        where, args = _filters(mode, status, owner, refusals)
        with self._lock:
            rows = self._db.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM jobs {where} "
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
        where, args = _filters(mode, status, owner, refusals, since)
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
                f"SELECT {', '.join(_COLUMNS)} FROM jobs WHERE status IN (?, ?) "
                "ORDER BY status = 'queued', created_at, rowid",
                UNFINISHED,
            ).fetchall()
        return [self._job(row) for row in rows]

    def thumbnail(self, job_id: str) -> Path | None:
        """The first frame of a done job's output as a PNG, made once and kept beside it."""
        job = self.get(job_id)
        if job is None or job.status != "done" or job.output is None:
            return None
        thumb = self.jobs_dir / job_id / "thumb.png"
        if thumb.is_file():
            return thumb
        try:
            return videofile.save_first_frame(job.output, thumb, THUMB_WIDTH)
        except Exception:  # a thumbnail is decoration: no thumbnail beats a broken History tab
            return None

    def _read(self, row: tuple) -> Job | None:
        try:
            return self._job(row)
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

    def _job(self, row: tuple) -> Job:
        data = dict(zip(_COLUMNS, row, strict=True))
        for name in ("params", "inputs", "timings"):
            data[name] = json.loads(data[name]) if data[name] else {}
        data["used"] = json.loads(data["used"]) if data["used"] else None
        data["inputs"] = {k: self.root / v for k, v in data["inputs"].items()}
        data["output"] = self.root / data["output"] if data["output"] else None
        return Job(**data)

    # -- removing

    def delete(self, job_id: str, owner: str | None = None) -> bool:
        """Remove the row and the job's files together (given an owner, only that owner's job).
        A queued or running job is refused."""
        folder = self.jobs_dir / job_id
        trash = self.jobs_dir / f".trash-{job_id}"
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
            if folder.exists():
                folder.rename(trash)  # fails before the row goes if the files cannot be removed
            self._db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        shutil.rmtree(trash, ignore_errors=True)
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


# A Job's fields are the jobs table's columns, in the same order.
_COLUMNS = tuple(f.name for f in fields(Job))

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


# -- helpers


def _dumps(value) -> str:
    return json.dumps(value, default=str, sort_keys=True)


def _used_columns(used: dict | None) -> dict:
    if used is None:
        return {}
    seed = used.get("seed")
    return {"used": _dumps(used), "seed": int(seed) if isinstance(seed, (int, float)) else None}


def _filters(
    mode: str | None = None,
    status: str | None = None,
    owner: str | None = None,
    refusals: bool = True,
    since: float | None = None,
) -> tuple[str, list]:
    clauses, args = [], []
    if since is not None:
        clauses.append("created_at >= ?")
        args.append(float(since))
    if not refusals:
        marks = ", ".join("?" * len(REFUSALS))
        clauses.append(f"NOT (status = 'failed' AND COALESCE(error_kind, '') IN ({marks}))")
        args.extend(REFUSALS)
    if owner is not None:
        clauses.append("owner = ?")
        args.append(owner)
    if mode:
        clauses.append("mode = ?")
        args.append(mode)
    if status:
        clauses.append("status = ?")
        args.append(status)
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), args


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:64]


def _link_or_copy(source: Path, target: Path) -> None:
    """Hard-link when source and target share a filesystem (instant, no extra space), else copy."""
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _tree_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
