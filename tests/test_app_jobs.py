"""L1: the job flow (jobs.py) and the app's pure helpers, without a server."""

from __future__ import annotations

import contextlib
import inspect
import threading
import time
from pathlib import Path

import gradio as gr
import pytest

import app
import backend
import banners_ui
import downloads
import errors
import events_ui
import history
import history_record
import http_guards
import jobs
import modes
import panels_ui
import pins
import restarts
import retention
from errors import ERROR_KINDS, AppError
from testkit import mediagen
from testkit.app_helpers import use_fake_engine

engine = pytest.fixture(use_fake_engine, name="engine")


@pytest.mark.parametrize(
    ("raised", "kind"),
    [
        (gr.Error("GPU task aborted"), "gpu_timeout"),
        (RuntimeError("ZeroGPU quota exceeded (120s requested vs. 30s left)"), "unavailable"),
        (RuntimeError("No GPU was available after 60s"), "unavailable"),
        (RuntimeError("ZeroGPU illegal duration"), "gpu_timeout"),
        (MemoryError(), "oom"),
        (type("OutOfMemoryError", (RuntimeError,), {})("CUDA out of memory"), "oom"),
        (InterruptedError(), "interrupted"),
        (ValueError("something internal"), "node_failed"),
        (AppError("missing_model", "gone"), "missing_model"),
    ],
)
def test_classify_maps_failures_to_kinds(raised, kind):
    assert errors.classify(raised).kind == kind


def test_classify_never_passes_internal_text_of_unknown_errors():
    err = errors.classify(KeyError("/secret/path/in/traceback"))
    assert "/secret/path" not in err.message


def test_every_kind_has_a_title_and_a_default_hint():
    assert set(errors.TITLES) == set(ERROR_KINDS) == set(errors.NEXT_STEPS)


def test_describe_names_kind_field_and_what_to_do():
    text = AppError("bad_input", "Frames is 10000", where="frames", hint="Use 9..481").line()
    assert text == "[bad_input] Check your input: frames: Frames is 10000. Use 9..481."


def test_run_returns_video_and_used_parameters(engine):
    result = jobs.run("t2v", {"prompt": "a cat", "preset": "fast", "seed": 7})
    assert result.spec.seed == 7 and result.spec.mode == "t2v"
    assert Path(result.video) == jobs.open_history().get(result.job_id).output
    assert Path(result.video).is_file() and not Path(engine.calls[-1]["video"]).exists()
    assert engine.calls[-1]["duration_multiplier"] == 1.0


@pytest.mark.parametrize("fails", [False, True])
def test_staged_inputs_leave_comfyuis_input_dir_when_the_job_ends(engine, tmp_path, fails):
    if fails:
        engine.fail_with.append(AppError("oom", "out of memory"))
    image = mediagen.make_png(tmp_path / "x.png", 96, 64)
    with pytest.raises(AppError) if fails else contextlib.nullcontext():
        jobs.run("i2v", {"image": str(image), "prompt": "a cat"})
    assert list(pins.input_dir().iterdir()) == []


def test_run_retries_a_gpu_abort_once_with_doubled_budget_and_says_so(engine):
    engine.fail_with.append(gr.Error("GPU task aborted"))
    told = []
    result = jobs.run("t2v", {"prompt": "a cat"}, notify=told.append)
    assert [c["duration_multiplier"] for c in engine.calls] == [1.0, jobs.RETRY_MULTIPLIER]
    assert told == [jobs.RETRY_NOTE] and jobs.RETRY_NOTE in result.notes


def test_run_does_not_retry_an_illegal_duration(engine):
    engine.fail_with.append(gr.Error("ZeroGPU illegal duration"))
    with pytest.raises(AppError) as caught:
        jobs.run("t2v", {"prompt": "a cat"})
    assert caught.value.kind == "gpu_timeout" and len(engine.calls) == 1


