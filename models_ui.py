"""The Models view: the weight files each mode loads, which are on disk, missing or arriving, how
many GB in all and still to fetch, and a button that fetches one mode's files with a progress bar.

What it shows is `models.model_status()` (the same figures `/healthz` serves). Every event here is
private: the API is the six mode endpoints only.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import gradio as gr

import jobs
import models
import modes
import tables
from banners import banner_html, error_banner
from errors import AppError

MODELS = "models"
STATE_TEXT = {"present": "on disk", "missing": "missing", "downloading": "downloading"}


@dataclass
class ModelsView:
    panel: gr.Column
    refresh_inputs: list
    refresh_outputs: list


def _gb(n: float) -> str:
    return f"{n:.1f} GB"


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.0f} MB" if n_bytes < 10**9 else _gb(n_bytes / 1e9)


def where_text(status: dict) -> str:
    where, free = models.cache_free()
    return (
        f"Weights: **{status['variant']}** (set `LTX_AIO_MODEL_VARIANT` to `full`, `fp8` or "
        f"`gguf`). Downloads go to `{models.hub_cache_dir()}`: {_gb(free / 1e9)} free "
        f"at `{where}`. All modes together: {_gb(status['total_gb'])}, "
        f"{_gb(status['missing_gb'])} still to download."
    )


def overview_html(status: dict) -> str:
    """One row per mode: ready or not, how many files, GB in all and still missing."""
    esc = html.escape
    rows = []
    for name, info in status["modes"].items():
        title = modes.MODES[name].title
        if "error" in info:
            err = info["error"]
            said = f"{esc(err['message'])} {esc(err['hint'])}"
            rows.append(tables.Row([esc(title), said, "", "", ""], attrs={"data-mode": name}))
            continue
        files = info["files"]
        have = sum(r["state"] == "present" for r in files)
        state = "ready" if info["ready"] else "needs downloads"
        families = info.get("models") or {}
        if len(families) > 1 and not info["ready"]:  # say which model already has everything
            state = "; ".join(
                f"{modes.MODEL_TITLES[m]} {'ready' if ok else 'needs downloads'}"
                for m, ok in families.items()
            )
        cells = [esc(title), state, f"{have} of {len(files)}", _gb(info["total_gb"])]
        rows.append(tables.Row([*cells, _gb(info["missing_gb"])], attrs={"data-mode": name}))
    headers = ("Mode", "State", "Files on disk", "Size", "To fetch")
    return tables.table_html("models-overview", headers, rows, nowrap=("Size", "To fetch"))


def file_state(row: dict) -> str:
    text = STATE_TEXT.get(row["state"], row["state"])
    if row["state"] == "downloading" and row.get("bytes_expected"):
        text += f" {100 * row['bytes_done'] / row['bytes_expected']:.0f}%"
    if row.get("problem"):
        text += f" ({row['problem']})"
    if row["gated"] and row["state"] != "present":
        text += " · gated: needs HF_TOKEN and the licence accepted on its Hub page"
    return text


def files_html(info: dict) -> str:
    """One row per weight file a mode loads (every preset; style: every control)."""
    esc = html.escape
    rows = [
        tables.Row(
            [
                f"<code>{esc(r['filename'])}</code>",
                esc(", ".join(modes.MODEL_TITLES.get(m, m) for m in r.get("models", []))),
                esc(r["folder"]),
                f"{esc(r['repo'])}/{esc(r['path'])}",
                _size(r["size_bytes"]),
                esc(file_state(r)),
            ],
            attrs={"data-state": r["state"]},
        )
        for r in info.get("files", [])
    ]
    headers = ("File", "Model", "ComfyUI folder", "From", "Size", "State")
    return tables.table_html("models-files", headers, rows, nowrap=("Size",))


ELSEWHERE = (
    "Each worker loads the weights from its own models folder; this view lists this machine's. "
    "Fetch them where the workers run (README: remote workers)."
)


def _message(text: str = "") -> dict:
    return gr.update(value=text, visible=bool(text))


def on_refresh(mode: str) -> list:
    """[message, summary, overview, files, download button] for the chosen mode."""
    title = modes.MODES[mode].title
    try:
        status = models.model_status()
    except AppError as err:  # e.g. an unknown LTX_AIO_MODEL_VARIANT
        return [_message(error_banner(err)), "", "", "", gr.update(visible=False)]
    info = status["modes"][mode]
    button = gr.update(
        value=f"Download {_gb(info.get('missing_gb', 0))} for {title}",
        visible=not info.get("ready", False) and "error" not in info,
    )
    said = _message()
    if not jobs.local_weights():
        said = _message(banner_html("info", "Jobs run on remote workers", ELSEWHERE))
    return [said, where_text(status), overview_html(status), files_html(info), button]


def on_download(mode: str, progress=gr.Progress()) -> list:  # noqa: B008
    """Fetch every file `mode` can load (all presets), then show the tables again."""
    title = modes.MODES[mode].title
    try:
        jobs.download_models(mode, None, progress)
    except AppError as err:
        said = error_banner(err)
    else:
        said = banner_html("ok", "Models ready", f"Everything {title} needs is on disk.")
    _, *listed = on_refresh(mode)
    return [_message(said), *listed]


def build() -> ModelsView:
    with gr.Column(visible=False, elem_classes="aio-panel", elem_id="aio-panel-models") as panel:
        gr.Markdown(
            "## Models\nThe weight files each mode loads, which are on disk and what is left to "
            "download. A mode's files are also fetched when you first generate in it.",
            elem_classes="aio-panel-head",
        )
        message = gr.HTML("", visible=False, elem_id="aio-models-message")
        summary = gr.Markdown("", elem_id="aio-models-summary")
        overview = gr.HTML("", elem_id="aio-models-overview")
        with gr.Row(equal_height=True):
            mode = gr.Dropdown(
                [(m.title, name) for name, m in modes.MODES.items()],
                value=next(iter(modes.MODES)),
                label="Files of",
                elem_id="aio-models-mode",
            )
            refresh = gr.Button("Refresh", scale=0, min_width=120, elem_id="aio-models-refresh")
        files = gr.HTML("", elem_id="aio-models-files")
        download = gr.Button(
            "Download", variant="primary", visible=False, elem_id="aio-models-download"
        )

    listed = [message, summary, overview, files, download]
    private = {"api_visibility": "private"}
    for trigger in (refresh.click, mode.change):
        trigger(on_refresh, inputs=[mode], outputs=listed, **private)
    download.click(
        on_download,
        inputs=[mode],
        outputs=listed,
        show_progress_on=[files],
        concurrency_id="download",
        **private,
    )
    return ModelsView(panel=panel, refresh_inputs=[mode], refresh_outputs=listed)
