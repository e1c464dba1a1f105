"""What the browser tests share: a headless Chromium on the real app (GPU task doubled), the page's
common gestures, and what a person sees measured by geometry (on screen, under the header, inside
its box).

Uses the Debian `chromium` binary through Playwright's Python API (no Playwright browser
download). Screenshots land in test-artifacts/browser/ (git-ignored).
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

import modes
from testkit.modes_helpers import required_values

ARTIFACTS = (
    Path(
        os.environ.get(
            "LTX_AIO_TEST_ARTIFACTS", Path(__file__).resolve().parent.parent / "test-artifacts"
        )
    )
    / "browser"
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
SIZES = {"desktop": DESKTOP, "phone": PHONE}  # the two page sizes every layout test takes
TIMEOUT_MS = 30_000
PROMPT = "a paper boat drifting down a rainy street, soft piano"


def chromium_path() -> str | None:
    for candidate in (
        os.environ.get("PLAYWRIGHT_CHROMIUM_EXECUTABLE"),
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@contextmanager
def chromium():
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (requirements-test.txt)"
    )
    executable = chromium_path()
    if executable is None:
        pytest.skip(
            "no Chromium binary: install Debian's `chromium` (apt-get install chromium; "
            ".ci/run does) or set PLAYWRIGHT_CHROMIUM_EXECUTABLE"
        )
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@contextmanager
def app_page(browser, url: str, viewport: dict):
    """A fresh page on the app at `url`; only the app is reachable; JS errors fail the test."""
    context = browser.new_context(viewport=viewport)
    context.route(
        "**/*",
        lambda route: route.continue_() if route.request.url.startswith(url) else route.abort(),
    )
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url, wait_until="domcontentloaded")
    page.locator(".aio-shell").wait_for(state="visible")
    page.locator("#aio-generate-t2v").wait_for(state="visible")
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def shoot(page, name: str, *, full_page: bool = False) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    if full_page:  # from the top, so the sticky header and drawer are drawn where they belong
        page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(path), full_page=full_page)
    return path


# -- gestures -------------------------------------------------------------------------------------


def open_mode(page, mode: str) -> None:
    if not page.locator(f"#aio-mode-{mode}").is_visible() or not in_viewport(
        page, f"#aio-mode-{mode}"
    ):
        page.locator(".aio-hamburger").click()  # the drawer is an overlay on narrow screens
    page.locator(f"#aio-mode-{mode}").click()
    page.locator(f"#aio-panel-{mode}").wait_for(state="visible")


def fill_mode(page, mode: str, files: dict[str, Path], prompt: str = PROMPT) -> None:
    page.locator(f"#aio-{mode}-prompt textarea").fill(prompt)
    page.locator(f"#aio-{mode}-preset label").filter(has_text="fast").click()
    for name, path in files.items():
        field = page.locator(f"#aio-{mode}-{name}")
        field.locator("input[type=file]").set_input_files(str(path))
        kind = modes.MODES[mode].field(name).kind
        preview = {
            "image": "img",
            "audio": "audio, canvas, wave, .waveform-container",
            "video": "video",
        }
        field.locator(preview[kind]).first.wait_for(state="attached")
    for name, value in required_values(mode).items():  # a retake's range
        page.locator(f"#aio-{mode}-{name}").locator("input, textarea").first.fill(str(value))


def open_history(page) -> None:
    page.locator("#aio-mode-history").click()
    page.locator("#aio-panel-history").wait_for(state="visible")
    page.locator("#aio-history-gallery button.thumbnail-item").first.wait_for()


def thumbnails(page):
    return page.locator("#aio-history-gallery button.thumbnail-item")


def outcome(page, mode: str):
    """The banner under a panel's Generate button."""
    return page.locator(f"#aio-outcome-{mode}")


def choose(page, dropdown: str, option: str) -> None:
    page.locator(f"#{dropdown} input").click()
    page.locator(f"#{dropdown} li[role=option]").filter(has_text=option).first.click()


# -- what a person sees ---------------------------------------------------------------------------


def box(page, selector: str) -> dict:
    return page.locator(selector).first.evaluate(
        "e => { const r = e.getBoundingClientRect();"
        " return {top: r.top, bottom: r.bottom, left: r.left, right: r.right,"
        " height: r.height, width: r.width}; }"
    )


def in_viewport(page, selector: str) -> bool:
    """Wholly on screen and not under the sticky header."""
    shown = box(page, selector)
    header = box(page, "#aio-header")
    size = page.viewport_size
    return (
        shown["height"] > 0
        and shown["top"] >= header["bottom"] - 1
        and shown["bottom"] <= size["height"] + 1
        and shown["left"] >= -1
        and shown["right"] <= size["width"] + 1
    )


def wait_in_viewport(page, selector: str) -> None:
    """Wait until `selector` is wholly on screen below the header (the page scrolls it there)."""
    page.wait_for_function(
        """sel => {
             const e = document.querySelector(sel), h = document.getElementById('aio-header');
             if (!e || !h) return false;
             const r = e.getBoundingClientRect(), top = h.getBoundingClientRect().bottom;
             return r.height > 0 && r.top >= top - 1 && r.bottom <= innerHeight + 1
               && r.left >= -1 && r.right <= innerWidth + 1;
           }""",
        arg=selector,
    )


def overflowing_tables(page) -> list[dict]:
    """Every shown table wider than its box, or a box wider than the window."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('.aio-table-wrap'))
             .filter(w => w.offsetParent !== null)
             .map(w => {
               const t = w.querySelector('table'), r = w.getBoundingClientRect();
               return {table: t.className, box: w.clientWidth, table_width: t.scrollWidth,
                       scroll: w.scrollWidth, right: r.right, window: innerWidth};
             })
             .filter(m => m.table_width > m.box + 1 || m.scroll > m.box + 1
                          || m.right > m.window + 1)"""
    )


def page_scrolls_sideways(page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth > innerWidth + 1")
