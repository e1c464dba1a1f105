"""L3 in a real headless Chromium: the page, the drawer, every panel, a generation per mode.

The GPU task is the test double from app_helpers; the rest is the real app (browser_helpers.py).
A screenshot per mode lands in test-artifacts/browser/ (git-ignored). What a person sees at a
desktop's and a phone's size, measured by geometry, is in test_browser_layout.py.
"""

from __future__ import annotations

import contextlib
import re
import time

import pytest

import app
import batch_ui
import history_listing
import jobs
import loras
import models
import modes
import prepare
import quick_start
from errors import AppError
from testkit.app_helpers import media_inputs, running_app
from testkit.browser_helpers import (
    PHONE,
    PROMPT,
    TIMEOUT_MS,
    app_page,
    choose,
    fill_mode,
    open_history,
    open_mode,
    outcome,
    shoot,
    thumbnails,
)

pytestmark = pytest.mark.browser

WIDE = {"width": 1280, "height": 900}
WIDE_DESKTOP = {"width": 1440, "height": 900}
NARROW = {"width": 800, "height": 900}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("browser-app")) as running:
        yield running


@pytest.fixture
def page(browser, served):
    served.engine.reset()
    with app_page(browser, served.url, WIDE) as opened:
        yield opened


def test_page_shows_header_drawer_and_default_mode(page):
    assert page.locator("#aio-mode-tag").inner_text() == app.TAGS[app.DEFAULT_MODE]
    assert page.locator(".aio-drawer").is_visible()
    assert not page.locator(".aio-hamburger").is_visible()  # pinned sidebar at >= 1024 px
    for mode in modes.MODES:
        assert page.locator(f"#aio-mode-{mode}").is_visible()
    assert page.locator(f"#aio-panel-{app.DEFAULT_MODE}").is_visible()
    assert page.title() == app.TITLE


def test_each_mode_panel_generates_and_shows_used_parameters(page, served, tmp_path):
    for mode in modes.MODES:
        open_mode(page, mode)
        assert page.locator("#aio-mode-tag").inner_text() == app.TAGS[mode]
        for other in modes.MODES:
            if other != mode:
                assert not page.locator(f"#aio-panel-{other}").is_visible(), other
        fill_mode(page, mode, media_inputs(mode, tmp_path / mode))  # a retake's range too
        before = len(served.engine.calls)

        page.locator(f"#aio-generate-{mode}").click()

        page.locator(f"#aio-video-{mode} video").wait_for(state="attached")
        outcome(page, mode).filter(has_text="Done").wait_for(state="visible")
        used = page.locator(f"#aio-used-{mode}")
        used.filter(has_text="job_id").wait_for(state="visible")
        assert len(served.engine.calls) == before + 1
        sent = served.engine.calls[-1]
        assert sent["mode"] == mode and sent["preset"] == "fast"
        assert str(sent["frames"]) in used.inner_text()
        src = page.locator(f"#aio-video-{mode} video").get_attribute("src") or ""
        assert f"{mode}_{sent['job_id']}.mp4" in src  # History's copy of this job's output
        # The browser really loads it (and the screenshot shows a frame, not an empty player).
        page.locator(f"#aio-video-{mode} video").evaluate(
            "v => v.readyState >= 2 || new Promise(ok => v.addEventListener('loadeddata', ok))"
        )
        shoot(page, mode, full_page=True)


def test_bad_input_shows_classified_banner_and_page_keeps_working(page, served):
    before = len(served.engine.calls)
    page.locator("#aio-generate-t2v").click()  # the prompt is empty
    banner = outcome(page, "t2v")
    banner.filter(has_text="Check your input").wait_for(state="visible")
    assert "prompt" in banner.inner_text()
    page.locator("#aio-t2v-prompt.aio-invalid").wait_for()  # the field it names is marked
    assert "Traceback" not in page.content()
    assert len(served.engine.calls) == before
    page.locator("#aio-t2v-prompt textarea").fill(PROMPT)
    page.locator("#aio-generate-t2v").click()
    banner.filter(has_text="Done").wait_for(state="visible")
    shoot(page, "after-error", full_page=True)


