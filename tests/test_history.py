"""history.Store: job records that survive restarts, concurrency, failures and a broken database."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

import history
import history_db
import history_files
import history_record
from errors import AppError
from testkit.history_helpers import finished_job, open_store, ran, reopen, short_video
from testkit.mediagen import make_mp4, make_wav

store = pytest.fixture(open_store, name="store")
video = pytest.fixture(short_video, name="video")


# -- persistence


def test_store_done_job_survives_restart(store, video, tmp_path):
    job_id = finished_job(store, video, tmp_path)
    again = reopen(store)
    job = again.get(job_id)
    assert (job.status, job.seed, job.used["frames"]) == ("done", 1234, 121)
    assert job.output.read_bytes() == video.read_bytes()
    again.close()


def test_store_output_is_a_copy_that_outlives_comfyui_cleanup(store, video, tmp_path):
    job_id = finished_job(store, video, tmp_path)
    video.unlink()
    assert store.get(job_id).output.stat().st_size > 0


def test_store_inputs_are_copies_that_outlive_the_upload(store, tmp_path):
    audio = make_wav(tmp_path / "voice.wav")
    job_id = store.create_job("a2v", {"prompt": "x"}, {"audio": audio, "image": None})
    original = audio.read_bytes()
    audio.unlink()
    assert store.get(job_id).inputs["audio"].read_bytes() == original


def test_store_job_records_mode_params_and_timings(store, video, tmp_path):
    job_id = finished_job(store, video, tmp_path, mode="t2v", preset="fast")
    job = store.get(job_id)
    assert (job.mode, job.params["preset"], job.timings["generate_s"]) == ("t2v", "fast", 1.5)
    assert job.created_at <= job.started_at <= job.finished_at


def test_store_missing_input_file_is_bad_input_and_leaves_nothing(store, tmp_path):
    with pytest.raises(AppError) as caught:
        store.create_job("i2v", {}, {"image": tmp_path / "gone.png"})
    assert (caught.value.kind, caught.value.where) == ("bad_input", "image")
    assert store.count() == 0 and list(store.jobs_dir.iterdir()) == []


def test_store_replay_gives_snapped_values_seed_and_kept_inputs(store, video, tmp_path):
    job_id = finished_job(store, video, tmp_path, frames=100)
    values = store.get(job_id).replay()
    assert values["frames"] == 121 and values["seed"] == 1234
    assert Path(values["image"]).parent == store.jobs_dir / job_id / "inputs"


# -- concurrency


def test_store_twenty_concurrent_jobs_are_all_recorded(store, tmp_path):
    sources = [make_mp4(tmp_path / f"out{i}.mp4", seconds=0.25 + i / 40) for i in range(20)]
    start = threading.Barrier(20)
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            start.wait()
            job_id = store.create_job("t2v", {"prompt": f"p{i}"}, {})
            with store.running(job_id, spec=ran(seed=i)):
                store.mark_done(job_id, sources[i])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    jobs = store.jobs(limit=100)
    assert errors == []
    assert sorted(j.seed for j in jobs if j.status == "done") == list(range(20))
    assert len({j.output for j in jobs}) == 20
    assert all(j.output.read_bytes() == sources[j.seed].read_bytes() for j in jobs)


# -- failure and cancellation


def test_store_failed_job_keeps_error_kind_and_message(store):
    job_id = store.create_job("t2v", {}, {})
    with pytest.raises(AppError), store.running(job_id):
        raise AppError("oom", "The GPU ran out of memory.")
    job = store.get(job_id)
    assert (job.status, job.error_kind, job.error_message) == (
        "failed",
        "oom",
        "The GPU ran out of memory.",
    )


def test_store_used_parameters_noted_mid_run_stay_with_a_failed_job(store):
    job_id = store.create_job("t2v", {"prompt": "x", "seed": -1}, {})
    with pytest.raises(AppError), store.running(job_id):
        assert store.note_spec(job_id, ran(seed=99, frames=121))
        raise AppError("oom", "The GPU ran out of memory.")
    job = store.get(job_id)
    assert (job.status, job.seed, job.used["frames"]) == ("failed", 99, 121)
    assert not store.note_spec(job_id, ran(seed=1))  # an ended job keeps its record


def test_store_unexpected_exception_is_recorded_by_class_name(store):
    job_id = store.create_job("t2v", {}, {})
    with pytest.raises(ZeroDivisionError), store.running(job_id):
        raise ZeroDivisionError("boom")
    assert store.get(job_id).error_kind == "ZeroDivisionError"


def test_store_interrupted_job_is_cancelled_without_output(store):
    job_id = store.create_job("t2v", {}, {})
    with pytest.raises(AppError), store.running(job_id):
        raise AppError("interrupted", "Generation was cancelled.")
    job = store.get(job_id)
    assert (job.status, job.output) == ("cancelled", None)
    assert not list((store.jobs_dir / job_id).glob("output*"))


def test_store_closed_generator_counts_as_cancelled(store):
    job_id = store.create_job("t2v", {}, {})

    def handler():
        with store.running(job_id):
            yield "progress"

    steps = handler()
    next(steps)
    steps.close()
    assert store.get(job_id).status == "cancelled"


def test_store_partial_output_is_never_recorded_done(store, video):
    partial = video.with_name("partial.mp4")
    partial.write_bytes(video.read_bytes()[: video.stat().st_size // 3])
    job_id = store.create_job("t2v", {}, {})
    with pytest.raises(AppError) as caught, store.running(job_id):
        store.mark_done(job_id, partial)
    job = store.get(job_id)
    assert caught.value.kind == "node_failed"
    assert (job.status, job.output) == ("failed", None)
    assert not list((store.jobs_dir / job_id).glob("output*"))


@pytest.mark.parametrize("output", ["missing.mp4", "empty.mp4"])
def test_store_missing_or_empty_output_is_recorded_failed(store, tmp_path, output):
    (tmp_path / "empty.mp4").write_bytes(b"")
    job_id = store.create_job("t2v", {}, {})
    with pytest.raises(AppError, match=output), store.running(job_id):
        store.mark_done(job_id, tmp_path / output)
    assert store.get(job_id).status == "failed"


def test_store_done_after_cancel_keeps_the_cancel(store, video):
    job_id = store.create_job("t2v", {}, {})
    store.mark_running(job_id)
    store.mark_cancelled(job_id)
    assert store.mark_done(job_id, video) is False
    assert store.get(job_id).status == "cancelled"
    assert not list((store.jobs_dir / job_id).glob("output*"))


def test_store_cancel_during_the_output_copy_wins(store, video, monkeypatch):
    job_id = store.create_job("t2v", {}, {})
    store.mark_running(job_id)
    copy = history_files.link_or_copy

    def copy_then_cancel(source, target):
        copy(source, target)
        store.mark_cancelled(job_id)

    monkeypatch.setattr(history_files, "link_or_copy", copy_then_cancel)
    assert store.mark_done(job_id, video) is False
    assert store.get(job_id).status == "cancelled"
    assert list((store.jobs_dir / job_id).glob("output*")) == []


def test_store_block_without_output_records_failure(store):
    job_id = store.create_job("t2v", {}, {})
    with store.running(job_id):
        pass
    assert store.get(job_id).status == "failed"


def test_store_running_jobs_fail_at_restart_and_queued_ones_wait_again(store, video):
    queued = store.create_job("t2v", {}, {})
    running = store.create_job("t2v", {}, {})
    later = store.create_job("t2v", {"prompt": "later"}, {})
    store.mark_running(running)
    part = store.jobs_dir / running / "output.mp4.part"
    part.write_bytes(video.read_bytes()[:100])
    again = reopen(store)
    job = again.get(running)
    assert (job.status, job.error_kind, job.output) == ("failed", "interrupted", None)
    assert "restart" in job.error_message and "Run again" in job.error_message
    assert [j.id for j in again.queued()] == [queued, later]  # still waiting, in their order
    assert not part.exists()
    again.close()


# -- a broken or missing database


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_store_corrupt_database_is_kept_aside_with_a_message(store, video, tmp_path, damage):
    job_id = finished_job(store, video, tmp_path)
    store.close()
    db = store.db_path
    for side in ("history.db-wal", "history.db-shm"):
        (db.parent / side).unlink(missing_ok=True)
    if damage == "garbage":
        db.write_bytes(b"this is not a database" * 200)
    else:
        db.write_bytes(db.read_bytes()[:1500])
    broken = db.read_bytes()
    again = history.Store(store.root)
    asides = list(db.parent.glob("history.db.corrupt-*"))
    assert [p.read_bytes() for p in asides if not p.name.endswith(("-wal", "-shm"))] == [broken]
    assert asides[0].name in again.notice and "could not be read" in again.notice
    assert again.get(job_id).status == "done"
    again.close()


def test_store_overwritten_database_whose_wal_still_reads_is_noticed_and_read_back(
    store, video, tmp_path
):
    """Overwritten while its WAL (which holds every page) is still beside it, SQLite alone would
    open it as if nothing happened and lose it at the next checkpoint: it is set aside with a
    notice, and what the WAL still holds is read back, even a job whose folder's record is gone."""
    import shutil

    job_id = finished_job(store, video, tmp_path)
    wal, shm = (store.db_path.with_name(f"history.db{s}") for s in ("-wal", "-shm"))
    assert wal.exists()  # still open: the WAL holds the pages
    kept = {side: tmp_path / f"kept{side.suffix or side.name[-4:]}" for side in (wal, shm)}
    for side, copy in kept.items():
        shutil.copy2(side, copy)
    store.close()
    store.db_path.write_bytes(b"this is not a database" * 200)
    for side, copy in kept.items():
        shutil.copy2(copy, side)
    (store.jobs_dir / job_id / "record.json").unlink()  # only the database knows this job now
    again = history.Store(store.root)
    assert again.notice and "could not be read" in again.notice
    assert "1 job(s) were read back from it" in again.notice
    assert again.get(job_id).status == "done"
    asides = [p for p in store.root.glob("history.db.corrupt-*") if not p.name.endswith("-wal")]
    assert any(p.read_bytes().startswith(b"this is not a database") for p in asides)
    again.close()


