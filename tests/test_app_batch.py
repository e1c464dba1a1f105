"""L1: the panel's Generate handler (events_ui.make_ui_handler) driven in-process: one job or a
batch, each its own History record, run in order; a cancelled one is skipped, the others go on."""

from __future__ import annotations

import re
import threading

import anyio
import gradio as gr
import pytest

import app  # noqa: F401  (imported at collection time: see CONTRACTS, ComfyUI's own `app`)
import backend
import batch_ui
import events_ui
import history
import jobs
import modes
import panels_ui
from errors import AppError
from testkit.app_helpers import use_fake_engine


def panel(mode: str) -> events_ui.Shown:
    """Where a panel of `mode` shows its jobs, built in a page of its own: the handlers answer
    {component: update} keyed by these."""
    with gr.Blocks():
        return panels_ui.build(modes.MODES[mode], visible=True, owner=gr.BrowserState(None)).shown


# The components each yielded update names (the t2v panel's).
SHOWN = panel("t2v")
VIDEO, USED, BANNER = SHOWN.video, SHOWN.record, SHOWN.outcome.banner
QUEUE = SHOWN.queue
IDS, BOX, TABLE, ACTIONS, PICK, TIMER = (
    QUEUE.ids,
    QUEUE.box,
    QUEUE.table,
    QUEUE.actions,
    QUEUE.pick,
    QUEUE.timer,
)
PROMPT = "a fox in the snow\na cat on a roof"


engine = pytest.fixture(use_fake_engine, name="engine")


def generate(mode: str = "t2v", *, between=None, per_line=False, seeds=1, **values) -> list:
    """Every update the Generate handler yields; `between(update)` runs after each one."""
    handler = events_ui.make_ui_handler(modes.MODES[mode], SHOWN if mode == "t2v" else panel(mode))
    values = {"preset": "fast", **values, batch_ui.PER_LINE: per_line, batch_ui.SEEDS: seeds}

    async def drive():
        seen = []
        async for update in handler(gr.Progress(), **values):
            seen.append(update)
            if between is not None:
                between(update)
        return seen

    return anyio.run(drive)


def records(ids: list[str]) -> list[history.Job]:
    store = history.open_store()
    return [store.get(job_id) for job_id in ids]


def test_one_job_shows_its_video_and_a_done_banner_and_no_queue(engine):
    updates = generate(prompt="a fox", seed=4)
    last = updates[-1]
    (job,) = records(last[IDS])
    assert (job.status, job.seed, job.batch) == ("done", 4, None)
    assert last[VIDEO] == str(job.output) and last[USED]["job_id"] == job.id
    assert "Done" in last[BANNER]["value"]
    assert last[BOX]["visible"] is False


def test_batch_queues_one_record_per_line_and_seed_and_runs_them_in_order(engine):
    updates = generate(prompt=PROMPT, per_line=True, seeds=2, seed=10)
    jobs_run = records(updates[0][IDS])
    assert [(j.params["prompt"], j.seed, j.status) for j in jobs_run] == [
        ("a fox in the snow", 10, "done"),
        ("a fox in the snow", 11, "done"),
        ("a cat on a roof", 10, "done"),
        ("a cat on a roof", 11, "done"),
    ]
    assert len({j.batch for j in jobs_run}) == 1 and jobs_run[0].batch.startswith("batch-")
    assert len({j.output for j in jobs_run}) == 4
    assert len(engine.calls) == 4
    assert [j.started_at for j in jobs_run] == sorted(j.started_at for j in jobs_run)
    first = updates[0]
    assert first[BOX]["visible"] and "4 queued" in first[TABLE] and first[TIMER]["active"]
    assert (
        "Batch finished" in updates[-1][BANNER]["value"]
        and "4 done" in updates[-1][BANNER]["value"]
    )
    assert updates[-1][TIMER]["active"] is False


def test_batch_skips_a_job_cancelled_while_queued_and_runs_the_rest(engine):
    def cancel_the_second_once_queued(update):
        if len(engine.calls) == 0 and IDS in update:  # the queue's update, not the live box's
            assert jobs.cancel(update[IDS][1])

    updates = generate(prompt=PROMPT, per_line=True, seeds=2, between=cancel_the_second_once_queued)
    statuses = [j.status for j in records(updates[0][IDS])]
    assert statuses == ["done", "cancelled", "done", "done"]
    assert len(engine.calls) == 3
    assert "1 cancelled" in updates[-1][BANNER]["value"]


