"""L1: what the History view shows and does, without a server (history_ui + app's replay)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

import app
import events_ui
import history_listing
import history_ui
import modes
import next_steps
import owners
import retention
import uploads_ui
from job_spec import SOURCE
from testkit.history_helpers import (
    failed_job,
    finished_job,
    history_view,
    page_with_history,
    ran,
    store_in_data_dir,
)
from testkit.mediagen import make_mp4, make_png

store = pytest.fixture(store_in_data_dir, name="store")


@pytest.fixture
def view(store) -> history_ui.HistoryView:
    """The view's components, in a page of their own: its handlers answer keyed by them."""
    return history_view()


@pytest.fixture
def video(tmp_path):
    return make_mp4(tmp_path / "ComfyUI_00001_.mp4", seconds=0.5)


def test_detail_shows_output_only_for_done_jobs(store, video, tmp_path, view):
    done = finished_job(store, video, tmp_path)
    failed = failed_job(store)
    shown = view.detail(done)
    player, info, record = shown[view.video], shown[view.info], shown[view.record]
    assert shown[view.selected] == done and shown[view.area]["visible"]
    assert player["value"].endswith(f"_{done}.mp4")
    assert "1234" in info and record["used"]["seed"] == 1234 and record["inputs"]["image"]
    shown = view.detail(failed)
    assert shown[view.video]["visible"] is False and shown[view.download]["visible"] is False
    assert "[oom] out of memory" in shown[view.info]
    assert view.detail(None)[view.selected] is None
    assert view.detail("gone")[view.area]["visible"] is False


def test_delete_removes_row_and_files_and_refuses_a_running_job(store, video, tmp_path, view):
    done = finished_job(store, video, tmp_path)
    running = store.create_job("t2v", {"prompt": "x"})
    store.mark_running(running)
    message = view.on_delete_confirmed(done, "", "", history_listing.PAGE)[view.message]
    assert "Deleted" in message["value"] and store.get(done) is None
    assert not (store.jobs_dir / done).exists()
    message = view.on_delete_confirmed(running, "", "", history_listing.PAGE)[view.message]
    assert "Not deleted" in message["value"] and "Cancel it first" in message["value"]
    assert store.get(running).status == "running"


def test_retention_controls_save_the_policy_and_prune_at_once(store, video, tmp_path, view):
    old = finished_job(store, video, tmp_path)
    new = finished_job(store, video, tmp_path)
    store._db.execute("UPDATE jobs SET created_at = created_at - 40 * 86400 WHERE id = ?", (old,))
    message = view.on_retention(30, 0, "", "", history_listing.PAGE, None)[view.message]
    assert retention.current(store) == retention.Retention(days=30.0, gb=None)
    assert "1 old job deleted" in message["value"]
    assert [j.id for j in store.jobs()] == [new]
    message = view.on_retention("soon", 0, "", "", history_listing.PAGE, None)[view.message]
    assert "must be numbers" in message["value"]


def test_replay_puts_back_values_as_used_and_the_kept_inputs(store, video, tmp_path):
    image = make_png(tmp_path / "face.png", 96, 64)
    job_id = store.create_job(
        "i2v", {"prompt": "a fox", "frames": 100, "duration": None}, {"image": image}
    )
    with store.running(job_id, spec=ran(seed=5, frames=97, preset="fast")):
        store.mark_done(job_id, video)
    job = store.get(job_id)
    values = job.replay()
    field = modes.MODES["i2v"].field
    assert app.replay_value(field("frames"), job, values) == 97
    assert app.replay_value(field("seed"), job, values) == 5
    assert app.replay_value(field("duration"), job, values) is None  # frames as used win
    assert Path(app.replay_value(field("image"), job, values)).read_bytes() == image.read_bytes()
    job.inputs["image"].unlink()
    assert app.replay_value(field("image"), job, values) is None


def replayed(store, job_id: str) -> tuple:
    """Every field of the job's mode as "use these settings" puts it back, then checked as a
    new submission of that mode would be."""
    import prepare

    job = store.get(job_id)
    values = job.replay()
    mode = modes.MODES[job.mode]
    shown = {f.name: app.replay_value(f, job, values) for f in mode.fields}
    return shown, prepare.check(job.mode, shown, job_id="again")