def test_out_of_memory_offers_the_fast_preset(page, served):
    served.engine.fail_with.append(AppError("oom", "CUDA out of memory while sampling"))
    page.locator("#aio-t2v-prompt textarea").fill(PROMPT)
    page.locator("#aio-t2v-preset label").filter(has_text="quality").click()
    page.locator("#aio-generate-t2v").click()
    outcome(page, "t2v").filter(has_text="Out of memory").wait_for(state="visible")
    fix = page.locator("#aio-use-fast-t2v")
    fix.wait_for(state="visible")
    shoot(page, "error-oom", full_page=True)
    fix.click()
    fast = page.locator("#aio-t2v-preset input[value=fast]")
    page.wait_for_function("el => el.checked", arg=fast.element_handle())
    outcome(page, "t2v").filter(has_text="Preset set").wait_for()


def test_a_failed_jobs_fixes_stay_in_its_panel_and_act_on_it(page, served, monkeypatch):
    """The user moved to another mode after a failure: the fixes wait in the failed job's panel
    and act on that mode only."""
    fetched: list[tuple] = []
    monkeypatch.setattr(
        jobs,
        "download_models",
        lambda m, p, progress=None, model=None: fetched.append((m, p, model)),
    )
    served.engine.fail_with.append(AppError("oom", "CUDA out of memory while sampling"))
    page.locator("#aio-t2v-prompt textarea").fill(PROMPT)
    page.locator("#aio-t2v-preset label").filter(has_text="quality").click()
    page.locator("#aio-generate-t2v").click()
    outcome(page, "t2v").filter(has_text="Out of memory").wait_for(state="visible")
    open_mode(page, "i2v")
    assert not page.locator("#aio-use-fast-i2v").is_visible()
    open_mode(page, "t2v")
    page.locator("#aio-use-fast-t2v").click()
    fast = page.locator("#aio-t2v-preset input[value=fast]")
    page.wait_for_function("el => el.checked", arg=fast.element_handle())
    open_mode(page, "i2v")  # its preset is untouched
    default = modes.MODES["i2v"].field("preset").default
    assert default != "fast"
    kept = page.locator(f"#aio-i2v-preset input[value={default}]")
    page.wait_for_function("el => el.checked", arg=kept.element_handle())
    open_mode(page, "t2v")

    served.engine.ensure_error = AppError("missing_model", "2 model file(s) are not on disk")
    page.locator("#aio-generate-t2v").click()
    outcome(page, "t2v").filter(has_text="not on disk").wait_for(state="visible")
    page.locator("#aio-download-t2v").click()
    outcome(page, "t2v").filter(has_text="Models ready").wait_for(state="visible")
    assert fetched == [("t2v", "fast", modes.MODES["t2v"].field("model").default)]
    assert "Text to video" in outcome(page, "t2v").inner_text()


def test_progress_is_shown_and_cancel_stops_the_job(page, served):
    served.engine.step_delay = 1.0
    page.locator("#aio-t2v-prompt textarea").fill(PROMPT)
    page.locator("#aio-generate-t2v").click()
    page.locator("#aio-video-t2v").filter(has_text="Sampling stage 1").wait_for(state="visible")
    page.locator("#aio-cancel-t2v").click()
    outcome(page, "t2v").filter(has_text=re.compile("Cancell(ing|ed)")).wait_for()
    assert served.engine.cancels >= 1
    assert page.locator("#aio-video-t2v video").count() == 0


def test_a_job_waiting_for_the_gpu_shows_its_place_in_line(page, served, monkeypatch):
    import threading

    from gradio_client import Client

    import backend

    release = threading.Event()
    fake = backend.generate
    monkeypatch.setattr(backend, "generate", lambda *a, **k: (release.wait(120), fake(*a, **k))[1])
    ahead = Client(served.url, verbose=False).submit(prompt="ahead", preset="fast", api_name="/t2v")
    try:
        deadline = time.monotonic() + 60
        while jobs.TURNS.running() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert jobs.TURNS.running() == 1  # the GPU is busy with someone's job
        page.locator("#aio-t2v-prompt textarea").fill(PROMPT)
        page.locator("#aio-generate-t2v").click()
        waiting = page.locator("#aio-video-t2v").filter(has_text="Waiting for the GPU")
        waiting.wait_for(state="visible", timeout=120_000)  # a page under load starts slowly
        assert "yours is next" in waiting.inner_text()
        waiting.scroll_into_view_if_needed()
        shoot(page, "waiting-for-the-gpu")
    finally:
        release.set()
    outcome(page, "t2v").filter(has_text="Done").wait_for(state="visible")
    assert ahead.result(timeout=60)[1]["job_id"]


def test_cancel_with_nothing_running_says_so(page, served):
    page.locator("#aio-cancel-t2v").click()
    outcome(page, "t2v").filter(has_text="Nothing to cancel").wait_for()
    assert "being stopped" not in outcome(page, "t2v").inner_text()