def test_batch_cancelling_the_running_job_leaves_the_others_running(engine, monkeypatch):
    plain = engine.generate
    calls = []

    def second_is_cancelled_mid_run(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            (running,) = [j for j in history.open_store().pending() if j.status == "running"]
            threading.Timer(0.2, jobs.cancel, [running.id]).start()
            engine.step_delay = 2.0
        else:
            engine.step_delay = 0.0
        return plain(*args, **kwargs)

    monkeypatch.setattr(backend, "generate", second_is_cancelled_mid_run)
    updates = generate(prompt="a fox", seeds=3)
    assert [j.status for j in records(updates[0][IDS])] == ["done", "cancelled", "done"]
    assert engine.cancels == 1


def test_batch_goes_on_after_a_failed_job(engine):
    engine.fail_with.append(AppError("oom", "out of memory"))
    updates = generate(prompt="a fox", seeds=3)
    jobs_run = records(updates[0][IDS])
    assert [j.status for j in jobs_run] == ["failed", "done", "done"]
    assert "out of memory" in updates[-1][BANNER]["value"]


def test_batch_stops_when_the_engine_is_unavailable_for_every_job(engine):
    engine.ready = False
    updates = generate(prompt="a fox", seeds=3)
    assert [j.status for j in records(updates[0][IDS])] == ["failed", "cancelled", "cancelled"]
    assert "Generation is unavailable" in updates[-1][BANNER]["value"]


def test_jobs_a_failed_batch_never_ran_say_why_not_that_the_user_cancelled(engine):
    engine.ready = False
    updates = generate(prompt="a fox", seeds=3)
    skipped = records(updates[0][IDS])[1:]
    for job in skipped:
        assert "by the user" not in job.error_message
        assert job.error_message.startswith("Not run: job #1 of this batch failed")
    table = updates[-1][TABLE]
    assert "by the user" not in table and "Not run" in table


def test_a_submitted_job_shows_next_to_the_button_that_it_starts_when_the_gpu_is_free(engine):
    updates = generate(prompt="a fox")
    said = updates[0][BANNER]["value"]
    assert "Submitted" in said and "starts as soon as the GPU is free" in said


def test_a_batch_too_large_is_refused_before_any_record(engine):
    updates = generate(prompt="\n".join(f"line {i}" for i in range(9)), per_line=True, seeds=4)
    assert len(updates) == 1 and "36 jobs" in updates[0][BANNER]["value"]
    assert history.open_store().count() == 0


def test_cancel_button_cancels_every_unfinished_job_of_the_request(engine):
    ids = [jobs.record("t2v", {"prompt": "a fox"}) for _ in range(3)]
    history.open_store().mark_running(ids[0])
    out = events_ui.make_cancel(SHOWN)(ids)
    busy, said = out[SHOWN.busy], out[BANNER]
    assert [j.status for j in records(ids)] == ["cancelled"] * 3
    assert engine.cancels == 1 and "3 jobs" in said["value"] and busy is False


def test_cancel_with_nothing_running_says_so(engine):
    done = jobs.record("t2v", {"prompt": "a fox"})
    jobs.skip(done, "ended")
    for ids in ([], [done]):
        said = events_ui.make_cancel(SHOWN)(ids)[BANNER]
        assert "Nothing to cancel" in said["value"] and "being stopped" not in said["value"]


def test_cancel_while_a_generate_is_starting_says_it_stops_it(engine):
    said = events_ui.make_cancel(SHOWN)([], busy=True)[BANNER]
    assert "being stopped" in said["value"]


def test_cancel_one_from_the_queue_view_cancels_only_that_job(engine):
    ids = [jobs.record("t2v", {"prompt": "a fox"}) for _ in range(3)]
    view = QUEUE.on_cancel_one(ids[2], ids)
    assert [j.status for j in records(ids)] == ["queued", "queued", "cancelled"]
    assert [value for _, value in view[PICK]["choices"]] == ids[:2]
    assert QUEUE.on_cancel_one("not-in-this-batch", ids) and records(ids)[0].status == "queued"


TIME_LEFT = re.compile(r"\d+% · (about \d+ (s|min)[^<·]* left|almost done)")


def _live_values(updates: list) -> list[str]:
    return [u[SHOWN.live]["value"] for u in updates if u.get(SHOWN.live, {}).get("visible")]


def test_a_running_job_shows_its_stage_time_left_and_preview_then_the_video(engine):
    engine.live, engine.step_delay = True, 0.3
    updates = generate(prompt="a fox", seed=4)
    shown = _live_values(updates)
    assert any("Sampling pass 1 · step " in v and TIME_LEFT.search(v) for v in shown), shown
    assert any("aio-live-preview" in v for v in shown)
    assert updates[-1][SHOWN.live]["visible"] is False and updates[-1][VIDEO]


def test_previews_turned_off_send_only_the_line(engine):
    engine.live, engine.step_delay = True, 0.3
    updates = generate(prompt="a fox", seed=4, **{events_ui.PREVIEWS: False})
    shown = _live_values(updates)
    assert any(TIME_LEFT.search(v) for v in shown)
    assert not any("aio-live-preview" in v for v in shown)
