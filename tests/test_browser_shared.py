"""L3 in a real headless Chromium, on a shared deployment (LTX_AIO_SHARED=1): each browser sees
only its own jobs. A module of its own, because an app served in this process patches the engine
and data dir for the whole process: two at once in one module would talk to each other's."""

from __future__ import annotations

import pytest

import jobs
import restarts
from testkit.app_helpers import running_app
from testkit.browser_helpers import app_page, open_history, outcome, shoot, thumbnails

pytestmark = pytest.mark.browser

WIDE = {"width": 1280, "height": 900}


@pytest.fixture(scope="module")
def served_shared(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("browser-shared"), {"LTX_AIO_SHARED": "1"}) as running:
        yield running


def test_on_a_shared_deployment_each_browser_sees_only_its_own_history(browser, served_shared):
    url = served_shared.url
    with app_page(browser, url, WIDE) as first_page, app_page(browser, url, WIDE) as second_page:
        for page, prompt in ((first_page, "first visitor's fox"), (second_page, "second's boat")):
            page.locator("#aio-t2v-prompt textarea").fill(prompt)
            page.locator("#aio-t2v-preset label").filter(has_text="fast").click()
            page.locator("#aio-generate-t2v").click()
            outcome(page, "t2v").filter(has_text="Done").wait_for(state="visible")
        for page, own, other in (
            (first_page, "first visitor", "second's"),
            (second_page, "second's", "first visitor"),
        ):
            open_history(page)
            thumbnails(page).first.filter(has_text=own).wait_for()
            assert thumbnails(page).count() == 1
            assert other not in page.locator("#aio-history-gallery").inner_text()
            # The retention setting is the operator's here: not on the page.
            assert not page.locator("#aio-history-retention").is_visible()
        shoot(second_page, "shared-history", full_page=True)
        # The same browser, later: still its own jobs (the secret lives in the browser).
        first_page.reload(wait_until="domcontentloaded")
        open_history(first_page)
        thumbnails(first_page).first.filter(has_text="first visitor").wait_for()


def test_on_zerogpu_a_visitor_s_jobs_that_waited_at_a_restart_run_when_they_come_back(
    browser, served_shared, monkeypatch
):
    """ZeroGPU grants a GPU only within a visitor's request, so a job left waiting by a restart
    runs on its owner's next page load, in that visit, and the page says so; another visitor's
    page load runs none of it."""
    url = served_shared.url
    store = served_shared.store()
    with app_page(browser, url, WIDE) as page, app_page(browser, url, WIDE) as other:
        page.locator("#aio-t2v-prompt textarea").fill("made before the restart")
        page.locator("#aio-t2v-preset label").filter(has_text="fast").click()
        page.locator("#aio-generate-t2v").click()
        outcome(page, "t2v").filter(has_text="Done").wait_for(state="visible")
        (made,) = [
            j for j in store.jobs(limit=-1) if j.params.get("prompt") == "made before the restart"
        ]
        waited = jobs.record(
            "t2v", {"prompt": "waited at the restart", "preset": "fast"}, owner=made.owner
        )
        monkeypatch.setattr(restarts, "_awaiting", {})
        monkeypatch.setattr(restarts, "gpu_only_in_requests", lambda: True)
        assert restarts.resume_queued(store, ready=lambda: True) == []  # nobody's request yet
        assert restarts.awaiting(made.owner) == 1
        other.reload(wait_until="domcontentloaded")  # someone else's visit runs none of it
        other.locator("#aio-t2v-prompt textarea").wait_for()
        assert store.get(waited).status == "queued"
        page.reload(wait_until="domcontentloaded")
        page.locator("#aio-banner").filter(has_text="waited at the restart ended").wait_for(
            timeout=60_000
        )
        assert store.get(waited).status == "done"
        assert restarts.awaiting(made.owner) == 0
        shoot(page, "zerogpu-returning-visitor")