def test_gpu_abort_retry_is_shown_to_the_user(page, served):
    import gradio as gr

    served.engine.fail_with.append(gr.Error("GPU task aborted"))
    page.locator("#aio-t2v-prompt textarea").fill(PROMPT)
    page.locator("#aio-generate-t2v").click()
    banner = outcome(page, "t2v").filter(has_text="Done")
    banner.wait_for(state="visible")
    assert "retried once automatically" in banner.inner_text()
    multipliers = [c["duration_multiplier"] for c in served.engine.calls[-2:]]
    assert multipliers == [1.0, 2.0]


def test_unavailable_engine_is_explained_on_the_page(page, served):
    served.engine.ready = False
    served.engine.problems = ["ComfyUI is not installed at comfyui/. Run `python bootstrap.py`."]
    page.reload(wait_until="domcontentloaded")
    status = page.locator("#aio-status")
    status.filter(has_text="ComfyUI is not installed").wait_for(state="visible")
    assert "Generation is unavailable" in status.inner_text()
    # The fix is behind the disclosure, a command shown as code.
    assert not status.locator("code").filter(has_text="python bootstrap.py").is_visible()
    status.locator("summary").click()
    status.locator("code").filter(has_text="python bootstrap.py").wait_for(state="visible")
    shoot(page, "unavailable", full_page=True)
    page.locator("#aio-t2v-prompt textarea").fill(PROMPT)
    page.locator("#aio-generate-t2v").click()
    outcome(page, "t2v").filter(has_text="Generation is unavailable").wait_for()


def test_a_bad_field_is_named_even_when_generation_is_unavailable(page, served):
    served.engine.ready = False
    page.locator("#aio-generate-t2v").click()  # the prompt is empty
    outcome(page, "t2v").filter(has_text="Check your input").wait_for()
    assert "unavailable" not in outcome(page, "t2v").inner_text()


def test_empty_optional_numbers_stay_empty_and_mean_derived(page, served):
    """Opening Advanced settings and pressing Generate used to send Duration 0 (refused)."""
    page.locator("#aio-t2v-prompt textarea").fill(PROMPT)
    page.locator("#aio-t2v-preset label").filter(has_text="fast").click()
    page.locator("#aio-t2v-adv button.label-wrap").click()
    for name in ("width", "height", "duration"):
        box = page.locator(f"#aio-t2v-{name} input")
        box.wait_for(state="visible")
        assert box.input_value() == "" and box.get_attribute("placeholder") == "auto", name
    page.locator("#aio-generate-t2v").click()
    outcome(page, "t2v").filter(has_text="Done").wait_for()
    preset = modes.MODES["t2v"].presets["fast"]
    assert served.engine.calls[-1]["frames"] == modes.MODES["t2v"].field("frames").default
    assert f"{preset.width}x{preset.height}" in outcome(page, "t2v").inner_text()


def test_an_advanced_field_refused_is_unfolded_and_marked(page, served):
    page.locator("#aio-t2v-prompt textarea").fill(PROMPT)
    page.locator("#aio-t2v-adv button.label-wrap").click()
    page.locator("#aio-t2v-width input").fill("wide")
    page.locator("#aio-t2v-adv button.label-wrap").click()  # folded away again
    page.locator("#aio-t2v-width").wait_for(state="hidden")
    page.locator("#aio-generate-t2v").click()
    outcome(page, "t2v").filter(has_text="Width must be a number").wait_for()
    page.locator("#aio-t2v-width.aio-invalid").wait_for(state="visible")


def test_a_number_typed_beyond_a_sliders_range_is_said_not_silently_clamped(page):
    frames = modes.MODES["t2v"].field("frames")
    box = page.locator("#aio-t2v-frames input[type=number]")
    box.fill("100000")
    assert box.evaluate("e => e.scrollWidth <= e.clientWidth")  # all six digits show
    box.press("Tab")
    said = page.locator("#aio-t2v-frames[data-clamped]")
    said.wait_for()
    assert said.get_attribute("data-clamped") == (
        f"100000 is outside 9..{frames.max}; {frames.max} is used."
    )


def test_an_example_fills_the_prompt(page):
    first = modes.MODES["t2v"].examples[1]
    prompt = page.locator("#aio-t2v-prompt textarea")
    assert prompt.get_attribute("placeholder") == modes.MODES["t2v"].examples[0]
    page.locator("#aio-t2v-examples").get_by_text(first[:30]).click()
    page.wait_for_function(
        "want => document.querySelector('#aio-t2v-prompt textarea').value == want", arg=first
    )