def test_run_does_not_retry_an_abort_that_already_had_the_maximum_time(engine, tmp_path):
    engine.fail_with.append(gr.Error("GPU task aborted"))
    clip = mediagen.make_mp4(tmp_path / "clip.mp4", seconds=2.0, fps=8)
    with pytest.raises(AppError) as caught:
        jobs.run("style", {"video": str(clip), "prompt": "clay", "preset": "quality"})
    assert caught.value.kind == "gpu_timeout" and "900 s maximum" in caught.value.message
    assert len(engine.calls) == 1


def test_run_raises_a_failure_the_gpu_task_returned_as_data(engine, monkeypatch):
    # What ZeroGPU hands back from its worker when the task failed there.
    failed = {"error": AppError("oom", "The device ran out of memory.", where="Sampler").to_dict()}
    monkeypatch.setattr(backend, "generate", lambda *args, **kwargs: failed)
    with pytest.raises(AppError) as caught:
        jobs.run("t2v", {"prompt": "a cat"})
    assert (caught.value.kind, caught.value.where) == ("oom", "Sampler")


def test_run_names_its_job_to_the_gpu_task(engine):
    result = jobs.run("t2v", {"prompt": "a cat"})
    assert engine.calls[-1]["job_id"] == result.job_id


def test_cancel_of_a_running_job_names_that_job_to_the_backend(engine, monkeypatch):
    named = []
    monkeypatch.setattr(backend, "cancel", named.append)
    job_id = jobs.record("t2v", {"prompt": "a cat"})
    jobs.open_history().mark_running(job_id)
    assert jobs.cancel(job_id)
    assert named == [job_id]


def test_run_does_not_retry_other_failures(engine):
    engine.fail_with.append(AppError("oom", "out of memory"))
    with pytest.raises(AppError) as caught:
        jobs.run("t2v", {"prompt": "a cat"})
    assert caught.value.kind == "oom" and len(engine.calls) == 1


def test_run_checks_the_engine_before_staging_anything(engine, tmp_path):
    engine.ready, engine.problems = False, ["ComfyUI is not installed"]
    image = mediagen.make_png(tmp_path / "x.png", 96, 64)
    with pytest.raises(AppError) as caught:
        jobs.run("i2v", {"image": str(image), "prompt": "a cat"})
    assert caught.value.kind == "unavailable" and "ComfyUI is not installed" in caught.value.message
    assert list((pins.input_dir()).iterdir()) == [] and engine.ensured == 0


@pytest.mark.parametrize(
    ("params", "field_name"),
    [({"prompt": ""}, "prompt"), ({"prompt": "a cat", "frames": 10_000}, "frames"),
     ({"prompt": "a cat", "preset": "ultra"}, "preset")],
)  # fmt: skip
def test_run_names_a_bad_field_even_when_generation_is_unavailable(engine, params, field_name):
    engine.ready, engine.problems = False, ["ComfyUI is not installed"]
    with pytest.raises(AppError) as caught:
        jobs.run("t2v", params)
    assert (caught.value.kind, caught.value.where) == ("bad_input", field_name)


def test_run_names_a_bad_file_even_when_generation_is_unavailable(engine, tmp_path):
    engine.ready, engine.problems = False, ["ComfyUI is not installed"]
    text = mediagen.make_text(tmp_path / "notes.png")
    with pytest.raises(AppError) as caught:
        jobs.run("i2v", {"image": str(text), "prompt": "a cat"})
    assert (caught.value.kind, caught.value.where) == ("bad_input", "image")
    assert "Error" not in caught.value.message  # no exception class names (UnidentifiedImageError)


def test_unavailable_says_what_to_do_without_pointing_at_the_page(engine):
    engine.ready, engine.problems = False, ["ComfyUI is not installed. Run `python bootstrap.py`."]
    with pytest.raises(AppError) as caught:
        jobs.run("t2v", {"prompt": "a cat"})
    said = caught.value.line()
    assert "python bootstrap.py" in said and "banner" not in said.lower()


