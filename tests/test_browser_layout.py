"""L3 by geometry, at a desktop's (1440x900) and a phone's (390x844) size: what a person sees
after Generate, after scrolling, in the status banner and in the tables.

Every check measures bounding boxes in the real page (the GPU task is the test double); each
test leaves a screenshot per size in test-artifacts/browser/.
"""

from __future__ import annotations

import re

import pytest

import batch_ui
from errors import AppError
from testkit import mediagen
from testkit.app_helpers import SHORT_OF_DISK, running_app
from testkit.browser_helpers import (
    PROMPT,
    SIZES,
    app_page,
    box,
    in_viewport,
    open_mode,
    outcome,
    overflowing_tables,
    page_scrolls_sideways,
    shoot,
    thumbnails,
    wait_in_viewport,
)
from testkit.history_helpers import finished_job

pytestmark = pytest.mark.browser

LONG_PROBLEM = (
    "ComfyUI-LTXVideo @ aceeae9635 could not be installed. Installing it into "
    "/home/someone/ltx-aio/comfyui/custom_nodes/ComfyUI-LTXVideo failed: fatal: unable to access "
    "'https://github.com/Lightricks/ComfyUI-LTXVideo.git/': Could not resolve host: github.com. "
    "Check the network (or git access to https://github.com/Lightricks/ComfyUI-LTXVideo.git) "
    "and restart the app, or run `python bootstrap.py`."
)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("layout-app")) as running:
        yield running


@pytest.fixture
def page(browser, served, size):
    served.engine.reset()
    with app_page(browser, served.url, SIZES[size]) as opened:
        yield opened


def start_at_the_top(page) -> None:
    page.evaluate("() => scrollTo(0, 0)")
    page.wait_for_function("() => scrollY === 0")


def test_the_outcome_of_generate_comes_into_view_next_to_the_button(page, size):
    page.locator("#aio-t2v-prompt textarea").fill(PROMPT)
    page.locator("#aio-t2v-preset label").filter(has_text="fast").click()
    start_at_the_top(page)

    page.locator("#aio-generate-t2v").click()

    outcome(page, "t2v").filter(has_text="Done").wait_for()
    wait_in_viewport(page, "#aio-outcome-t2v")
    button, said = box(page, "#aio-generate-t2v"), box(page, "#aio-outcome-t2v")
    assert 0 <= said["top"] - button["bottom"] <= 60  # right under the button
    shoot(page, f"outcome-{size}")


def test_a_refusal_comes_into_view_and_marks_its_field(page, size):
    start_at_the_top(page)
    page.locator("#aio-generate-t2v").click()  # the prompt is empty
    outcome(page, "t2v").filter(has_text="Check your input").wait_for()
    wait_in_viewport(page, "#aio-outcome-t2v")
    page.locator("#aio-t2v-prompt.aio-invalid").wait_for()
    shoot(page, f"refusal-{size}")


def test_a_failure_and_the_fix_it_offers_come_into_view(page, served, size):
    served.engine.fail_with.append(AppError("oom", "CUDA out of memory while sampling"))
    page.locator("#aio-t2v-prompt textarea").fill(PROMPT)
    page.locator("#aio-t2v-preset label").filter(has_text="quality").click()
    start_at_the_top(page)
    page.locator("#aio-generate-t2v").click()
    page.locator("#aio-use-fast-t2v").wait_for()
    wait_in_viewport(page, "#aio-use-fast-t2v")
    assert in_viewport(page, "#aio-outcome-t2v")
    shoot(page, f"failure-{size}")


def test_the_header_stays_on_screen_after_scrolling(page, size):
    # Scrolled to the end, again until the page is long enough to have scrolled a screen's worth.
    page.wait_for_function(
        "() => { scrollTo(0, document.documentElement.scrollHeight); return scrollY > 200; }"
    )
    header = box(page, "#aio-header")
    assert abs(header["top"]) <= 1 and header["height"] > 0
    tag = box(page, "#aio-mode-tag")
    assert tag["top"] >= 0 and tag["bottom"] <= header["bottom"]
    if size == "desktop":  # the pinned drawer stays too: switching needs no scrolling back
        assert in_viewport(page, "#aio-mode-style")
        page.locator("#aio-mode-style").click()
        page.locator("#aio-panel-style").wait_for(state="visible")
    else:
        hamburger = box(page, ".aio-hamburger")
        assert hamburger["top"] >= 0 and hamburger["bottom"] <= header["bottom"]
        open_mode(page, "style")
    shoot(page, f"scrolled-{size}")


