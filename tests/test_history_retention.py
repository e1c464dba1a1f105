"""retention: History's days/GB limits, pruning finished jobs oldest first."""

from __future__ import annotations

import pytest

import retention
from testkit.history_helpers import finished_job, open_store, reopen, short_video

store = pytest.fixture(open_store, name="store")
video = pytest.fixture(short_video, name="video")


def test_retention_prune_by_days_removes_only_older_jobs(store, video, tmp_path):
    old = finished_job(store, video, tmp_path)
    new = finished_job(store, video, tmp_path)
    old_time = store.get(new).created_at - 10 * 86400
    store._db.execute("UPDATE jobs SET created_at = ? WHERE id = ?", (old_time, old))
    assert retention.prune(store, max_days=5) == [old]
    assert [j.id for j in store.jobs()] == [new]


def test_retention_prune_by_size_removes_oldest_until_it_fits(store, tmp_path):
    blobs = []
    for i in range(4):
        blob = tmp_path / f"blob{i}.bin"
        blob.write_bytes(b"x" * 1_000_000)
        job_id = store.create_job("t2v", {}, {"image": blob})
        store.mark_failed(job_id, "oom", "x")
        blobs.append(job_id)
    assert retention.prune(store, max_gb=2.5e6 / 1024**3) == blobs[:2]
    assert sorted(j.id for j in store.jobs()) == sorted(blobs[2:])


def test_retention_prune_never_touches_unfinished_jobs(store):
    job_id = store.create_job("t2v", {}, {})
    assert retention.prune(store, max_days=0, now=store.get(job_id).created_at + 1) == []


def test_retention_prune_uses_the_stored_retention(store, video, tmp_path):
    job_id = finished_job(store, video, tmp_path)
    retention.configure(store, days=1)
    again = reopen(store)
    assert retention.current(again) == retention.Retention(days=1.0, gb=None)
    assert retention.prune(again, now=again.get(job_id).created_at + 2 * 86400) == [job_id]
    again.close()


def test_retention_defaults_to_keeping_everything(store):
    assert retention.current(store) == retention.Retention(None, None)


def test_retention_zero_or_none_removes_a_limit(store):
    retention.configure(store, days=3, gb=2)
    assert retention.configure(store, days=0, gb=None) == retention.Retention(None, None)


def test_retention_without_a_policy_deletes_nothing(store, video, tmp_path):
    old = finished_job(store, video, tmp_path)
    store._db.execute("UPDATE jobs SET created_at = created_at - 3650 * 86400 WHERE id = ?", (old,))
    assert retention.prune(store) == [] and store.get(old) is not None