def test_run_passes_the_gradio_progress_object_itself_to_the_gpu_task(engine):
    # ZeroGPU pickles the task's arguments: a gr.Progress pickles, a closure would not.
    progress = gr.Progress()
    jobs.run("t2v", {"prompt": "a cat"}, progress=progress)
    assert engine.calls[-1]["progress"] is progress


@pytest.mark.parametrize("mode", list(modes.MODES))
def test_api_signature_is_the_mode_fields_as_keywords(mode):
    handler = events_ui.make_api_handler(modes.MODES[mode])
    params = inspect.signature(handler).parameters
    fields = modes.MODES[mode].fields
    assert list(params)[:2] == ["request", "progress"]  # filled in by Gradio, not the caller
    assert list(params)[2:] == [f.name for f in fields]
    assert all(params[f.name].kind is inspect.Parameter.KEYWORD_ONLY for f in fields)
    doc = handler.__doc__
    for f in fields:
        assert f"    {f.name}: " in doc


@pytest.mark.parametrize("mode", list(modes.MODES))
def test_every_field_gets_a_component_of_its_kind(mode):
    expected = {
        "text": gr.Textbox,
        "choice": gr.Radio,
        "bool": gr.Checkbox,
        "image": gr.Image,
        "audio": gr.Audio,
        "video": gr.Video,
    }
    with gr.Blocks():
        for f in modes.MODES[mode].fields:
            component = panels_ui.field_component(modes.MODES[mode], f)
            if f.kind in ("int", "float") and f.default is not None:
                assert isinstance(component, (gr.Slider, gr.Number)), f.name
                assert component.precision == (0 if f.kind == "int" else None), f.name
                if f.min is not None:
                    assert component.minimum == f.min and component.maximum == f.max
            elif f.kind in ("int", "float"):
                assert isinstance(component, gr.Textbox), f.name
            elif f.suggest:  # its model's values to pick from, and any other typed
                assert isinstance(component, gr.Dropdown) and component.allow_custom_value
                assert component.choices == [
                    (v, v) for v in f.suggestions(modes.MODES[mode].models[0])
                ]
            else:
                assert isinstance(component, expected[f.kind]), f.name


def within(block) -> set[str]:
    """The elem_ids of the components in `block` (Gradio puts form fields in a Form of its own)."""
    found = set()
    for child in getattr(block, "children", ()):
        found |= {child.elem_id} if child.elem_id else within(child)
    return found


def test_a_fields_group_is_a_closed_section_of_its_own_a_row_per_keyframe():
    """Keyframe's "More keyframes": each middle keyframe's image, time and strength side by
    side; the first and last frames stay on the panel itself, required."""
    mode = modes.MODES["keyframe"]
    with gr.Blocks():
        comps = panels_ui.build(mode, visible=True, owner=gr.BrowserState(None)).fields
    assert set(comps) == {f.name for f in mode.fields}
    for k in modes.MIDDLE_KEYFRAMES:
        row = comps[f"image_{k}"].parent
        assert isinstance(row, gr.Row)
        assert within(row) == {f"aio-keyframe-{n}_{k}" for n in ("image", "time", "strength")}
        section = row.parent
        assert isinstance(section, gr.Accordion) and section.label == modes.KEYFRAMES
        assert section.open is False
    assert {"aio-keyframe-first_time", "aio-keyframe-last_time"} <= within(section)
    assert not {"aio-keyframe-first_image", "aio-keyframe-last_image"} & within(section)


@pytest.mark.parametrize("mode", list(modes.MODES))
def test_an_optional_number_starts_empty_with_its_placeholder(mode):
    # gr.Number shows and sends 0 when empty (Gradio 6): "empty = derived" needs a text box.
    optional = [f for f in modes.MODES[mode].fields if f.kind in ("int", "float")]
    optional = [f for f in optional if f.default is None and not f.required]  # not a range
    assert {f.name for f in optional} >= {"width", "height"}
    with gr.Blocks():
        for f in optional:
            component = panels_ui.field_component(modes.MODES[mode], f)
            assert component.value in (None, "") and f.placeholder, f.name
            assert component.placeholder == f.placeholder, f.name  # "auto", "end": what empty is