def test_the_aspect_choice_shapes_the_video(page, served):
    page.locator("#aio-t2v-prompt textarea").fill(PROMPT)
    page.locator("#aio-t2v-preset label").filter(has_text="fast").click()
    page.locator("#aio-t2v-aspect label").filter(has_text="9:16").click()
    page.locator("#aio-generate-t2v").click()
    outcome(page, "t2v").filter(has_text="Done").wait_for()
    used = served.store().jobs(limit=1)[0].used
    assert used["height"] > used["width"] and used["aspect"] == "9:16"


def test_drawer_is_an_overlay_below_1024px(page):
    page.set_viewport_size(NARROW)
    drawer = page.locator(".aio-drawer")
    hamburger = page.locator(".aio-hamburger")
    hamburger.wait_for(state="visible")
    page.wait_for_function(
        "() => document.querySelector('.aio-drawer').getBoundingClientRect().right <= 0"
    )

    hamburger.click()
    page.wait_for_function(
        "() => document.querySelector('.aio-drawer').getBoundingClientRect().left >= 0"
    )
    assert "drawer-elevated" in (page.locator(".block.aio-header").get_attribute("class") or "")

    page.mouse.click(NARROW["width"] - 20, NARROW["height"] - 20)  # the scrim, outside the drawer
    page.wait_for_function(
        "() => document.querySelector('.aio-drawer').getBoundingClientRect().right <= 0"
    )

    hamburger.click()
    page.locator("#aio-mode-style").click()  # choosing a mode closes the overlay
    page.locator("#aio-panel-style").wait_for(state="visible")
    page.wait_for_function(
        "() => document.querySelector('.aio-drawer').getBoundingClientRect().right <= 0"
    )
    assert page.locator("#aio-mode-tag").inner_text() == app.TAGS["style"]
    assert drawer.count() == 1


