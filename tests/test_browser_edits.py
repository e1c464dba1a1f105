"""L3 in a real headless Chromium, at a desktop's (1440x900) and a phone's (390x844) size: a
History job's video extended and retaken through its next steps, and a retake refused.

The GPU task is the test double from app_helpers (an edit's graph gets as many frames as it
asks for); the rest is the real app. Each test leaves screenshots per size in
test-artifacts/browser/.
"""

from __future__ import annotations

import pytest

from job_spec import SOURCE
from testkit import mediagen
from testkit.app_helpers import running_app
from testkit.browser_helpers import (
    PROMPT,
    SIZES,
    app_page,
    box,
    open_mode,
    outcome,
    page_scrolls_sideways,
    shoot,
    thumbnails,
    wait_in_viewport,
)
from testkit.history_helpers import finished_job

pytestmark = pytest.mark.browser

SOURCE_SECONDS = 2.0  # the History job's video: 16 frames at 8 fps, with sound


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("edits-app")) as running:
        yield running


@pytest.fixture
def page(browser, served, size):
    served.engine.reset()
    with app_page(browser, served.url, SIZES[size]) as opened:
        yield opened


@pytest.fixture
def source(served, tmp_path) -> str:
    """A done t2v job in History whose video lasts SOURCE_SECONDS: its id."""
    video = mediagen.make_mp4(
        tmp_path / "ComfyUI_00001_.mp4", seconds=SOURCE_SECONDS, width=96, height=64, fps=8
    )
    return finished_job(served.store(), video, tmp_path, mode="t2v")


def open_next_step(page, job_id: str, key: str, mode: str) -> None:
    """From History: pick the job, press its next step `key`; `mode`'s panel shows its video."""
    open_mode(page, "history")
    thumbnails(page).first.wait_for()
    thumbnails(page).nth(0).click()  # the newest: the job the test just put in History
    page.locator("#aio-history-info").filter(has_text=job_id).wait_for()
    page.locator(f"#aio-next-history-{key}").click()
    page.locator(f"#aio-panel-{mode}").wait_for(state="visible")
    page.locator("#aio-panel-history").wait_for(state="hidden")
    page.locator(f"#aio-{mode}-video video").wait_for(state="attached")
    outcome(page, mode).filter(has_text=f"From job {job_id}").wait_for()


def fill_prompt(page, mode: str) -> None:
    page.locator(f"#aio-{mode}-prompt textarea").fill(PROMPT)
    page.locator(f"#aio-{mode}-preset label").filter(has_text="fast").click()


def assert_fits(page, *selectors: str) -> None:
    """Each shown whole inside the window's width (nothing cut off at the side)."""
    assert not page_scrolls_sideways(page)
    width = page.viewport_size["width"]
    for selector in selectors:
        shown = box(page, selector)
        assert shown["width"] > 0 and shown["left"] >= -1 and shown["right"] <= width + 1, (
            selector,
            shown,
        )


def generate_and_see_done(page, served, mode: str) -> None:
    page.locator(f"#aio-generate-{mode}").click()
    outcome(page, mode).filter(has_text="Done").wait_for()
    result = page.locator(f"#aio-video-{mode} video")
    result.wait_for(state="attached")
    result.evaluate(
        "v => v.readyState >= 2 || new Promise(ok => v.addEventListener('loadeddata', ok))"
    )
    page.locator(f"#aio-used-{mode}").filter(has_text=SOURCE).wait_for()


def the_new_job(served, mode: str, before: int, source: str):
    """The one job this test made in History: done, linked to `source`'s video, with its plan."""
    store = served.store()
    assert store.count(status="done") == before + 1
    job = store.jobs(limit=1)[0]
    assert job.mode == mode and job.status == "done" and job.id != source
    assert job.params[SOURCE] == {"video": source} and job.used[SOURCE] == {"video": source}
    assert job.inputs["video"].read_bytes() == store.get(source).output.read_bytes()
    assert job.output is not None and job.output.is_file()
    return job


