"""Write the README's figures (assets/*.png) from the real page in headless Chromium.

The app runs in-process with only the GPU task, the weight download and the device and disk
probes replaced by the test double (testkit/app_helpers.py), exactly as the browser tests run it;
each figure is a viewport screenshot, shrunk and reduced to a small palette to keep the
repository light.

  python tools/readme_figures.py            # needs requirements-test.txt and Debian's chromium
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from errors import AppError  # noqa: E402
from testkit.app_helpers import SHORT_OF_DISK, media_inputs, running_app  # noqa: E402
from testkit.browser_helpers import (  # noqa: E402
    DESKTOP,
    PHONE,
    app_page,
    chromium,
    fill_mode,
    open_mode,
    outcome,
    wait_in_viewport,
)

ASSETS = ROOT / "assets"
COLORS = 96


def save(shots: list[Path], name: str, scale: float) -> Path:
    """Side by side, scaled, in a small palette."""
    images = [Image.open(path).convert("RGB") for path in shots]
    gap = 16
    width = sum(im.width for im in images) + gap * (len(images) - 1)
    sheet = Image.new("RGB", (width, max(im.height for im in images)), (11, 15, 20))
    x = 0
    for im in images:
        sheet.paste(im, (x, 0))
        x += im.width + gap
    sheet = sheet.resize((round(sheet.width * scale), round(sheet.height * scale)), Image.LANCZOS)
    out = ASSETS / f"{name}.png"
    sheet.quantize(COLORS, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
    return out


def lipsync_done(browser, served, work: Path) -> Path:
    with app_page(browser, served.url, DESKTOP) as page:
        open_mode(page, "lipsync")
        fill_mode(page, "lipsync", media_inputs("lipsync", work / "lipsync"))
        page.locator("#aio-generate-lipsync").click()
        outcome(page, "lipsync").filter(has_text="Done").wait_for()
        page.locator("#aio-video-lipsync video").evaluate(
            "v => v.readyState >= 2 || new Promise(ok => v.addEventListener('loadeddata', ok))"
        )
        wait_in_viewport(page, "#aio-outcome-lipsync")
        page.screenshot(path=str(work / "lipsync.png"))
    return work / "lipsync.png"


def out_of_memory(browser, served, work: Path) -> Path:
    served.engine.fail_with.append(AppError("oom", "CUDA out of memory while sampling"))
    with app_page(browser, served.url, DESKTOP) as page:
        page.locator("#aio-t2v-prompt textarea").fill("a paper boat drifting down a rainy street")
        page.locator("#aio-t2v-preset label").filter(has_text="quality").click()
        page.locator("#aio-generate-t2v").click()
        page.locator("#aio-use-fast-t2v").wait_for()
        wait_in_viewport(page, "#aio-outcome-t2v")
        page.screenshot(path=str(work / "oom.png"))
    return work / "oom.png"


def on_a_phone(browser, served, work: Path) -> list[Path]:
    """The status banner on a CPU-only machine short of disk, a refusal, the Models cards."""
    served.engine.device = {"type": "cpu", "source": "figure"}
    served.engine.weights = dict(SHORT_OF_DISK)
    shots = [work / f"phone-{n}.png" for n in ("status", "refusal", "models")]
    with app_page(browser, served.url, PHONE) as page:
        page.locator("#aio-status").filter(has_text="No GPU").wait_for()
        page.screenshot(path=str(shots[0]))
        page.locator("#aio-generate-t2v").click()  # the prompt is empty
        outcome(page, "t2v").filter(has_text="Check your input").wait_for()
        wait_in_viewport(page, "#aio-outcome-t2v")
        page.screenshot(path=str(shots[1]))
        open_mode(page, "models")
        page.locator("#aio-models-files tr[data-state]").first.wait_for()
        page.locator("#aio-models-files").scroll_into_view_if_needed()
        page.screenshot(path=str(shots[2]))
    served.engine.reset()
    return shots


def main() -> int:
    ASSETS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, chromium() as browser:
        work = Path(tmp)
        with running_app(work / "app") as served:
            written = [
                save([lipsync_done(browser, served, work)], "screenshot-lipsync", 0.6),
                save([out_of_memory(browser, served, work)], "screenshot-error", 0.6),
                save(on_a_phone(browser, served, work), "screenshot-phone", 0.6),
            ]
    for path in written:
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