def test_store_missing_database_starts_fresh_and_recovers_jobs(store, video, tmp_path):
    job_id = finished_job(store, video, tmp_path)
    store.close()
    for path in store.root.glob("history.db*"):
        path.unlink()
    again = history.Store(store.root)
    assert "missing" in again.notice
    assert again.get(job_id).output.read_bytes() == video.read_bytes()
    again.close()


def test_store_unopenable_database_is_an_error_and_never_set_aside(tmp_path):
    (tmp_path / "history.db").mkdir()  # opens like a locked or unreadable file: OperationalError
    with pytest.raises(sqlite3.OperationalError):
        history.Store(tmp_path)
    assert (tmp_path / "history.db").is_dir()
    assert not list(tmp_path.glob("history.db.corrupt-*"))


def test_store_zero_byte_database_is_set_aside_and_rebuilt(store, video, tmp_path):
    job_id = finished_job(store, video, tmp_path)
    store.close()
    for side in ("history.db-wal", "history.db-shm"):
        (store.root / side).unlink(missing_ok=True)
    store.db_path.write_bytes(b"")
    again = history.Store(store.root)
    assert "the file is empty" in again.notice and "1 job(s) were recovered" in again.notice
    assert again.get(job_id).status == "done"
    assert list(store.root.glob("history.db.corrupt-*"))
    again.close()


