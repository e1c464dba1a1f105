"""A panel's outcome: its banner and the fix buttons a failure offers, answered keyed by them.

Every event of a panel that says how a job went (Generate, Cancel, a fix button) updates the
same four components: the banner, the row of fix buttons, "Download models" (a missing or
failed download) and "Switch to the fast preset" (out of memory, out of GPU time). What the
banner says is banners_ui's; which fixes a failure offers is `fixes_for`.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from banners_ui import FIX_PRESET, banner_html, error_banner
from errors import AppError


def fixes_for(err: AppError, params: dict) -> dict:
    """The fix buttons a failure offers: download when weights are missing, the fast preset
    when the job ran out of memory or time on a slower one."""
    return {
        "download": err.kind in ("missing_model", "download_failed"),
        "fast": err.kind in ("oom", "gpu_timeout") and params.get("preset") != FIX_PRESET,
    }


@dataclass
class Outcome:
    banner: gr.HTML
    fixes: gr.Row  # holds the two buttons: shown when either is
    download: gr.Button
    use_fast: gr.Button

    @property
    def components(self) -> list:
        return [self.banner, self.fixes, self.download, self.use_fast]

    def say(self, text: str = "", *, download: bool = False, fast: bool = False) -> dict:
        """The banner saying `text` (hidden when empty), with the fixes asked for."""
        return {
            self.banner: gr.update(value=text, visible=bool(text)),
            self.fixes: gr.update(visible=download or fast),
            self.download: gr.update(visible=download),
            self.use_fast: gr.update(visible=fast),
        }

    def failed(self, err: AppError, params: dict) -> dict:
        """The failure, and the fixes it offers."""
        return self.say(error_banner(err), **fixes_for(err, params))

    def said(self, level: str, title: str, text: str) -> dict:
        return self.say(banner_html(level, title, text))


def build(name: str) -> Outcome:
    """The outcome banner and its fix buttons, for panel `name`."""
    banner = gr.HTML("", visible=False, elem_id=f"aio-outcome-{name}", elem_classes="aio-outcome")
    with gr.Row(visible=False, elem_id=f"aio-fixes-{name}", elem_classes="aio-fixes") as fixes:
        download = gr.Button(
            "Download models", visible=False, scale=0, min_width=240, elem_id=f"aio-download-{name}"
        )
        use_fast = gr.Button(
            f"Switch to the {FIX_PRESET} preset",
            visible=False,
            scale=0,
            min_width=280,
            elem_id=f"aio-use-fast-{name}",
        )
    return Outcome(banner, fixes, download, use_fast)
