"""How long History keeps finished jobs, and how much one owner may keep.

A limit in days and/or GB, pruned oldest first. On a local install the page sets it (stored in the
history database, so it travels with the data dir); by default nothing a user made is deleted
unless they asked. On a shared deployment (owners.py) it is the operator's: LTX_AIO_KEEP_DAYS and
LTX_AIO_KEEP_GB (7 days there by default), which also win over the page's setting anywhere; each
owner may keep at most LTX_AIO_OWNER_QUOTA_GB (5 GB there by default, none locally), and a
submission beyond it is refused with what to do. Queued and running jobs are never pruned.
There each owner may also have at most LTX_AIO_MAX_WAITING jobs waiting to start (20 by default,
none locally): one visitor cannot fill the line.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import history
import history_record
import owners
from errors import AppError

GB = 1024**3
SHARED_KEEP_DAYS = 7.0
SHARED_QUOTA_GB = 5.0
SHARED_MAX_WAITING = 20
# The most jobs the whole server keeps waiting at once: each waiting job holds one of Gradio's
# event slots (app.py gives it this many plus room for the page's own events).
LINE_MAX = 64
# Waiting jobs older than this are not counted against a limit: a submission whose request ended
# before it reached the GPU stays queued (a restart runs it) but must not block anyone for ever.
LIVE_S = 6 * 3600


@dataclass(frozen=True)
class Retention:
    days: float | None = None
    gb: float | None = None


def _env_number(name: str) -> float | None:
    """A positive number from the environment; 0 or empty means no limit."""
    raw = os.environ.get(name, "").strip()
    try:
        value = float(raw) if raw else None
    except ValueError:
        return None
    return value if value is not None and value > 0 else None


def operator_policy() -> Retention | None:
    """The operator's limits, when set (or on a shared deployment): they win over the page."""
    days, gb = os.environ.get("LTX_AIO_KEEP_DAYS"), os.environ.get("LTX_AIO_KEEP_GB")
    if days is None and gb is None:
        return Retention(SHARED_KEEP_DAYS, None) if owners.shared() else None
    return Retention(_env_number("LTX_AIO_KEEP_DAYS"), _env_number("LTX_AIO_KEEP_GB"))


def page_can_set() -> bool:
    """Only a single-user install whose operator set no limits lets the page change them."""
    return not owners.shared() and operator_policy() is None


def current(store: history.Store) -> Retention:
    operator = operator_policy()
    if operator is not None:
        return operator
    days, gb = store.setting("keep_days"), store.setting("keep_gb")
    return Retention(float(days) if days else None, float(gb) if gb else None)


def quota_gb() -> float | None:
    default = SHARED_QUOTA_GB if owners.shared() else None
    raw = os.environ.get("LTX_AIO_OWNER_QUOTA_GB")
    if raw is None:
        return default
    try:
        float(raw.strip() or 0)
    except ValueError:  # no number: the default stays (the app says so at start)
        return default
    return _env_number("LTX_AIO_OWNER_QUOTA_GB")


def check_quota(store: history.Store, owner: str) -> None:
    """Refuse a new job of an owner whose jobs already keep their quota's worth."""
    quota = quota_gb()
    if quota is None or owner == owners.LOCAL:
        return
    used = store.owner_bytes(owner)
    if used >= quota * GB:
        raise AppError(
            "unavailable",
            f"Your jobs keep {used / GB:.1f} GB; this server keeps at most {quota:g} GB per user.",
            where="history",
            hint="Delete some of your jobs in History, then generate again.",
        )


def max_waiting() -> int | None:
    """Jobs one owner may have waiting (None: no limit; a value that is no number keeps the
    default, and the app says so at start)."""
    default = SHARED_MAX_WAITING if owners.shared() else None
    raw = os.environ.get("LTX_AIO_MAX_WAITING", "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        return default
    return int(value) if value > 0 else None


def check_waiting(
    store: history.Store, owner: str, *, adding: int = 1, also_waiting: int = 0
) -> None:
    """Refuse `adding` new jobs of an owner who would then have more jobs waiting than one owner
    may (`also_waiting`: what the same visitor has waiting under other owners, e.g. other
    sessions of a key-less script), or when the server's line is full."""
    since = time.time() - LIVE_S
    waiting_all = store.count(status="queued", since=since)
    if waiting_all + adding > LINE_MAX:
        raise AppError(
            "unavailable",
            f"This server has {waiting_all} jobs waiting to start, the most it takes.",
            where="queue",
            hint="Try again in a few minutes, when some have run.",
        )
    limit = max_waiting()
    if limit is None or owner == owners.LOCAL:
        return
    waiting = max(store.count(status="queued", owner=owner, since=since), also_waiting)
    if waiting + adding <= limit:
        return
    said = (
        f"You have {waiting} jobs waiting to start"
        if adding == 1
        else f"A batch of {adding} jobs would leave you {waiting + adding} waiting to start"
    )
    raise AppError(
        "unavailable",
        f"{said}; this server lets one visitor have at most {limit} waiting.",
        where="queue",
        hint="Wait for some to finish, or cancel some in History, then generate again"
        + (" (or make the batch smaller)." if adding > 1 else "."),
    )


def configure(
    store: history.Store, days: float | None = None, gb: float | None = None
) -> Retention:
    """Keep jobs for `days` and/or within `gb` in all; None or <= 0 means no such limit."""
    for key, value in (("keep_days", days), ("keep_gb", gb)):
        store.set_setting(key, str(float(value)) if value is not None and value > 0 else None)
    return current(store)


def prune(
    store: history.Store,
    max_days: float | None = None,
    max_gb: float | None = None,
    *,
    now: float | None = None,
) -> list[str]:
    """Delete finished jobs, oldest first: those older than max_days, then more until all jobs
    fit in max_gb. Without limits given, the stored policy applies. Returns the deleted ids."""
    if max_days is None and max_gb is None:
        policy = current(store)
        max_days, max_gb = policy.days, policy.gb
    if max_days is None and max_gb is None:
        return []
    now = time.time() if now is None else now
    oldest_first = store.jobs(limit=-1)[::-1]
    total = sum(job.bytes for job in oldest_first)
    doomed = []
    for job in oldest_first:
        if job.status in history_record.UNFINISHED:
            continue
        too_old = max_days is not None and job.created_at < now - max_days * 86400
        too_big = max_gb is not None and total > max_gb * GB
        if too_old or too_big:
            doomed.append(job.id)
            total -= job.bytes
    return [job_id for job_id in doomed if store.delete(job_id)]
