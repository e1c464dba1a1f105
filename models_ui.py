"""The Models view: the weight files each mode loads, which are on disk, missing or arriving, how
many GB in all and still to fetch, and a button that fetches one mode's files with a progress bar.

What it shows is `models.model_status()` (the same figures `/healthz` serves). Every event here is
private: the API is the mode endpoints only.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import gradio as gr

import downloads
import jobs
import models
import modes
import tables
from banners_ui import banner_html, error_banner
from errors import AppError

MODELS = "models"
STATE_TEXT = {"present": "on disk", "missing": "missing", "downloading": "downloading"}


@dataclass
class ModelsView:
    """The Models view's components; its handlers answer {component: update}."""

    panel: gr.Column
    mode: gr.Dropdown  # whose files are listed
    message: gr.HTML
    summary: gr.Markdown
    overview: gr.HTML
    files: gr.HTML
    download: gr.Button
    loras: gr.HTML  # the known LoRAs of each model family

    @property
    def refresh_inputs(self) -> list:
        return [self.mode]

    @property
    def refresh_outputs(self) -> list:
        return [self.message, self.summary, self.overview, self.files, self.download, self.loras]

    def on_refresh(self, mode: str) -> dict:
        """The overview, the chosen mode's files and what its button would fetch."""
        try:
            status = models.model_status()
        except AppError as err:  # e.g. an unknown LTX_AIO_MODEL_VARIANT
            return {
                self.message: _message(error_banner(err)),
                self.summary: "",
                self.overview: "",
                self.files: "",
                self.download: gr.update(visible=False),
                self.loras: "",
            }
        info = status["modes"][mode]
        local = jobs.local_weights()
        said = _message()
        if not local:
            said = _message(banner_html("info", "Jobs run on remote workers", ELSEWHERE))
        return {
            self.message: said,
            self.summary: where_text(status, local),
            self.overview: overview_html(status),
            self.files: files_html(info),
            self.download: gr.update(
                value=download_label(mode, info) if "error" not in info else "Download",
                visible=local and not info.get("ready", False) and "error" not in info,
            ),
            self.loras: loras_html(models.known_loras()),
        }

    def on_download(self, mode: str, progress=gr.Progress()) -> dict:  # noqa: B008
        """Fetch every file `mode` loads on its default model (all presets), then show the
        tables again. With remote workers nothing is fetched here."""
        m = modes.MODES[mode]
        if not jobs.local_weights():
            said = banner_html("info", "Nothing to download here", ELSEWHERE)
            return self.on_refresh(mode) | {self.message: _message(said)}
        try:
            # One family: None (every family) is that one.
            one = m.models[0] if len(m.models) > 1 else None
            jobs.download_models(mode, None, progress, model=one)
        except AppError as err:
            said = error_banner(err)
        else:
            on = f" on {modes.MODEL_TITLES[m.models[0]]}" if len(m.models) > 1 else ""
            said = banner_html("ok", "Models ready", f"Everything {m.title} needs{on} is on disk.")
        return self.on_refresh(mode) | {self.message: _message(said)}


def _gb(n: float) -> str:
    return f"{n:.1f} GB"


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.0f} MB" if n_bytes < 10**9 else _gb(n_bytes / 1e9)


def where_text(status: dict, local: bool = True) -> str:
    """The weights variant, where downloads land and how much room is there; with remote workers,
    that nothing is downloaded here."""
    variant = (
        f"Weights: **{status['variant']}** (set `LTX_AIO_MODEL_VARIANT` to `full`, `fp8` or "
        "`gguf`)."
    )
    if not local:
        return f"{variant} Jobs run on remote workers: nothing is downloaded to this machine."
    where, free = downloads.cache_free()
    return (
        f"{variant} Downloads go to `{models.hub_cache_dir()}`: {_gb(free / 1e9)} free at "
        f"`{where}`. A job loads one model's files; a mode's figures are those of each model it "
        f"runs on. Every mode on every model together: {_gb(status['total_gb'])}, "
        f"{_gb(status['missing_gb'])} still to download."
    )