def test_models_view_lists_each_modes_files_and_fetches_them(page, served, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.delenv("LTX_AIO_MODEL_VARIANT", raising=False)
    fetched: list[tuple[str, object]] = []
    monkeypatch.setattr(
        jobs,
        "download_models",
        lambda m, p, progress=None, model=None: fetched.append((m, p, model)),
    )
    page.locator(f"#aio-mode-{app.MODELS}").click()
    page.locator("#aio-panel-models").wait_for(state="visible")
    assert page.locator("#aio-mode-tag").inner_text() == app.VIEW_TAGS[app.MODELS]
    overview = page.locator("#aio-models-overview tr[data-mode]")
    overview.first.wait_for()
    assert overview.count() == len(modes.MODES)
    choose(page, "aio-models-mode", modes.MODES["style"].title)
    files = page.locator("#aio-models-files tr[data-state]")
    expected = models.needs_for_mode("style", None, models.default_variant())
    page.wait_for_function(
        "n => document.querySelectorAll('#aio-models-files tr[data-state]').length == n",
        arg=len(expected),
    )
    assert {n.filename for n in expected} == {
        c.strip() for c in files.locator("code").all_inner_texts()
    }
    page.locator("#aio-models-mode li[role=option]").first.wait_for(state="detached")
    shoot(page, "models", full_page=True)
    button = page.locator("#aio-models-download")
    assert "for Restyle video" in button.inner_text()
    button.click()
    page.locator("#aio-models-message").filter(has_text="Models ready").wait_for(state="visible")
    assert fetched == [("style", None, None)]  # every model family of the mode


# -- History and batches ---------------------------------------------------------------------------


def test_history_plays_filters_reuses_and_deletes_jobs(page, served):
    store = served.store()
    page.locator("#aio-t2v-prompt textarea").fill(PROMPT)
    page.locator("#aio-t2v-preset label").filter(has_text="fast").click()
    page.locator("#aio-t2v-seed input").fill("4242")
    page.locator("#aio-generate-t2v").click()
    outcome(page, "t2v").filter(has_text="Done").wait_for(state="visible")
    done = store.jobs(limit=1)[0]
    served.engine.fail_with.append(AppError("oom", "CUDA out of memory while sampling"))
    page.locator("#aio-generate-t2v").click()
    outcome(page, "t2v").filter(has_text="Out of memory").wait_for(state="visible")
    failed = store.jobs(limit=1)[0]
    assert (done.status, done.seed, failed.status) == ("done", 4242, "failed")

    open_history(page)
    page.wait_for_function(
        "tag => document.getElementById('aio-mode-tag').textContent == tag",
        arg=app.VIEW_TAGS[app.HISTORY],
    )
    page.locator("#aio-panel-t2v").wait_for(state="hidden")
    thumbnails(page).nth(0).filter(has_text="failed").wait_for()
    thumbnails(page).nth(1).click()
    page.locator("#aio-history-video video").wait_for(state="attached")
    info = page.locator("#aio-history-info")
    info.filter(has_text=done.id).wait_for()
    assert "4242" in info.inner_text() and "done" in info.inner_text()
    # Parts of one update may render in later frames: wait, as a person would look again.
    page.locator("#aio-history-download").wait_for(state="visible")
    shoot(page, "history", full_page=True)

    choose(page, "aio-history-status", "failed")
    page.wait_for_function(
        "n => document.querySelectorAll('#aio-history-gallery button.thumbnail-item').length == n",
        arg=store.count(status="failed", refusals=False),  # refusals are hidden by default
    )
    assert all("failed" in text for text in thumbnails(page).all_inner_texts())
    choose(page, "aio-history-status", "Any status")
    page.wait_for_function(
        "n => document.querySelectorAll('#aio-history-gallery button.thumbnail-item').length == n",
        arg=min(store.count(refusals=False), history_listing.PAGE),
    )

    thumbnails(page).nth(1).click()
    info.filter(has_text=done.id).wait_for()
    page.locator("#aio-history-use").click()
    page.locator("#aio-panel-t2v").wait_for(state="visible")
    outcome(page, "t2v").filter(has_text="Settings loaded").wait_for()
    assert "seed 4242" in outcome(page, "t2v").inner_text()
    assert page.locator("#aio-t2v-seed input").input_value() == "4242"
    assert page.locator("#aio-t2v-prompt textarea").input_value() == PROMPT
    page.wait_for_function("() => document.getElementById('aio-mode-tag').textContent == 'T2V'")

    open_history(page)
    before = store.count()
    thumbnails(page).nth(0).click()
    info.filter(has_text=failed.id).wait_for()
    page.locator("#aio-history-delete").click()
    page.locator("#aio-history-confirm").click()
    page.locator("#aio-history-message").filter(has_text="Deleted").wait_for()
    assert store.count() == before - 1 and store.get(failed.id) is None
    assert not (store.jobs_dir / failed.id).exists()
    assert failed.id not in page.locator("#aio-history-summary").inner_text()


def test_settings_reused_from_history_run_again_with_their_kept_image(page, served, tmp_path):
    store = served.store()
    open_mode(page, "i2v")
    fill_mode(page, "i2v", media_inputs("i2v", tmp_path))
    page.locator("#aio-generate-i2v").click()
    outcome(page, "i2v").filter(has_text="Done").wait_for(state="visible")
    first = store.jobs(limit=1)[0]

    open_history(page)
    thumbnails(page).nth(0).click()
    page.locator("#aio-history-info").filter(has_text=first.id).wait_for()
    page.locator("#aio-history-use").click()
    page.locator("#aio-panel-i2v").wait_for(state="visible")
    outcome(page, "i2v").filter(has_text="Settings loaded").wait_for()
    page.locator("#aio-i2v-image img").first.wait_for(state="attached")
    page.locator("#aio-generate-i2v").click()  # the image comes back from History's copy
    outcome(page, "i2v").filter(has_text="Done").wait_for(state="visible")

    again = store.jobs(limit=1)[0]
    assert again.id != first.id and again.status == "done"
    assert again.inputs["image"].read_bytes() == first.inputs["image"].read_bytes()


def test_a_job_a_restart_interrupted_runs_again_with_one_click(page, served):
    store = served.store()
    job_id = store.create_job("t2v", {"prompt": "cut short", "preset": "fast", "seed": 77})
    store.mark_running(job_id)
    store._fail_interrupted()  # what the next start of the app does with it
    assert "Run again" in store.get(job_id).error_message
    open_history(page)
    page.locator("#aio-history-refresh").click()
    thumbnails(page).nth(0).click()
    page.locator("#aio-history-info").filter(has_text=job_id).wait_for()
    before = store.count(status="done")
    page.locator("#aio-history-run-again").click()
    page.locator("#aio-panel-t2v").wait_for(state="visible")
    outcome(page, "t2v").filter(has_text="Done").wait_for(state="visible")
    again = store.jobs(limit=1)[0]
    assert store.count(status="done") == before + 1 and again.id != job_id
    assert again.params["prompt"] == "cut short" and again.seed == 77
    shoot(page, "history-run-again")


def test_batch_shows_each_job_and_cancelling_one_leaves_the_others(page, served):
    store = served.store()
    # About 1.5 s a job: off the view's 2 s refresh beat, and #4 still queued when it is cancelled.
    served.engine.step_delay = 0.3
    page.locator("#aio-t2v-prompt textarea").fill("a paper boat drifting\na red fox in snow")
    page.locator("#aio-t2v-preset label").filter(has_text="fast").click()
    page.locator("#aio-t2v-batch").click()
    page.locator(f"#aio-t2v-{batch_ui.PER_LINE} input[type=checkbox]").check()
    seeds = page.locator(f"#aio-t2v-{batch_ui.SEEDS} input[type=number]")
    seeds.fill("2")
    seeds.press("Enter")
    page.locator("#aio-generate-t2v").click()

    page.locator("#aio-queue-table-t2v tbody tr").nth(3).wait_for()
    assert page.locator("#aio-queue-table-t2v tbody tr").count() == 4
    # Only the view's refresh timer shows a job while it runs (the handler yields between jobs).
    page.locator("#aio-queue-table-t2v").filter(has_text="running now").wait_for()
    choose(page, "aio-queue-pick-t2v", "#4 · queued")
    page.locator("#aio-queue-cancel-t2v").click()
    rows = page.locator("#aio-queue-table-t2v tbody tr")
    rows.nth(3).filter(has_text="cancelled").wait_for()
    page.locator("#aio-queue-pick-t2v ul[role=listbox]").wait_for(state="detached")
    shoot(page, "batch", full_page=True)

    banner = outcome(page, "t2v").filter(has_text="Batch finished")
    banner.wait_for()
    assert "3 done" in banner.inner_text() and "1 cancelled" in banner.inner_text()
    batch = store.jobs(limit=4)[::-1]
    assert [(j.params["prompt"], j.status) for j in batch] == [
        ("a paper boat drifting", "done"),
        ("a paper boat drifting", "done"),
        ("a red fox in snow", "done"),
        ("a red fox in snow", "cancelled"),
    ]
    assert len({j.batch for j in batch}) == 1 and batch[0].batch
    assert "cancelled" in rows.nth(3).inner_text() and "done" in rows.nth(0).inner_text()


# Each stage's progress line as the engine says it: the stage, its steps where it counts them,
# the whole job's percentage and its time left (stages.py).
STAGE = r"[A-Z][A-Za-z0-9 ]+ · (step \d+/\d+ · )?\d+% · (about \d+ (s|min)[^·]*? left|almost done)"
WATCH_STAGES = """([sel, pattern]) => {
  window.aioStages = [];
  const seen = () => {
    const text = document.querySelector(sel)?.innerText || "";
    const found = text.match(new RegExp(pattern));
    if (found && !window.aioStages.includes(found[0])) window.aioStages.push(found[0]);
  };
  new MutationObserver(seen).observe(document.querySelector(sel),
                                     {subtree: true, childList: true, characterData: true});
}"""


@pytest.mark.parametrize("viewport", [WIDE_DESKTOP, PHONE], ids=["1440x900", "390x844"])
def test_a_real_generation_starts_quick_shows_its_stages_and_plays(browser, real_app, viewport):
    """No double: `python app.py` on the tiny weights (no GPU here) starts its panels on quick
    settings and says why, shows each stage's progress, and the page plays the result. (On the
    CPU the tiny graph's text encoder and sampling take seconds: stages are there to be seen.)"""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    size = f"{viewport['width']}x{viewport['height']}"
    with app_page(browser, real_app.url, viewport) as page:
        quick = page.locator("#aio-quick-t2v")
        quick.wait_for(state="visible")
        assert "tiny test weights" in quick.inner_text()
        # Set as the page loads (the API's defaults stay the declared ones).
        page.locator("#aio-t2v-preset input[value=fast]:checked").wait_for(state="attached")
        page.wait_for_function(
            "document.querySelector('#aio-t2v-frames input[type=number]').value === '9'"
        )
        shoot(page, f"real-quick-start-{size}", full_page=True)
        page.locator("#aio-t2v-prompt textarea").fill(PROMPT)
        page.evaluate(WATCH_STAGES, ["body", STAGE])  # the live box comes and goes

        page.locator("#aio-generate-t2v").click()
        # A stage seen, or the job already over (the assertion below then says what was seen).
        page.wait_for_function(
            "window.aioStages.length > 0 || !!document.querySelector("
            "'#aio-outcome-t2v .aio-banner:not(.aio-banner--info)')",
            timeout=300_000,
        )
        live = page.locator("#aio-live-t2v")
        with contextlib.suppress(PlaywrightTimeout):  # the picture only: the job may be done
            live.filter(has_text=re.compile(STAGE)).wait_for(timeout=10_000)
        shoot(page, f"real-stage-progress-{size}")

        # The first banner says the job runs; the one after it is the outcome.
        banner = outcome(page, "t2v").locator(".aio-banner:not(.aio-banner--info)")
        banner.first.wait_for(state="visible", timeout=300_000)
        assert "Done" in banner.first.inner_text(), banner.first.inner_text()
        stages = page.evaluate("window.aioStages")
        assert any(re.fullmatch(STAGE, said) for said in stages), stages
        player = page.locator("#aio-video-t2v video")
        shape = player.evaluate(
            """v => new Promise((ok, fail) => {
                 const started = v.currentTime;
                 v.muted = true;
                 v.addEventListener('timeupdate', function seen() {
                   if (v.currentTime > started) {
                     v.removeEventListener('timeupdate', seen);
                     ok({width: v.videoWidth, height: v.videoHeight, duration: v.duration});
                   }
                 });
                 v.addEventListener('error', () => fail(String(v.error && v.error.message)));
                 v.play().catch(e => fail(String(e)));
               })"""
        )
        start = {"prompt": PROMPT, **quick_start.values(modes.MODES["t2v"])}
        used = prepare.check("t2v", start, job_id="expected").spec.record()
        assert (shape["width"], shape["height"]) == (used["width"], used["height"])
        assert shape["width"] == 384
        assert shape["duration"] == pytest.approx(9 / 24, abs=0.1)
        shoot(page, f"real-engine-t2v-{size}", full_page=True)


def test_the_model_choice_reaches_the_graph_and_history(page, served):
    page.locator("#aio-t2v-prompt textarea").fill(PROMPT)
    page.locator("#aio-t2v-preset label").filter(has_text="fast").click()
    for choice, loader in (("ltx-2.3", "CheckpointLoaderSimple"), ("ltx-2.5", "UNETLoader")):
        before = len(served.engine.calls)
        page.locator("#aio-t2v-model label").filter(has_text=choice).click()
        page.locator("#aio-generate-t2v").click()
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while len(served.engine.calls) == before and time.monotonic() < deadline:
            page.wait_for_timeout(50)  # the engine double is in this process: poll it
        assert len(served.engine.calls) == before + 1
        sent = served.engine.calls[-1]
        page.locator("#aio-used-t2v").filter(has_text=sent["job_id"]).wait_for()
        # A click while this job's event runs would be dropped (Generate triggers once).
        outcome(page, "t2v").filter(has_text="Done").wait_for()
        assert loader in {n["class_type"] for n in sent["prompt"].values()}
        assert served.store().get(sent["job_id"]).used["model"] == choice


def test_history_shows_my_running_job_live_and_cancels_it(page, served):
    served.engine.step_delay = 2.0  # slow enough to look at, cut short by the cancel
    page.locator("#aio-t2v-prompt textarea").fill("a job to watch")
    page.locator("#aio-generate-t2v").click()
    outcome(page, "t2v").filter(has_text="Submitted").wait_for()  # recorded
    page.locator(f"#aio-mode-{app.HISTORY}").click()
    live = page.locator("#aio-live-table")
    live.filter(has_text="a job to watch").wait_for()
    live.filter(has_text="running now").wait_for()
    shoot(page, "history-live")
    page.locator("#aio-live-cancel").click()
    page.locator("#aio-live").wait_for(state="hidden")
    job = served.store().jobs(limit=1)[0]
    assert (job.params["prompt"], job.status) == ("a job to watch", "cancelled")


def test_history_hides_refusals_and_clears_failed_jobs(page, served):
    page.locator("#aio-t2v-prompt textarea").fill("")
    page.locator("#aio-generate-t2v").click()  # refused: no prompt
    outcome(page, "t2v").filter(has_text="Check your input").wait_for()
    page.locator(f"#aio-mode-{app.HISTORY}").click()  # its tiles may all be hidden refusals
    summary = page.locator("#aio-history-summary")
    summary.filter(has_text="hidden: tick Show refused jobs").wait_for()
    page.locator("#aio-history-refused input").check()
    summary.filter(has_text="hidden: tick Show refused jobs").wait_for(state="detached")
    page.locator("#aio-history-clear").click()
    page.locator("#aio-history-clear-confirm").click()
    page.locator("#aio-history-message").filter(has_text="Cleared").wait_for()
    store = served.store()
    assert store.count(status="failed") == 0 and store.count(status="cancelled") == 0


def test_the_lora_fields_offer_the_chosen_models_known_loras_and_reach_the_graph(page, served):
    def offered() -> list[str]:
        page.locator("#aio-t2v-lora_1 input").click()
        options = page.locator("#aio-t2v-lora_1 li[role=option]")
        options.first.wait_for()
        names = [o.strip() for o in options.all_inner_texts()]
        page.keyboard.press("Escape")
        return names

    page.locator("#aio-t2v-prompt textarea").fill(PROMPT)
    page.locator("#aio-t2v-preset label").filter(has_text="fast").click()
    page.locator("#aio-t2v-group-0").get_by_text(modes.LORAS).first.click()
    assert offered() == ["cinemagraph", "slow-motion"]  # LTX-2.5's, the panel's default
    page.locator("#aio-t2v-model label").filter(has_text="ltx-2.3").click()
    page.locator("#aio-t2v-lora_1 input").click()
    slow = page.locator("#aio-t2v-lora_1 li[role=option]").filter(has_text="slow-motion")
    slow.wait_for(state="detached")  # LTX-2.3 has no such LoRA
    page.keyboard.press("Escape")
    assert offered() == ["cinemagraph"]
    for name, value in (("lora_1", "cinemagraph"),
                        ("lora_2", "hf:Someone/ltx23-styles/ink.safetensors")):  # fmt: skip
        page.locator(f"#aio-t2v-{name} input").fill(value)
        page.locator(f"#aio-t2v-{name} input").press("Enter")
    before = len(served.engine.calls)
    page.locator("#aio-generate-t2v").click()
    outcome(page, "t2v").filter(has_text="Done").wait_for()
    assert len(served.engine.calls) == before + 1
    sent = served.engine.calls[-1]["prompt"]
    names = [n["inputs"]["lora_name"] for n in sent.values() if n["class_type"] ==
             "LoraLoaderModelOnly" and n["_meta"]["title"].startswith("LoRA ")]  # fmt: skip
    assert names == [loras.parse("l", "cinemagraph", modes.LTX23).filename,
                     "hf/Someone/ltx23-styles/ink.safetensors"]  # fmt: skip
    shoot(page, "t2v-loras")


def test_a_jobs_loras_come_back_with_use_these_settings_and_run_again(page, served):
    store = served.store()
    page.locator("#aio-t2v-prompt textarea").fill(PROMPT)
    page.locator("#aio-t2v-preset label").filter(has_text="fast").click()
    page.locator("#aio-t2v-group-0").get_by_text(modes.LORAS).first.click()
    page.locator("#aio-t2v-lora_1 input").fill("slow-motion")
    page.locator("#aio-t2v-lora_1 input").press("Enter")
    page.locator("#aio-t2v-lora_1_strength input[type=number]").fill("0.6")
    page.locator("#aio-t2v-lora_1_strength input[type=number]").press("Enter")
    page.locator("#aio-generate-t2v").click()
    outcome(page, "t2v").filter(has_text="Done").wait_for(state="visible")
    first = store.jobs(limit=1)[0]
    assert (first.used["lora_1"], first.used["lora_1_strength"]) == ("slow-motion", 0.6)

    page.reload()  # a fresh page: what comes back is History's, not what the form kept
    open_history(page)
    thumbnails(page).nth(0).click()
    page.locator("#aio-history-info").filter(has_text=first.id).wait_for()
    page.locator("#aio-history-use").click()
    outcome(page, "t2v").filter(has_text="Settings loaded").wait_for()
    page.locator("#aio-t2v-group-0").get_by_text(modes.LORAS).first.click()
    assert page.locator("#aio-t2v-lora_1 input").input_value() == "slow-motion"
    page.locator("#aio-generate-t2v").click()
    outcome(page, "t2v").filter(has_text="Done").wait_for(state="visible")
    again = store.jobs(limit=1)[0]
    assert again.id != first.id
    assert (again.used["lora_1"], again.used["lora_1_strength"]) == ("slow-motion", 0.6)
