"""A running job's live box in the result pane: its stage, step, percentage and time left, a bar,
and a low-resolution preview of the frames being sampled, replaced by the video at the end.

`Live` is the progress callback the panel's Generate hands its jobs (progress.Progress, with
`show_preview`): it forwards every line to the event's `gr.Progress` (so a script's
`job.status().progress_data` says the same) and keeps the latest line and preview, which
`follow()` yields as updates of the box while the job runs, a few a second at most. On ZeroGPU
the GPU task runs in another process: there only the `gr.Progress` crosses (`__reduce__`), so the
page shows Gradio's own progress on the video instead (`progress_options`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import html

import gradio as gr

import worker_settings

UPDATE_EVERY_S = 0.5  # the most often the box is sent to the page
PREVIEW_LABEL = "Live preview while it runs"


def progress_options(video: gr.Video) -> dict:
    """How Generate shows progress: in the live box (Gradio's own hidden), or on ZeroGPU, where
    the box gets no lines, Gradio's progress on the video."""
    return (
        {"show_progress_on": [video]}
        if worker_settings.on_zerogpu()
        else {"show_progress": "hidden"}
    )


class Counted:
    """A job's lines to a `gr.Progress` as (percent, 100) with its line: Gradio's MCP server words
    a progress notification only for counted progress ("Progress <line>: Step 42 of 100"), and
    a bare fraction reached MCP clients with no message at all. Plain data: it pickles (ZeroGPU).
    """

    def __init__(self, progress) -> None:
        self._progress = progress

    def __call__(self, fraction, desc=None, *args, **kwargs) -> None:
        if fraction is None:
            self._progress(None, desc)
        else:
            self._progress((max(0, min(100, round(fraction * 100))), 100), desc, unit="%")


def _as_is(progress):
    return progress


class Live:
    def __init__(self, progress, *, previews: bool = True) -> None:
        self._progress = Counted(progress)
        self._previews = previews
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        self.fraction: float | None = None
        self.line = "Starting"
        self.jpeg: bytes | None = None

    def __call__(self, fraction, desc=None, *args, **kwargs) -> None:
        self._progress(fraction, desc)
        self.fraction, self.line = fraction, desc or self.line
        self._poke()

    def show_preview(self, jpeg: bytes) -> None:
        if self._previews:
            self.jpeg = jpeg
            self._poke()

    def __reduce__(self):  # crossing to ZeroGPU's GPU process: only Gradio's tracker goes
        return (_as_is, (self._progress,))

    def _poke(self) -> None:
        with contextlib.suppress(RuntimeError):  # the page's loop is gone: nowhere to show it
            self._loop.call_soon_threadsafe(self._changed.set)

    def html(self) -> str:
        return box_html(self.line, self.fraction, self.jpeg)

    async def follow(self, task: asyncio.Future, box: gr.HTML):
        """The box's updates while `task` runs; `task` is cancelled if this is. On ZeroGPU the
        job's lines stay in its GPU process: the box stays hidden, Gradio's progress shows."""
        try:
            if worker_settings.on_zerogpu():
                yield {box: gr.update(visible=False)}
                await asyncio.wait({task})  # its result or error is the caller's to take
                return
            yield {box: gr.update(value=self.html(), visible=True)}
            while not task.done():
                changed = asyncio.ensure_future(self._changed.wait())
                try:
                    await asyncio.wait({task, changed}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    changed.cancel()
                if task.done():
                    return
                self._changed.clear()
                yield {box: gr.update(value=self.html(), visible=True)}
                await asyncio.wait({task}, timeout=UPDATE_EVERY_S)
        finally:
            if not task.done():
                task.cancel()


def box_html(line: str, fraction: float | None, jpeg: bytes | None) -> str:
    percent = 0 if fraction is None else max(0, min(100, round(fraction * 100)))
    preview = ""
    if jpeg:
        data = base64.b64encode(jpeg).decode("ascii")
        preview = (
            f'<img class="aio-live-preview" src="data:image/jpeg;base64,{data}" '
            'alt="Preview of the frames being made">'
        )
    return (
        f'<div class="aio-live-box">{preview}<div class="aio-live-text">'
        f'<div class="aio-live-line" role="status">{html.escape(line)}</div>'
        f'<div class="aio-live-bar" aria-hidden="true"><span style="width:{percent}%"></span>'
        "</div></div></div>"
    )


def build(name: str) -> gr.HTML:
    """The live box of panel `name`, hidden until a job runs."""
    return gr.HTML("", visible=False, elem_id=f"aio-live-{name}", elem_classes="aio-live")


def hidden(box: gr.HTML) -> dict:
    return {box: gr.update(value="", visible=False)}
