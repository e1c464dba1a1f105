"""How long History keeps finished jobs: a limit in days and/or GB, pruned oldest first.

The policy is stored in the history database, so it travels with the data dir (a Space's bucket).
The default is no limit: nothing a user made is deleted unless they asked for it. Queued and
running jobs are never pruned.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import history

GB = 1024**3


@dataclass(frozen=True)
class Retention:
    days: float | None = None
    gb: float | None = None


def current(store: history.Store) -> Retention:
    days, gb = store.setting("keep_days"), store.setting("keep_gb")
    return Retention(float(days) if days else None, float(gb) if gb else None)


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
        if job.status in history.UNFINISHED:
            continue
        too_old = max_days is not None and job.created_at < now - max_days * 86400
        too_big = max_gb is not None and total > max_gb * GB
        if too_old or too_big:
            doomed.append(job.id)
            total -= job.bytes
    return [job_id for job_id in doomed if store.delete(job_id)]