def test_banner_escapes_html():
    html = banners_ui.error_banner(AppError("bad_input", "<script>x</script>", where="prompt"))
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_launch_options_allow_copying_from_the_data_dir_only(engine, tmp_path):
    options = app.launch_options()
    assert options["allowed_paths"] == [str((tmp_path / "data").resolve())]
    guards = [m.cls for m in options["app_kwargs"]["middleware"]]
    assert http_guards.FileGuard in guards  # the data dir itself is never fetched directly
    assert options["css"] and options["head"] and options["theme"] is not None
    assert options["max_file_size"] > 0


# -- every job is recorded in History ------------------------------------------------------------


def test_run_records_a_done_job_with_used_parameters_timings_and_output(engine):
    result = jobs.run("t2v", {"prompt": "a cat", "preset": "fast", "seed": 7, "frames": 100})
    job = history.open_store().get(result.job_id)
    assert (job.status, job.seed, job.params["frames"], job.used["frames"]) == ("done", 7, 100, 97)
    assert job.output.read_bytes() == Path(result.video).read_bytes()
    assert job.timings == result.timings and job.timings["total_s"] >= job.timings["generate_s"]
    assert result.spec.job_id == result.job_id


def test_record_keeps_input_copies_under_the_original_names(engine, tmp_path):
    image = mediagen.make_png(tmp_path / "my photo.png", 96, 64)
    job_id = jobs.record("i2v", {"image": str(image), "prompt": "a cat", "seed": None})
    job = history.open_store().get(job_id)
    assert job.status == "queued" and job.params["image"] == "my photo.png"
    assert job.inputs["image"].read_bytes() == image.read_bytes()


def test_run_records_a_refusal_as_failed_with_its_kind(engine):
    with pytest.raises(AppError):
        jobs.run("t2v", {"prompt": ""})
    (job,) = history.open_store().jobs()
    assert (job.status, job.error_kind, job.output) == ("failed", "bad_input", None)
    assert "prompt" in job.error_message


def test_run_records_an_engine_failure_with_the_seed_it_used(engine):
    engine.fail_with.append(AppError("oom", "out of memory"))
    with pytest.raises(AppError):
        jobs.run("t2v", {"prompt": "a cat", "seed": 3})
    (job,) = history.open_store().jobs()
    assert (job.status, job.error_kind, job.seed, job.output) == ("failed", "oom", 3, None)


def test_a_queued_job_cancelled_before_it_starts_never_runs(engine):
    job_id = jobs.record("t2v", {"prompt": "a cat"})
    assert jobs.cancel(job_id)
    with pytest.raises(AppError) as caught:
        jobs.run("t2v", {"prompt": "a cat"}, job_id=job_id)
    assert caught.value.kind == "interrupted" and engine.calls == []
    assert history.open_store().get(job_id).status == "cancelled"


def test_cancel_during_the_model_check_stops_before_the_gpu_task(engine, monkeypatch):
    def ensure_then_cancel(prompt, progress=None):
        (job,) = history.open_store().pending()
        jobs.cancel(job.id)
        return []

    monkeypatch.setattr(downloads, "ensure_models_for_prompt", ensure_then_cancel)
    with pytest.raises(AppError) as caught:
        jobs.run("t2v", {"prompt": "a cat"})
    (job,) = history.open_store().jobs()
    assert caught.value.kind == "interrupted" and engine.calls == []
    assert (job.status, job.output) == ("cancelled", None)


