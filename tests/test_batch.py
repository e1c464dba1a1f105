"""batch: a panel's values -> several jobs, and each job's place in line and ETA."""

from __future__ import annotations

import pytest

import batch
import history
import modes
from errors import AppError
from testkit.history_helpers import ran
from testkit.mediagen import make_mp4

BASE = {"prompt": "a red fox", "preset": "fast", "seed": -1}


@pytest.fixture
def store(tmp_path):
    s = history.Store(tmp_path / "data")
    yield s
    s.close()


# -- expand


def test_expand_without_options_is_one_job_of_the_same_values():
    assert batch.expand(dict(BASE, prompt="line one\nline two")) == [
        dict(BASE, prompt="line one\nline two")
    ]


def test_expand_one_job_per_non_empty_prompt_line():
    specs = batch.expand(dict(BASE, prompt=" a fox \n\n  a cat\n"), per_line=True)
    assert [s["prompt"] for s in specs] == ["a fox", "a cat"]
    assert all(s["preset"] == "fast" for s in specs)


def test_expand_fixed_seed_counts_up_per_prompt():
    specs = batch.expand(dict(BASE, prompt="a\nb", seed=10), per_line=True, seeds=3)
    assert [(s["prompt"], s["seed"]) for s in specs] == [
        ("a", 10),
        ("a", 11),
        ("a", 12),
        ("b", 10),
        ("b", 11),
        ("b", 12),
    ]


def test_expand_random_seed_leaves_each_copy_its_own_draw():
    specs = batch.expand(BASE, seeds=4)
    assert len(specs) == 4 and all(s["seed"] == -1 for s in specs)


def test_expand_seed_wraps_at_the_seed_range():
    specs = batch.expand(dict(BASE, seed=modes.SEED_MAX), seeds=2)
    assert [s["seed"] for s in specs] == [modes.SEED_MAX, 0]


def test_expand_empty_prompt_is_left_for_the_job_to_refuse():
    assert batch.expand(dict(BASE, prompt="  \n "), per_line=True) == [dict(BASE, prompt="  \n ")]


@pytest.mark.parametrize(("seeds", "detail"), [(0, "1..16"), (17, "1..16"), ("many", "number")])
def test_expand_refuses_a_seed_count_out_of_range(seeds, detail):
    with pytest.raises(AppError) as caught:
        batch.expand(BASE, seeds=seeds)
    assert (caught.value.kind, caught.value.where) == ("bad_input", "batch_seeds")
    assert detail in str(caught.value)


def test_expand_refuses_more_jobs_than_one_batch_may_queue():
    prompt = "\n".join(f"line {i}" for i in range(5))
    with pytest.raises(AppError) as caught:
        batch.expand(dict(BASE, prompt=prompt), per_line=True, seeds=7)
    assert "35 jobs" in caught.value.message and str(batch.MAX_JOBS) in caught.value.message


# -- places and ETAs


def finished(store, video, seconds: float, preset: str = "fast", mode: str = "t2v") -> str:
    job_id = store.create_job(mode, dict(BASE, preset=preset))
    with store.running(job_id, spec=ran(preset=preset, seed=1)):
        store.mark_done(job_id, video, timings={"total_s": seconds})
    return job_id


def test_typical_seconds_is_the_median_of_the_same_mode_and_preset(store, tmp_path):
    video = make_mp4(tmp_path / "v.mp4", seconds=0.25)
    for seconds in (10, 30, 20):
        finished(store, video, seconds)
    finished(store, video, 500, preset="quality")
    finished(store, video, 900, mode="i2v")
    assert batch.typical_seconds(store, "t2v", "fast") == 20
    assert batch.typical_seconds(store, "t2v", "balanced") is None


def test_places_give_order_position_and_eta(store, tmp_path):
    video = make_mp4(tmp_path / "v.mp4", seconds=0.25)
    finished(store, video, 20)
    ids = [store.create_job("t2v", dict(BASE, prompt=f"p{i}"), batch="b") for i in range(4)]
    store.mark_running(ids[0])
    store.mark_done(ids[0], video, timings={"total_s": 20})
    store.mark_running(ids[1])
    started = store.get(ids[1]).started_at
    store.mark_cancelled(ids[2])

    rows = batch.places(store, ids, now=started + 5)

    assert [(r.number, r.status, r.position) for r in rows] == [
        (1, "done", None),
        (2, "running", 0),
        (3, "cancelled", None),
        (4, "queued", 1),
    ]
    assert [r.eta_s for r in rows] == [None, 15.0, None, 35.0]
    assert rows[3].prompt == "p3" and rows[2].error == "Cancelled by the user."


def test_places_without_history_have_no_eta(store):
    ids = [store.create_job("t2v", BASE) for _ in range(2)]
    rows = batch.places(store, ids)
    assert [(r.position, r.eta_s) for r in rows] == [(0, None), (1, None)]


def test_the_line_counts_everyones_jobs_ahead_and_shows_only_the_callers(store, tmp_path):
    video = make_mp4(tmp_path / "v.mp4", seconds=0.25)
    finished(store, video, 20)
    mine_running = store.create_job("t2v", dict(BASE, prompt="mine first"), owner="me")
    theirs = store.create_job("t2v", dict(BASE, prompt="theirs"), owner="them")
    mine_waiting = store.create_job("t2v", dict(BASE, prompt="mine next"), owner="me")
    store.mark_running(mine_running)
    started = store.get(mine_running).started_at

    rows = batch.line(store, "me", now=started + 5)

    assert [r.job_id for r in rows] == [mine_running, mine_waiting]
    assert [(r.number, r.position, r.eta_s) for r in rows] == [(1, 0, 15.0), (2, 2, 55.0)]
    assert rows[1].prompt == "t2v: mine next"
    assert [r.job_id for r in batch.line(store, None, now=started + 5)][1] == theirs


def test_the_line_without_history_has_no_eta(store):
    store.create_job("t2v", BASE)
    assert [r.eta_s for r in batch.line(store, None)] == [None]


def test_places_leave_out_deleted_jobs_and_summary_counts_the_rest(store, tmp_path):
    video = make_mp4(tmp_path / "v.mp4", seconds=0.25)
    gone = finished(store, video, 3)
    kept = store.create_job("t2v", BASE)
    store.delete(gone)
    rows = batch.places(store, [gone, kept])
    assert [r.job_id for r in rows] == [kept]
    assert batch.summary(rows) == {
        "queued": 1,
        "running": 0,
        "done": 0,
        "failed": 0,
        "cancelled": 0,
    }


def test_one_enhanced_prompt_is_refused_with_one_job_per_prompt_line():
    """Each line would be made from the same rewrite: refused naming the rewrite's field."""
    params = {"prompt": "a fox\na hare", "enhanced_prompt": "A red fox in deep snow."}
    with pytest.raises(AppError) as info:
        batch.expand(params, per_line=True)
    assert info.value.where == "enhanced_prompt"
    assert len(batch.expand(params, per_line=False)) == 1
    assert len(batch.expand({"prompt": "a fox\na hare"}, per_line=True)) == 2