def _per_model(info: dict, key: str) -> str:
    """A mode's GB figure, per model family where it has a choice (never the two added up)."""
    families = info.get("by_model") or {}
    if len(families) < 2:
        return _gb(info[key])
    return "<br>".join(f"{modes.MODEL_TITLES[m]} {_gb(t[key])}" for m, t in families.items())


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
        families = info.get("models") or {}
        state = "ready" if all(families.values()) else "needs downloads"
        if len(families) > 1 and not all(families.values()):  # which model has everything
            state = "; ".join(
                f"{modes.MODEL_TITLES[m]} {'ready' if ok else 'needs downloads'}"
                for m, ok in families.items()
            )
        cells = [esc(title), state, f"{have} of {len(files)}", _per_model(info, "total_gb")]
        rows.append(tables.Row([*cells, _per_model(info, "missing_gb")], attrs={"data-mode": name}))
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


def loras_html(rows: list[dict]) -> str:
    """One row per known LoRA, by model family: a job that names it fetches it (a LoRA loads on
    its own family's model only)."""
    esc = html.escape
    out = []
    for r in sorted(rows, key=lambda r: (r["family"] != modes.LTX25, r["family"], r["name"])):
        state = STATE_TEXT.get(r["state"], r["state"])
        if r["gated"] and r["state"] != "present":
            state += " · gated: needs HF_TOKEN and the licence accepted on its Hub page"
        does = esc(r["does"]) + (f" ({esc(r['note'])})" if r["note"] else "")
        cells = [f"<code>{esc(r['name'])}</code>", esc(modes.MODEL_TITLES.get(r["family"], "")),
                 does, f"{esc(r['repo'])}/{esc(r['path'])}", esc(state)]  # fmt: skip
        out.append(tables.Row(cells, attrs={"data-state": r["state"], "data-model": r["family"]}))
    headers = ("LoRA", "Model", "What it does", "From", "State")
    return tables.table_html("models-loras", headers, out)


ELSEWHERE = (
    "Nothing is downloaded to this machine: each worker loads the weights from its own models "
    "folder, so fetch them where the workers run (README: remote workers). The tables list this "
    "machine's files."
)


def _message(text: str = "") -> dict:
    return gr.update(value=text, visible=bool(text))


def download_label(mode: str, info: dict) -> str:
    """What the button fetches: the mode's default model's files (the other's come at its first
    job), so the figure is one model's, never two added up."""
    m = modes.MODES[mode]
    which = f" ({modes.MODEL_TITLES[info['model']]})" if len(m.models) > 1 else ""
    return f"Download {_gb(info.get('missing_gb', 0))} for {m.title}{which}"


def build() -> ModelsView:
    with gr.Column(visible=False, elem_classes="aio-panel", elem_id="aio-panel-models") as panel:
        gr.Markdown(
            "## Models\nThe weight files each mode loads, which are on disk and what is left to "
            "download. A mode's files are also fetched when you first generate in it, those of "
            "the model the job runs on.",
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
        gr.Markdown(
            "### Known LoRAs\nName one in a LoRA field of a mode (its LoRAs section); it is "
            "downloaded with the job's other files. Each loads on its own model only.",
            elem_id="aio-models-loras-head",
        )
        known = gr.HTML("", elem_id="aio-models-loras")

    view = ModelsView(panel, mode, message, summary, overview, files, download, known)
    private = {"api_visibility": "private"}
    for trigger in (refresh.click, mode.change):
        trigger(
            view.on_refresh, inputs=view.refresh_inputs, outputs=view.refresh_outputs, **private
        )
    download.click(
        view.on_download,
        inputs=view.refresh_inputs,
        outputs=view.refresh_outputs,
        show_progress_on=[files],
        concurrency_id="download",
        **private,
    )
    return view