def test_cancel_of_a_running_job_interrupts_the_engine_and_is_recorded(engine):
    engine.step_delay = 2.0
    job_id = jobs.record("t2v", {"prompt": "a cat"})
    outcome: list[BaseException] = []

    def work():
        try:
            jobs.run("t2v", {"prompt": "a cat"}, job_id=job_id)
        except AppError as err:
            outcome.append(err)

    thread = threading.Thread(target=work)
    thread.start()
    store = history.open_store()
    deadline = time.monotonic() + 10
    while not engine.calls and time.monotonic() < deadline:
        time.sleep(0.01)
    assert jobs.cancel(job_id)
    thread.join(10)
    assert engine.cancels == 1 and [e.kind for e in outcome] == ["interrupted"]
    assert (store.get(job_id).status, store.get(job_id).output) == ("cancelled", None)
    assert not jobs.cancel(job_id)  # an ended job stays as it ended


def test_run_applies_the_retention_policy_after_each_job(engine):
    store = history.open_store()
    old = jobs.run("t2v", {"prompt": "an old cat"}).job_id
    store._db.execute("UPDATE jobs SET created_at = created_at - 30 * 86400 WHERE id = ?", (old,))
    retention.configure(store, days=7)
    new = jobs.run("t2v", {"prompt": "a new cat"}).job_id
    assert [j.id for j in store.jobs()] == [new]
    assert not (store.jobs_dir / old).exists()


def test_an_unwritable_data_dir_refuses_the_job_clearly(engine, tmp_path, monkeypatch):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the data dir should be")
    monkeypatch.setenv("LTX_AIO_DATA_DIR", str(blocked))
    history.close_all()
    with pytest.raises(AppError) as caught:
        jobs.run("t2v", {"prompt": "a cat"})
    assert caught.value.kind == "unavailable" and "LTX_AIO_DATA_DIR" in caught.value.hint
    assert engine.calls == []


def test_cancelling_a_request_while_its_jobs_are_recorded_leaves_none_queued(engine, monkeypatch):
    import asyncio

    real_record = jobs.record

    def slow_record(*args, **kwargs):
        time.sleep(0.15)  # copying a large upload into History
        return real_record(*args, **kwargs)

    monkeypatch.setattr(jobs, "record", slow_record)
    specs = [{"prompt": f"shot {n}"} for n in range(4)]

    async def cancel_midway():
        task = asyncio.create_task(events_ui.record_jobs("t2v", specs, history_record.LOCAL))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_midway())
    deadline = time.monotonic() + 5
    store = jobs.open_history()
    while time.monotonic() < deadline and len(store.jobs(limit=-1)) < 2:
        time.sleep(0.05)
    time.sleep(0.5)  # the abandoned thread records at most one more, then stops
    statuses = [job.status for job in store.jobs(limit=-1)]
    assert statuses and set(statuses) == {"cancelled"}
    assert len(statuses) < len(specs)