def test_the_header_is_one_line(page, size):
    title = box(page, "#aio-header .aio-title")
    line = page.locator("#aio-header .aio-title").evaluate(
        "e => parseFloat(getComputedStyle(e).lineHeight)"
    )
    assert title["height"] <= line * 1.5
    assert box(page, "#aio-header")["height"] <= 0.1 * SIZES[size]["height"]


def test_the_status_banner_is_brief_and_fits(page, served, size):
    served.engine.ready = False
    served.engine.problems = [LONG_PROBLEM]
    served.engine.device = {"type": "cpu", "source": "test"}
    served.engine.weights = {**SHORT_OF_DISK, "where": "/home/someone/.cache/huggingface/hub"}
    page.reload(wait_until="domcontentloaded")
    status = page.locator("#aio-status")
    status.filter(has_text="No GPU").wait_for(state="visible")
    said = status.inner_text()
    assert "Not enough disk for the full weights" in said and "could not be installed" in said
    assert not status.locator("details").evaluate("d => d.open")  # the details wait folded
    shown = box(page, "#aio-status")
    assert shown["height"] <= 0.45 * SIZES[size]["height"]
    assert status.evaluate("e => e.scrollWidth <= e.clientWidth + 1")  # long URLs wrap
    assert not page_scrolls_sideways(page)
    shoot(page, f"status-{size}")
    status.locator("summary").click()
    status.locator("code").filter(has_text="LTX_AIO_MODEL_VARIANT=fp8").wait_for(state="visible")
    assert status.evaluate("e => e.scrollWidth <= e.clientWidth + 1")
    shoot(page, f"status-details-{size}", full_page=True)


def test_the_batch_table_fits_its_box(page, served, size):
    served.engine.step_delay = 0.05
    page.locator("#aio-t2v-prompt textarea").fill(
        "a paper boat drifting down a rainy street at night, neon reflections everywhere\n"
        "a red fox in fresh snow"
    )
    page.locator("#aio-t2v-preset label").filter(has_text="fast").click()
    page.locator("#aio-t2v-batch").click()
    page.locator(f"#aio-t2v-{batch_ui.PER_LINE} input[type=checkbox]").check()
    page.locator("#aio-generate-t2v").click()
    outcome(page, "t2v").filter(has_text="Batch finished").wait_for()
    rows = page.locator("#aio-queue-table-t2v tbody tr")
    rows.nth(1).wait_for()
    assert overflowing_tables(page) == []
    assert not page_scrolls_sideways(page)
    for cell in ("State", "Place or outcome"):  # the columns a narrow screen used to cut off
        shown = box(page, f'#aio-queue-table-t2v td[data-label="{cell}"]')
        assert shown["right"] <= box(page, "#aio-queue-table-t2v")["right"] + 1, cell
    page.locator("#aio-queue-table-t2v").scroll_into_view_if_needed()
    shoot(page, f"batch-{size}")


def test_the_models_tables_fit_and_file_names_stay_readable(page, served, size, tmp_path):
    open_mode(page, "models")
    page.locator("#aio-models-files tr[data-state]").first.wait_for()
    assert overflowing_tables(page) == []
    assert not page_scrolls_sideways(page)
    table = box(page, "#aio-models-files .aio-table-wrap")
    for name in page.locator("#aio-models-files code").all():
        # The bug: a squeezed File column broke names two characters per line.
        lines = name.evaluate("e => e.getClientRects().length")
        assert len(name.inner_text()) / lines >= 12, (name.inner_text(), lines)
    for state in page.locator('#aio-models-files td[data-label="State"]').all():
        assert state.bounding_box()["x"] + state.bounding_box()["width"] <= table["right"] + 1
    page.locator("#aio-models-files").scroll_into_view_if_needed()
    shoot(page, f"models-{size}")