def test_an_old_two_frame_keyframe_job_replays_and_runs_again(store, video, tmp_path):
    """A record written before the keyframes between: its new fields come back empty (their
    defaults), and what comes back is a job that passes the checks."""
    first, last = make_png(tmp_path / "a.png", 96, 64), make_png(tmp_path / "b.png", 96, 64)
    params = {"prompt": "dusk", "first_strength": 0.9, "last_strength": 0.7, "preset": "fast"}
    job_id = store.create_job("keyframe", params, {"first_image": first, "last_image": last})
    with store.running(job_id, spec=ran(mode="keyframe", **params)):
        store.mark_done(job_id, video)
    shown, checked = replayed(store, job_id)
    assert shown["first_strength"] == 0.9 and Path(shown["last_image"]).is_file()
    assert shown["image_2"] is None and shown["time_2"] is None and shown["strength_2"] == 0.7
    assert checked.spec.inputs["first_strength"] == 0.9


def test_a_keyframe_job_replays_its_middle_keyframes(store, video, tmp_path):
    images = {name: make_png(tmp_path / f"{name}.png", 96, 64)
              for name in ("first_image", "last_image", "image_4")}  # fmt: skip
    params = {"prompt": "dusk", "preset": "fast", "time_4": 2.5, "strength_4": 0.4}
    job_id = store.create_job("keyframe", params, images)
    with store.running(job_id, spec=ran(mode="keyframe", **params)):
        store.mark_done(job_id, video)
    shown, checked = replayed(store, job_id)
    assert (shown["time_4"], shown["strength_4"]) == (2.5, 0.4)
    assert Path(shown["image_4"]).read_bytes() == images["image_4"].read_bytes()
    assert checked.info["image_4"] is not None and checked.spec.inputs["time_4"] == 2.5


def test_a_jobs_loras_and_strengths_come_back_with_use_these_settings(
    store, video, tmp_path, monkeypatch
):
    monkeypatch.setenv("LTX_AIO_MODELS_DIR", str(tmp_path / "models"))
    (tmp_path / "models" / "loras").mkdir(parents=True)
    (tmp_path / "models" / "loras" / "mine.safetensors").write_bytes(b"{}")
    params = {
        "prompt": "dusk",
        "preset": "fast",
        "model": modes.LTX25,
        "lora_1": "slow-motion",
        "lora_1_strength": 0.6,
        "lora_3": "mine.safetensors",
        "lora_3_strength": -1.0,
    }
    job_id = store.create_job("t2v", params, {})
    with store.running(job_id, spec=ran(mode="t2v", **params)):
        store.mark_done(job_id, video)
    shown, checked = replayed(store, job_id)
    assert (shown["lora_1"], shown["lora_1_strength"]) == ("slow-motion", 0.6)
    assert (shown["lora_3"], shown["lora_3_strength"]) == ("mine.safetensors", -1.0)
    assert shown["lora_2"] == "" and shown["lora_2_strength"] == 1.0
    assert checked.spec.inputs["lora_3"] == "mine.safetensors"


def test_settings_of_a_job_that_never_ran_name_its_seed_truthfully(store):
    job_id = store.create_job("t2v", {"prompt": "a fox", "seed": -1}, {})
    store.mark_failed(job_id, "bad_input", "refused")
    job = store.get(job_id)
    assert job.seed is None
    assert app.seed_text(job, job.replay()) == "a random seed (it never ran)"
    fixed = store.get(store.create_job("t2v", {"prompt": "a fox", "seed": 7}, {}))
    assert app.seed_text(fixed, fixed.replay()) == "seed 7"


def refused_job(store, mode="t2v") -> str:
    job_id = store.create_job(mode, {"prompt": "p" * 6000})
    store.mark_failed(job_id, "bad_input", "prompt: too long")
    return job_id


def test_refused_jobs_are_hidden_until_asked_for_and_said_to_be(store, view):
    failed, refused = failed_job(store), refused_job(store)
    out = view.on_refresh("", "", history_listing.PAGE, None)
    assert out[view.ids] == [failed] and "1 refused job hidden" in out[view.summary]
    shown = view.on_refresh("", "", history_listing.PAGE, None, None, True)
    assert shown[view.ids] == [refused, failed] and "hidden" not in shown[view.summary]


