"""L1: what the History view says about the records (history_listing): the gallery's items,
newest first with first frames and status tiles, filtered and paged, and their captions."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import history_listing
from testkit.history_helpers import failed_job, finished_job, store_in_data_dir
from testkit.mediagen import make_mp4

store = pytest.fixture(store_in_data_dir, name="store")


@pytest.fixture
def video(tmp_path):
    return make_mp4(tmp_path / "ComfyUI_00001_.mp4", seconds=0.5)


def test_listing_is_newest_first_with_first_frames_and_status_tiles(store, video, tmp_path):
    done = finished_job(store, video, tmp_path)
    failed = failed_job(store)
    items, ids, total = history_listing.listing(None, None)
    assert ids == [failed, done] and total == 2
    (failed_thumb, failed_caption), (done_thumb, done_caption) = items
    assert Path(done_thumb) == store.jobs_dir / done / "thumb.png"
    assert Path(failed_thumb).name == "failed.png" and Path(failed_thumb).is_file()
    assert failed_caption.startswith("T2V · failed · ") and "a broken fox" in failed_caption
    assert done_caption.startswith("I2V · done · ")


def test_listing_filters_by_mode_and_status_and_pages(store, video, tmp_path):
    finished_job(store, video, tmp_path, mode="i2v")
    failed = failed_job(store, mode="i2v")
    failed_job(store, mode="t2v")
    assert history_listing.listing("i2v", "failed")[1:] == ([failed], 1)
    assert history_listing.listing("i2v", None)[2] == 2
    assert len(history_listing.listing(None, None, limit=1)[1]) == 1


def test_caption_gives_the_time_today_and_the_date_on_other_days(store):
    job = store.get(failed_job(store))
    clock = time.strftime("%H:%M", time.localtime(job.created_at))
    assert f"failed · {clock} — " in history_listing.caption(job, now=job.created_at)
    older = history_listing.caption(job, now=job.created_at + 3 * 86400)
    assert f"failed · {time.strftime('%b %d', time.localtime(job.created_at))} {clock}" in older