def test_a_history_write_that_fails_after_the_run_is_a_clear_message(engine, monkeypatch):
    def disk_full(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(history.Store, "mark_done", disk_full)
    with pytest.raises(AppError) as caught:
        jobs.run("t2v", {"prompt": "a cat"})
    assert caught.value.kind == "unavailable" and "No space left" in caught.value.message
    assert "LTX_AIO_DATA_DIR" in caught.value.hint
    (job,) = jobs.open_history().jobs()
    assert job.status == "failed"


def test_a_refused_job_keeps_its_mode_reason_and_time_but_nothing_it_was_given(engine, tmp_path):
    image = mediagen.make_png(tmp_path / "face.png", 96, 64)
    with pytest.raises(AppError) as caught:
        jobs.run("i2v", {"image": str(image), "prompt": "a cat", "frames": 10_000})
    assert caught.value.kind == "bad_input"
    store = jobs.open_history()
    (job,) = store.jobs()
    assert (job.mode, job.status, job.error_kind) == ("i2v", "failed", "bad_input")
    assert "frames" in job.error_message and job.finished_at >= job.created_at
    assert job.params == {} and job.inputs == {} and job.used is None
    assert [p.name for p in (store.jobs_dir / job.id).rglob("*")] == ["record.json"]


def test_an_unusable_input_is_never_kept(engine, tmp_path):
    notes = mediagen.make_text(tmp_path / "notes.png")
    with pytest.raises(AppError) as caught:
        jobs.run("i2v", {"image": str(notes), "prompt": "a cat"})
    assert caught.value.kind == "bad_input"
    (job,) = jobs.open_history().jobs()
    assert job.status == "failed" and job.inputs == {}


def test_a_kept_input_is_named_for_what_it_holds_not_for_its_upload_name(engine, tmp_path):
    disguised = mediagen.make_png(tmp_path / "portrait.png", 96, 64)
    disguised = disguised.rename(tmp_path / "portrait.html")
    job_id = jobs.record("i2v", {"image": str(disguised), "prompt": "a cat"})
    kept = jobs.open_history().get(job_id).inputs["image"]
    assert kept.name == "image.png"
    assert kept.read_bytes() == disguised.read_bytes()


def test_jobs_waiting_at_a_restart_run_once_each_in_their_order(engine, tmp_path):
    """restarts.resume_queued: what History kept queued runs again, oldest first; a job whose files
    were never kept fails saying so; a job cancelled meanwhile is not run; a second resume
    finds nothing left to run."""
    store = jobs.open_history()
    image = mediagen.make_png(tmp_path / "first.png", 96, 64)
    first = jobs.record("t2v", {"prompt": "first", "preset": "fast", "seed": 1})
    with_image = jobs.record("i2v", {"prompt": "kept", "preset": "fast", "image": str(image)})
    unkept = jobs.record_submission("i2v", {"prompt": "x", "image": {"path": "/up/a.png"}}, "local")
    cancelled = jobs.record("t2v", {"prompt": "cancelled", "preset": "fast"})
    jobs.cancel(cancelled)
    ran = restarts.resume_queued(store, ready=lambda: True)
    assert ran == [first, with_image]
    assert [c["job_id"] for c in engine.calls] == [first, with_image]
    assert store.get(first).status == "done" and store.get(with_image).status == "done"
    assert (
        store.get(unkept).status == "failed"
        and "Submit it again" in store.get(unkept).error_message
    )
    assert store.get(cancelled).status == "cancelled"
    assert restarts.resume_queued(store, ready=lambda: True) == []  # nothing runs twice
    assert len(engine.calls) == 2


def test_on_zerogpu_jobs_waiting_at_a_restart_wait_for_their_owner(engine, monkeypatch):
    """ZeroGPU grants a GPU only within a visitor's request: resume_queued runs nothing there;
    each owner's waiting jobs are handed over once, oldest first, to that owner's next visit;
    one left longer than a day fails with Run again; what a closed visit did not start waits
    for the next."""
    monkeypatch.setattr(restarts, "_awaiting", {})
    monkeypatch.setattr(restarts, "gpu_only_in_requests", lambda: True)
    store = jobs.open_history()
    a1 = jobs.record("t2v", {"prompt": "a first", "preset": "fast"}, owner="browser:a")
    b1 = jobs.record("t2v", {"prompt": "b first", "preset": "fast"}, owner="browser:b")
    a2 = jobs.record("t2v", {"prompt": "a second", "preset": "fast"}, owner="browser:a")
    stale = jobs.record("t2v", {"prompt": "a stale", "preset": "fast"}, owner="browser:a")
    with store._lock, store._db:
        store._db.execute(
            "UPDATE jobs SET created_at = ? WHERE id = ?",
            (time.time() - restarts.OWNER_WAIT_S - 60, stale),
        )
    assert restarts.resume_queued(store, ready=lambda: True) == []
    assert engine.calls == []
    assert (
        restarts.awaiting("browser:a"),
        restarts.awaiting("browser:b"),
        restarts.awaiting("browser:c"),
    ) == (
        2,
        1,
        0,
    )
    assert store.get(stale).status == "failed"
    assert "Run again" in store.get(stale).error_message
    assert [j.id for j in restarts.take_awaiting("browser:a")] == [a1, a2]
    assert restarts.take_awaiting("browser:a") == []  # handed over once
    restarts.put_back_awaiting("browser:a", [a2])  # that visit closed before a2 started
    jobs.cancel(b1, "browser:b")
    assert restarts.take_awaiting("browser:b") == []  # cancelled meanwhile: nothing to run
    assert [j.id for j in restarts.take_awaiting("browser:a")] == [a2]
    assert store.get(a1).status == store.get(a2).status == "queued"


def test_a_submission_whose_run_never_came_is_ended_not_left_waiting(engine, monkeypatch):
    """A script's submission is recorded when it joins Gradio's queue; one Gradio dropped before
    its run (the caller went away) ends after CLAIM_S, saying so, and no longer counts as
    waiting; an adopted one is left to its run."""
    monkeypatch.setattr(jobs, "_unclaimed", {})
    dropped = jobs.record_submission("t2v", {"prompt": "dropped"}, "local")
    adopted = jobs.record_submission("t2v", {"prompt": "adopted"}, "local")
    assert jobs.adopt(adopted, "t2v", {"prompt": "adopted"}, "local") == adopted
    assert jobs.drop_unclaimed() == []  # not late yet
    later = time.monotonic() + jobs.CLAIM_S + 1
    assert jobs.drop_unclaimed(now=later) == [dropped]
    store = jobs.open_history()
    assert store.get(dropped).status == "cancelled"
    assert store.get(dropped).error_message == jobs.DROPPED
    assert store.get(adopted).status == "queued"
    assert jobs.drop_unclaimed(now=later) == []  # once


def test_a_batch_that_would_pass_the_waiting_limit_is_refused_whole(engine, monkeypatch):
    monkeypatch.setenv("LTX_AIO_SHARED", "1")
    monkeypatch.setenv("LTX_AIO_MAX_WAITING", "5")
    for n in range(2):
        jobs.record("t2v", {"prompt": f"waiting {n}"}, owner="key:someone")
    with pytest.raises(AppError) as refused:
        jobs.check_room("key:someone", 4)
    said = str(refused.value)
    assert "A batch of 4 jobs would leave you 6 waiting" in said and "at most 5" in said
    assert "smaller" in said
    jobs.check_room("key:someone", 3)  # fits
    jobs.check_room("key:another", 5)  # another visitor's own room


def test_jobs_are_not_refused_while_the_workers_may_come_back(monkeypatch):
    """With no worker up but one that may come back, the pool makes jobs wait (grace), so the
    job layer lets them through; with nothing to wait for, it refuses saying why."""
    down = {"ready": False, "problems": ["No worker can run jobs: a: down."]}
    monkeypatch.setattr(backend, "engine_status", lambda: {**down, "waits_for_workers": True})
    jobs.require_engine()
    monkeypatch.setattr(backend, "engine_status", lambda: {**down, "waits_for_workers": False})
    with pytest.raises(AppError) as refused:
        jobs.require_engine()
    assert "No worker can run jobs" in str(refused.value)


def test_an_edit_gives_its_turn_back_before_it_joins_on_the_cpu(engine, tmp_path, monkeypatch):
    """Putting the new part into the source runs on the app's CPU: the engine's slot is free
    for the next job meanwhile."""
    import asyncio

    import edits
    from testkit import mediagen

    clip = mediagen.make_mp4(tmp_path / "clip.mp4", seconds=2.0, width=64, height=64, fps=8)
    params = {"video": str(clip), "prompt": "on", "preset": "fast", "seconds": 1.0,
              "context_frames": 9}  # fmt: skip
    job_id = jobs.record("extend", params)
    turn = asyncio.run(jobs.wait_turn(job_id, "local"))
    held: list[bool] = []
    join = edits.Extend.finish

    def finish(self, spec, source, made):
        held.append(jobs.TURNS.holds(job_id))
        return join(self, spec, source, made)

    monkeypatch.setattr(edits.Extend, "finish", finish)
    result = jobs.run("extend", params, job_id=job_id, turn=turn)
    assert held == [False] and jobs.TURNS.running() == 0
    assert jobs.open_history().get(result.job_id).status == "done"
