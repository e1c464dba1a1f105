"""L3 in a real headless Chromium, at a desktop's (1440x900) and a phone's (390x844) size: a
panel's Enhance button puts the rewrite into its Enhanced prompt box, to edit before Generate
(the job keeps both), and an empty prompt is refused naming it. The GPU task is the test double
from app_helpers (its enhancer marks the text it was given). Screenshots go to
test-artifacts/browser/."""

from __future__ import annotations

import pytest

import enhance
from testkit.app_helpers import ENHANCED_BY_TEST, running_app
from testkit.browser_helpers import SIZES, app_page, box, open_mode, outcome, shoot

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("enhance-app")) as running:
        yield running


@pytest.fixture
def page(browser, served, size):
    served.engine.reset()
    served.engine.calls.clear()
    enhance.CACHE.clear()
    with app_page(browser, served.url, SIZES[size]) as opened:
        yield opened


def test_enhance_puts_the_rewrite_beside_the_prompt_and_the_job_keeps_both(page, served, size):
    """The rewrite lands in the Enhanced prompt box (hidden until then), the prompt box keeps the
    user's own; the edited rewrite is what Generate makes the video from, and History keeps
    both texts."""
    open_mode(page, "t2v")
    prompt = page.locator("#aio-t2v-prompt textarea")
    prompt.fill("a fox in the snow")
    rewrite_box = page.locator("#aio-t2v-enhanced_prompt")
    assert not rewrite_box.is_visible()
    button = page.locator("#aio-enhance-t2v")
    button.scroll_into_view_if_needed()
    shown, under = box(page, "#aio-enhance-t2v"), box(page, "#aio-t2v-prompt")
    assert shown["height"] > 0 and 0 <= shown["top"] - under["bottom"] < 80  # right below it
    button.click()
    rewrite = f"{ENHANCED_BY_TEST} a fox in the snow"
    page.wait_for_function(
        "want => document.querySelector('#aio-t2v-enhanced_prompt textarea')?.value === want",
        arg=rewrite,
    )
    outcome(page, "t2v").filter(has_text="Prompt enhanced").wait_for()
    assert prompt.input_value() == "a fox in the snow"
    assert [c["mode"] for c in served.engine.calls] == ["enhance"]  # no video was made
    shoot(page, f"enhance-t2v-{size}", full_page=True)

    edited = rewrite + " It leaps into a drift."
    rewrite_box.locator("textarea").fill(edited)
    page.locator("#aio-generate-t2v").click()
    outcome(page, "t2v").filter(has_text="Done").wait_for()
    made = served.engine.calls[-1]
    text = [n for n in made["prompt"].values() if n["_meta"]["title"] == "Positive prompt"]
    assert made["mode"] == "t2v" and text[0]["inputs"]["text"].startswith(edited)
    kept = served.store().get(made["job_id"]).params
    assert (kept["prompt"], kept["enhanced_prompt"]) == ("a fox in the snow", edited)


def test_enhance_with_an_empty_prompt_says_which_field(page, served, size):
    open_mode(page, "t2v")
    page.locator("#aio-t2v-prompt textarea").fill("")
    page.locator("#aio-enhance-t2v").click()
    outcome(page, "t2v").filter(has_text="Prompt must not be empty").wait_for()
    assert not served.engine.calls
    shoot(page, f"enhance-empty-{size}", full_page=True)