def test_a_history_jobs_next_step_opens_its_panel_with_the_input_filled(
    page, served, size, tmp_path
):
    store = served.store()
    video = mediagen.make_mp4(tmp_path / "ComfyUI_00001_.mp4", seconds=1.5, width=96, height=64)
    job_id = finished_job(store, video, tmp_path, mode="t2v")
    open_mode(page, "history")
    thumbnails(page).first.wait_for()
    thumbnails(page).nth(0).click()
    page.locator("#aio-history-info").filter(has_text=job_id).wait_for()
    steps = page.locator("#aio-next-history")
    steps.wait_for(state="visible")
    for key in ("i2v", "style", "a2v"):
        page.locator(f"#aio-next-history-{key}").wait_for(state="visible")
    assert not page_scrolls_sideways(page)
    steps.scroll_into_view_if_needed()
    shoot(page, f"next-steps-history-{size}")

    page.locator("#aio-next-history-style").click()

    page.locator("#aio-panel-style").wait_for(state="visible")
    page.locator("#aio-panel-history").wait_for(state="hidden")
    page.locator("#aio-style-video video").wait_for(state="attached")
    said = outcome(page, "style").filter(has_text=f"From job {job_id}")
    said.wait_for()
    page.locator("#aio-style-video").scroll_into_view_if_needed()
    shoot(page, f"next-steps-restyle-{size}")

    open_mode(page, "history")
    thumbnails(page).nth(0).click()
    page.locator("#aio-next-history-i2v").click()
    page.locator("#aio-panel-i2v").wait_for(state="visible")
    page.locator("#aio-i2v-image img").wait_for(state="visible")
    outcome(page, "i2v").filter(has_text="its last frame is the first frame here").wait_for()
    page.locator("#aio-i2v-image").scroll_into_view_if_needed()
    shoot(page, f"next-steps-last-frame-{size}")


# How many lines each visible button's label takes (its text's line boxes).
LABEL_LINES = """(selector) => Object.fromEntries([...document.querySelectorAll(selector)]
    .filter((b) => b.offsetParent !== null)
    .map((b) => {
        const range = document.createRange();
        range.selectNodeContents(b);
        const tops = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
        return [b.textContent.trim(), tops.size];
    }))"""


def test_a_results_next_steps_show_once_it_is_done_and_open_their_panel(page, size):
    page.locator("#aio-t2v-prompt textarea").fill(PROMPT)
    page.locator("#aio-t2v-preset label").filter(has_text="fast").click()
    assert not page.locator("#aio-next-t2v").is_visible()  # no result yet

    page.locator("#aio-generate-t2v").click()

    outcome(page, "t2v").filter(has_text="Done").wait_for()
    page.locator("#aio-next-t2v-a2v").wait_for(state="visible")
    page.locator("#aio-next-t2v").scroll_into_view_if_needed()
    shoot(page, f"next-steps-result-{size}")
    lines = page.evaluate(LABEL_LINES, "#aio-next-t2v button")
    assert lines and all(n == 1 for n in lines.values()), lines  # no label wraps
    assert not page_scrolls_sideways(page)
    page.locator("#aio-next-t2v-a2v").click()
    page.locator("#aio-panel-a2v").wait_for(state="visible")
    page.locator("#aio-a2v-audio audio, #aio-a2v-audio .waveform-container").first.wait_for(
        state="attached"
    )
    outcome(page, "a2v").filter(has_text="its sound is the audio here").wait_for()


def test_while_a_job_runs_its_stage_time_left_and_a_changing_preview_stay_in_view(
    page, served, size
):
    """The live box in the result pane says the stage, step, percentage and time left, and
    shows a preview that changes as the sampler steps; at both sizes it stays in the viewport
    while the page scrolls to the outcome under Generate; the video replaces it at the end."""
    served.engine.live, served.engine.step_delay = True, 0.7
    page.locator("#aio-t2v-prompt textarea").fill(PROMPT)
    page.locator("#aio-t2v-preset label").filter(has_text="fast").click()
    start_at_the_top(page)
    page.locator("#aio-generate-t2v").click()

    line = page.locator("#aio-live-t2v .aio-live-line")
    timed = re.compile(r"Sampling pass \d · step \d/4 · \d+% · (about \d+ s left|almost done)")
    line.filter(has_text=timed).wait_for()
    preview = page.locator("#aio-live-t2v img.aio-live-preview")
    preview.wait_for()
    first = preview.get_attribute("src")
    page.wait_for_function(
        """(first) => {
            const img = document.querySelector('#aio-live-t2v img.aio-live-preview');
            return img && img.src !== first;
        }""",
        arg=first,
    )
    said = line.inner_text()
    shoot(page, f"live-{size}")
    # the stage now (pass 1 may be over), the whole job's percentage and its time left
    assert re.fullmatch(
        r"[A-Z][a-z ]+\d?( · step \d/4)? · \d+% · (about \d+ s left|almost done)", said
    )
    wait_in_viewport(page, "#aio-live-t2v .aio-live-line")
    wait_in_viewport(page, "#aio-live-t2v img.aio-live-preview")
    assert in_viewport(page, "#aio-outcome-t2v")  # the running banner under Generate too

    outcome(page, "t2v").filter(has_text="Done").wait_for()
    page.locator("#aio-live-t2v .aio-live-line").wait_for(state="detached")
    assert page.locator("#aio-video-t2v video").count() == 1