def summary(**filters) -> str:
    values = {"mode": "", "status": "", **filters}
    view = history_view()
    return view.on_refresh(values["mode"], values["status"], history_listing.PAGE, None)[
        view.summary
    ]


def test_only_refused_jobs_the_summary_says_none_is_shown_and_counts_them_kept(store):
    for _ in range(7):
        refused_job(store)
    said = summary()
    assert said.startswith("No jobs to show. 7 refused jobs hidden: tick Show refused jobs")
    assert "No jobs yet" not in said and "7 jobs kept in all (0.0 MB)" in said


def test_one_of_a_kind_is_said_in_the_singular(store):
    refused_job(store)
    said = summary()
    assert "1 refused job hidden: tick Show refused jobs to list it." in said
    assert "1 job kept in all (0.0 MB), until you delete it." in said


def test_an_empty_history_says_so_once(store):
    assert summary() == "No jobs yet. Jobs are kept until you delete them."


def test_filters_that_match_nothing_are_not_an_empty_history(store):
    failed_job(store)
    said = summary(mode="i2v")
    assert said.startswith("No jobs match these filters.") and "1 job kept in all" in said
    assert summary(mode="t2v").startswith("Showing 1 of 1 job that matches.")


def test_clear_removes_only_failed_and_cancelled_jobs(store, video, tmp_path, view):
    done = finished_job(store, video, tmp_path)
    failed, refused = failed_job(store), refused_job(store)
    cancelled = store.create_job("t2v", {"prompt": "x"})
    store.mark_cancelled(cancelled)
    message = view.on_clear_failed("", "", history_listing.PAGE, None)[view.message]
    assert "3 failed or cancelled jobs and their files" in message["value"]
    assert [j.id for j in store.jobs(limit=-1)] == [done]
    assert not any((store.jobs_dir / j).exists() for j in (failed, refused, cancelled))


def test_the_live_view_lists_the_callers_unfinished_jobs_with_their_place_in_line(store, view):
    theirs = store.create_job("t2v", {"prompt": "someone else's"}, owner="browser:b")
    store.mark_running(theirs)
    mine = [store.create_job("i2v", {"prompt": f"mine {n}"}, owner="browser:a") for n in (1, 2)]
    shown = view.live("browser:a")
    table, box, pick, timer = (shown[part] for part in view.live_parts)
    assert box["visible"] is True and timer["active"] is True
    assert "someone else" not in table
    assert [value for _, value in pick["choices"]] == mine and pick["value"] == mine[0]
    assert "1 ahead" in table and "2 ahead" in table  # the other's running job counts
    view.on_cancel_live(mine[0], None)  # local install: the caller may cancel any job
    assert store.get(mine[0]).status == "cancelled"
    for job_id in (theirs, mine[1]):
        store.mark_cancelled(job_id)
    shown = view.live("browser:a")
    table, box, pick, timer = (shown[part] for part in view.live_parts)
    assert (table, box["visible"], timer["active"]) == ("", False, False)


# -- next steps: a done job's video into another mode's panel --------------------------------------

BROWSER = SimpleNamespace(headers={"user-agent": "the test's browser"}, client=None)


def test_a_done_jobs_detail_offers_its_next_steps_and_others_none(store, video, tmp_path, view):
    shown = view.detail(finished_job(store, video, tmp_path))
    steps = view.next
    assert shown[steps.box]["visible"] is True and shown[steps.note]["visible"] is False
    offered = {key for key, button in steps.buttons.items() if shown[button]["visible"]}
    assert offered == {a.key for a in next_steps.actions()} >= {"i2v", "style", "a2v"}
    assert all(b.elem_id == f"aio-next-history-{k}" for k, b in steps.buttons.items())
    assert view.detail(failed_job(store))[steps.box]["visible"] is False
    assert view.detail(None)[steps.box]["visible"] is False