def test_store_database_of_another_schema_is_set_aside_and_rebuilt(store, video, tmp_path):
    job_id = finished_job(store, video, tmp_path)
    store.close()
    for path in store.root.glob("history.db*"):
        path.unlink()
    foreign = sqlite3.connect(store.db_path)
    foreign.executescript(
        "CREATE TABLE jobs (name TEXT, size INTEGER); INSERT INTO jobs VALUES ('x', 1);"
    )
    foreign.close()
    again = history.Store(store.root)
    assert "not a History database" in again.notice
    assert again.get(job_id).status == "done"
    new = again.create_job("t2v", {"prompt": "after"})  # jobs are taken again
    assert again.get(new).status == "queued"
    again.close()


def test_store_rebuild_notice_counts_only_jobs_it_recovered(store, video, tmp_path):
    finished_job(store, video, tmp_path)
    store.close()
    # A stray copy of a record: the same job twice must be counted once.
    folder = next(store.jobs_dir.iterdir())
    (store.jobs_dir / "copy").mkdir()
    (store.jobs_dir / "copy" / "record.json").write_text((folder / "record.json").read_text())
    for path in store.root.glob("history.db*"):
        path.unlink()
    again = history.Store(store.root)
    assert "1 job(s) were recovered" in again.notice
    again.close()


def test_store_a_row_that_cannot_be_read_is_hidden_and_said_once(store, video, tmp_path):
    import retention

    good = finished_job(store, video, tmp_path)
    bad = store.create_job("t2v", {"prompt": "x"})
    store.mark_failed(bad, "oom", "x")
    store._db.execute("UPDATE jobs SET params = '{not json' WHERE id = ?", (bad,))
    assert [j.id for j in store.jobs()] == [good]
    assert store.get(bad) is None
    assert bad in store.notice and "hidden" in store.notice
    notice = store.notice
    store.jobs()
    assert store.notice == notice  # said once
    assert retention.prune(store, max_days=1e-9) == [good]  # retention still works