def test_a_history_jobs_video_is_extended_from_its_next_step(page, served, size, source):
    open_next_step(page, source, "extend", "extend")
    fill_prompt(page, "extend")
    seconds = page.locator("#aio-extend-seconds input[type=number]")
    seconds.fill("1")
    seconds.press("Tab")
    assert_fits(page, "#aio-extend-video", "#aio-extend-seconds", "#aio-generate-extend")
    shoot(page, f"extend-opened-{size}", full_page=True)
    before = served.store().count(status="done")

    generate_and_see_done(page, served, "extend")

    job = the_new_job(served, "extend", before, source)
    assert job.params["seconds"] == 1
    assert job.used["edit"]["new_frames"] == 8  # 1 s at the source's 8 fps
    assert job.used["edit"]["frames"] == SOURCE_SECONDS * 8
    said = outcome(page, "extend").inner_text()
    assert "the result lasts 3.00 s (24 frames at 8 fps)" in said  # not only the part made
    shoot(page, f"extend-done-{size}", full_page=True)


def test_a_history_jobs_video_is_retaken_from_its_next_step(page, served, size, source):
    open_next_step(page, source, "retake", "retake")
    # End starts at the video's end: its length, said and set.
    outcome(page, "retake").filter(has_text="it lasts 2.00 s, so End is set to 2.00").wait_for()
    page.wait_for_function("() => document.querySelector('#aio-retake-end input').value === '2.00'")
    shoot(page, f"retake-prefilled-{size}", full_page=True)
    fill_prompt(page, "retake")
    page.locator("#aio-retake-start input").fill("0.5")
    page.locator("#aio-retake-end input").fill("1.0")
    assert_fits(
        page, "#aio-retake-video", "#aio-retake-start input", "#aio-retake-end input",
        "#aio-generate-retake",
    )  # fmt: skip
    shoot(page, f"retake-opened-{size}", full_page=True)
    before = served.store().count(status="done")

    generate_and_see_done(page, served, "retake")

    job = the_new_job(served, "retake", before, source)
    assert (job.used["start"], job.used["end"]) == (0.5, 1.0)
    plan = job.used["edit"]
    assert (plan["start_frame"], plan["end_frame"]) == (4, 8)  # 0.5..1.0 s at 8 fps
    assert "the result lasts 2.00 s (16 frames at 8 fps)" in outcome(page, "retake").inner_text()
    shoot(page, f"retake-done-{size}", full_page=True)


def test_a_retake_past_the_videos_end_is_refused_naming_end(page, served, size, source):
    open_next_step(page, source, "retake", "retake")
    fill_prompt(page, "retake")
    page.locator("#aio-retake-start input").fill("0.5")
    page.locator("#aio-retake-end input").fill("3")
    store = served.store()
    done, calls = store.count(status="done"), len(served.engine.calls)

    page.locator("#aio-generate-retake").click()

    said = outcome(page, "retake").filter(has_text="the video lasts 2.00 s")
    said.wait_for()
    assert said.locator(".aio-banner-where").inner_text() == "end:"
    assert said.locator("[data-field]").get_attribute("data-field") == "end"
    wait_in_viewport(page, "#aio-outcome-retake")
    assert_fits(page, "#aio-outcome-retake")
    shoot(page, f"retake-refused-{size}")
    marked = page.locator("#aio-retake-end.aio-invalid")
    marked.wait_for()
    marked.scroll_into_view_if_needed()
    shoot(page, f"retake-refused-field-{size}")
    assert store.count(status="done") == done and len(served.engine.calls) == calls
    refused = store.jobs(limit=1)[0]  # kept as a refusal: no parameters, no files
    assert (refused.mode, refused.status, refused.error_kind) == ("retake", "failed", "bad_input")
    assert "End is 3 s" in refused.error_message and refused.output is None
    # The panel keeps its video: End put right, the retake runs.
    page.locator("#aio-retake-end input").fill("1.0")
    generate_and_see_done(page, served, "retake")
    assert store.count(status="done") == done + 1