def test_a_video_without_sound_hides_the_sound_step_and_says_why(store, tmp_path, view):
    silent = make_mp4(tmp_path / "ComfyUI_00003_.mp4", seconds=0.5, audio=False)
    shown = view.detail(finished_job(store, silent, tmp_path))
    assert shown[view.next.buttons["a2v"]]["visible"] is False
    assert shown[view.next.buttons["style"]]["visible"] is True
    assert shown[view.next.note] == {"__type__": "update", "value": next_steps.NO_SOUND,
                                     "visible": True}  # fmt: skip


@pytest.mark.parametrize(
    ("key", "mode", "field", "suffix"),
    [("style", "style", "video", ".mp4"), ("i2v", "i2v", "image", ".png"),
     ("a2v", "a2v", "audio", ".wav")],
)  # fmt: skip
def test_a_next_step_opens_its_panel_with_the_input_filled(
    store, video, tmp_path, key, mode, field, suffix
):
    page, _ = page_with_history()
    job_id = finished_job(store, video, tmp_path)
    opened = app.on_next_step(key, job_id, None, BROWSER, page)
    panel = page.panels[mode]
    value = Path(opened[panel.fields[field]]["value"])
    assert value.suffix == suffix and value.is_relative_to(uploads_ui.upload_folder())
    if key == "style":
        assert value.read_bytes() == store.get(job_id).output.read_bytes()
    assert uploads_ui.source_of(str(value)) == job_id  # its job goes on with it
    assert {v for v, column in page.views.items() if opened[column]["visible"]} == {mode}
    banner = opened[panel.shown.outcome.banner]["value"]
    assert f"From job {job_id}" in banner and "press Generate" in banner
    # Pressed Generate: the new job's values say where its input came from.
    plain = events_ui._plain(modes.MODES[mode], {field: {"path": str(value)}}, BROWSER)
    assert plain[field] == str(value.resolve()) and plain[SOURCE] == {field: job_id}


def test_a_retake_opens_with_end_at_the_videos_length_and_says_so(store, video, tmp_path):
    page, _ = page_with_history()
    job_id = finished_job(store, video, tmp_path)  # 0.5 s
    opened = app.on_next_step("retake", job_id, None, BROWSER, page)
    panel = page.panels["retake"]
    assert opened[panel.fields["end"]]["value"] == "0.50"
    assert panel.fields["start"] not in opened  # Start is the user's to choose
    banner = opened[panel.shown.outcome.banner]["value"]
    assert "it lasts 0.50 s, so End is set to 0.50" in banner


def test_a_results_next_steps_follow_the_job_it_shows(store, video, tmp_path):
    page, _ = page_with_history()
    steps = page.panels["t2v"].next
    job_id = finished_job(store, video, tmp_path, mode="t2v")
    shown = steps.on_shown({"job_id": job_id, "mode": "t2v"}, None, BROWSER)
    assert shown[steps.box]["visible"] is True and shown[steps.buttons["i2v"]]["visible"]
    assert steps.on_shown(None, None, BROWSER)[steps.box]["visible"] is False
    opened = app.on_next_step("i2v", {"job_id": job_id}, None, BROWSER, page)
    assert Path(opened[page.panels["i2v"].fields["image"]]["value"]).suffix == ".png"


def test_someone_elses_job_opens_nothing(store, video, tmp_path, monkeypatch):
    monkeypatch.setenv("LTX_AIO_SHARED", "1")
    page, _ = page_with_history()
    theirs = finished_job(store, video, tmp_path)  # the local owner's: not this browser's
    opened = app.on_next_step("style", theirs, owners.new_secret(), BROWSER, page)
    assert list(opened) == [page.banner] and "Pick a finished job" in opened[page.banner]["value"]


def test_settings_put_back_keep_where_an_input_came_from(store, video, tmp_path):
    image = make_png(tmp_path / "last.png", 96, 64)
    job_id = store.create_job(
        "i2v", {"prompt": "on", SOURCE: {"image": "20260101-000000-00000000"}}, {"image": image}
    )
    job = store.get(job_id)
    value = app.replay_value(modes.MODES["i2v"].field("image"), job, job.replay(), BROWSER)
    assert uploads_ui.source_of(value) == "20260101-000000-00000000"