def test_store_schema_1_database_gains_owners_and_keeps_its_jobs(tmp_path):
    db = sqlite3.connect(tmp_path / "history.db")
    db.executescript(history_db.MIGRATIONS[0] + "; PRAGMA user_version=1;")
    db.execute(
        "INSERT INTO jobs (id, mode, status, params, inputs, created_at) "
        "VALUES ('old', 't2v', 'done', '{}', '{}', 1.0)"
    )
    db.commit()
    db.close()
    store = history.Store(tmp_path)
    assert store.get("old").owner == history_record.LOCAL
    assert store.notice is None
    store.close()


def test_store_new_data_dir_has_no_notice(store):
    assert store.notice is None


def test_store_database_from_a_newer_app_is_kept_aside(store):
    store._db.execute(f"PRAGMA user_version = {history_db.SCHEMA_VERSION + 1}")
    again = reopen(store)
    assert "newer" in again.notice
    assert list(store.root.glob("history.db.corrupt-*"))
    again.close()


def test_store_empty_database_is_migrated_to_the_current_schema(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    sqlite3.connect(root / "history.db").close()
    s = history.Store(root)
    assert s._db.execute("PRAGMA user_version").fetchone()[0] == history_db.SCHEMA_VERSION
    assert s.count() == 0 and s.notice is None
    s.close()


def test_store_uses_write_ahead_logging(store):
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


# -- browsing


def test_store_lists_newest_first_and_filters(store, video, tmp_path):
    first = finished_job(store, video, tmp_path, mode="t2v")
    second = finished_job(store, video, tmp_path, mode="i2v")
    failed = store.create_job("t2v", {}, {})
    store.mark_failed(failed, "oom", "out of memory")
    assert [j.id for j in store.jobs()] == [failed, second, first]
    assert [j.id for j in store.jobs(mode="t2v", status="done")] == [first]
    assert store.count(status="failed") == 1


def test_store_pending_lists_running_then_queued_oldest_first(store):
    a, b, c = (store.create_job("t2v", {}, {}) for _ in range(3))
    store.mark_running(b)
    assert [j.id for j in store.pending()] == [b, a, c]


def test_store_thumbnail_is_a_cached_png_of_the_first_frame(store, video, tmp_path):
    from PIL import Image

    job_id = finished_job(store, video, tmp_path)
    thumb = store.thumbnail(job_id)
    made = thumb.stat().st_mtime_ns
    with Image.open(thumb) as image:
        assert (image.format, image.size) == ("PNG", (64, 64))
    assert store.thumbnail(job_id) == thumb and thumb.stat().st_mtime_ns == made


def test_store_failed_job_has_no_thumbnail(store):
    job_id = store.create_job("t2v", {}, {})
    store.mark_failed(job_id, "oom", "x")
    assert store.thumbnail(job_id) is None


# -- removing and retention


def test_store_delete_removes_row_and_files(store, video, tmp_path):
    job_id = finished_job(store, video, tmp_path)
    assert store.delete(job_id) is True
    assert store.get(job_id) is None and not (store.jobs_dir / job_id).exists()


def test_store_delete_refuses_an_unfinished_job(store):
    job_id = store.create_job("t2v", {}, {})
    with pytest.raises(AppError):
        store.delete(job_id)
    assert store.get(job_id) is not None


# -- where the data lives


def test_data_dir_follows_the_env_var(monkeypatch, tmp_path):
    monkeypatch.setenv("LTX_AIO_DATA_DIR", str(tmp_path / "bucket"))
    assert history.data_dir() == (tmp_path / "bucket").resolve()


def test_data_dir_defaults_beside_the_app(monkeypatch):
    monkeypatch.delenv("LTX_AIO_DATA_DIR", raising=False)
    assert history.data_dir() == Path(history.__file__).resolve().parent / "data"


def test_open_store_returns_one_store_per_data_dir(tmp_path):
    first = history.open_store(tmp_path / "d")
    assert history.open_store(str(tmp_path / "d")) is first
    history.close_all()


def test_open_store_after_close_all_reads_the_disk_afresh(tmp_path):
    first = history.open_store(tmp_path)
    job_id = first.create_job("t2v", {}, {})
    first.mark_running(job_id)
    history.close_all()
    again = history.open_store(tmp_path)
    assert again is not first
    assert again.get(job_id).error_message == history.INTERRUPTED_WHILE_RUNNING
    history.close_all()


def test_store_running_refuses_a_job_cancelled_before_it_started(store):
    job_id = store.create_job("t2v", {}, {})
    store.mark_cancelled(job_id)
    ran = []
    with pytest.raises(AppError) as info, store.running(job_id):
        ran.append(True)
    assert info.value.kind == "interrupted" and ran == []
    assert store.get(job_id).status == "cancelled"
