"""LTX 2.3 AIO Generator: six mode panels, one named API endpoint per mode, History, /healthz.

Layout code here builds components from `modes.MODES` (every field is declared once, there) and
wires them to thin handlers. Each mode has two events over the same components (job_events.py):
the panel's Generate button (private; one job or a batch; errors become the page's banner) and
`/<mode>` (public API and MCP tool; errors become `gr.Error` in one place). Every job is recorded
in History (history.py), which has its own view (history_ui.py) whose "use these settings" comes
back here to fill a panel. GET /healthz (health.py) is served beside the page. Importing this
module imports neither torch nor ComfyUI; `main()` starts the pinned-install bootstrap and serves
the page.
"""

from __future__ import annotations

import importlib.util
import logging

import hfcache

# On a Space the build-time model cache is read-only: mirror it and point HF_HOME at the copy
# before anything imports huggingface_hub (gradio does). Elsewhere this does nothing.
hfcache.activate_mirror()

import gradio as gr

import api_cancel
import api_refusals
import batch_ui
import bootstrap
import health
import history
import history_ui
import jobs
import media
import models_ui
import modes
import owners
import served_files
import ui_theme
import uploads
from banners import FIX_PRESET, banner_html, engine_banner, error_banner, notice, workers_html
from errors import AppError
from job_events import (
    OWNER,
    api_docstring,
    make_api_handler,
    make_api_submit,
    make_ui_handler,
    on_cancel,
)

log = logging.getLogger("ltx_aio.app")

TITLE = "LTX 2.3 AIO Generator"
TAGS = {
    "t2v": "T2V",
    "i2v": "I2V",
    "a2v": "A2V",
    "lipsync": "LIPSYNC",
    "keyframe": "KEY",
    "style": "STYLE",
}
HISTORY = "history"
MODELS = models_ui.MODELS
# The drawer's Library section: views that are not modes.
LIBRARY = {HISTORY: "History", MODELS: "Models"}
VIEWS = [*modes.MODES, *LIBRARY]
VIEW_TAGS = {**TAGS, HISTORY: "HISTORY", MODELS: "MODELS"}
DEFAULT_MODE = "t2v"
# Room for a script's many submissions (20 at once must all be accepted).
QUEUE_MAX = 64
# How often the page refreshes the remote workers' state.
WORKERS_EVERY_S = 5.0
# A number field becomes a slider when it has a range, a default and at most this many steps.
MAX_SLIDER_STEPS = 1000

# -- components from fields ------------------------------------------------------------------------


def _info(mode: modes.Mode, f: modes.Field) -> str | None:
    text = f.help
    if f.name == "preset" and mode.presets:
        text = "; ".join(f"{name}: {p.description}" for name, p in mode.presets.items())
    return text or None


def field_component(mode: modes.Mode, f: modes.Field) -> gr.Component:
    common = {"label": f.label or f.name, "elem_id": f"aio-{mode.name}-{f.name}"}
    info = _info(mode, f)
    if f.kind == "text":
        long = f.name.endswith("prompt")
        return gr.Textbox(
            value=f.default or "",
            lines=3 if long else 1,
            max_lines=10,
            info=info,
            max_length=f.max_len,
            **common,
        )
    if f.kind in ("int", "float"):
        step = f.step or (1 if f.kind == "int" else 0.01)
        bounded = f.min is not None and f.max is not None and f.default is not None
        if bounded and (f.max - f.min) / step <= MAX_SLIDER_STEPS:
            return gr.Slider(f.min, f.max, value=f.default, step=step, info=info, **common)
        return gr.Number(
            value=f.default,
            minimum=f.min,
            maximum=f.max,
            step=step,
            precision=0 if f.kind == "int" else None,
            info=info,
            **common,
        )
    if f.kind == "choice":
        return gr.Radio(list(f.choices), value=f.default, info=info, **common)
    if f.kind == "bool":
        return gr.Checkbox(value=bool(f.default), info=info, **common)
    if f.kind == "image":
        return gr.Image(type="filepath", sources=["upload", "clipboard"], height=220, **common)
    if f.kind == "audio":
        return gr.Audio(type="filepath", sources=["upload", "microphone"], **common)
    if f.kind == "video":
        return gr.Video(sources=["upload"], height=220, **common)
    raise ValueError(f"field {f.name} of mode {mode.name} has unknown kind {f.kind!r}")


def on_download(mode: str, *presets, progress=gr.Progress()):  # noqa: B008
    """The banner's download button: the weights of the mode whose job asked for them."""
    preset = dict(zip(modes.MODES, presets, strict=True)).get(mode) or "balanced"
    try:
        jobs.download_models(mode, preset, progress)
    except AppError as err:
        return notice(error_banner(err), download=True, mode=mode)
    title = modes.MODES[mode].title
    return notice(banner_html("ok", "Models ready", f"Everything {title} needs is on disk."))


def on_use_fast(mode: str):
    """The banner's preset fix: the failed job's mode gets the fast preset and is shown."""
    updates = [gr.update(value=FIX_PRESET) if m == mode else gr.update() for m in modes.MODES]
    said = f"{modes.MODES[mode].title} now uses the {FIX_PRESET} preset. Press Generate again."
    return [
        *updates,
        *on_switch(mode),
        *notice(banner_html("info", f"Preset set to {FIX_PRESET}", said)),
    ]


def on_switch(view: str):
    """Show one view (a mode's panel, History or Models); the outputs are `ui["switch"]`."""
    panels = [gr.update(visible=v == view) for v in VIEWS]
    buttons = [gr.update(variant="primary" if v == view else "secondary") for v in VIEWS]
    return [*panels, *buttons]


def replay_value(f: modes.Field, job: history.Job, values: dict, request=None):
    if f.kind in modes.MEDIA_KINDS:
        kept = job.inputs.get(f.name)
        if kept is None or not kept.is_file():
            return None
        return uploads.hand_out(kept, request) if request is not None else str(kept)
    if f.name == "duration":
        return job.params.get("duration")  # frames (as used) are set too, and win
    return values.get(f.name, f.default)


def on_use_settings(job_id: str | None, secret: str | None, request: gr.Request, ui: dict) -> list:
    """Put a History job's exact settings, seed and kept inputs back into its mode's panel (only
    the caller's own job: someone else's id finds nothing)."""
    owner = owners.scope(owners.of(request, secret))
    job = history.open_store().get(job_id, owner) if job_id else None
    keep = [gr.update() for comps in (*ui["fields"].values(), *ui["batch"].values()) for _ in comps]
    if job is None or job.mode not in modes.MODES:
        title = "Pick a job first"
        return [*keep, *[gr.update()] * len(ui["switch"]), *notice(banner_html("warn", title))]
    values = job.replay()
    updates = []
    for name, comps in ui["fields"].items():
        for field_name in comps:
            f = modes.MODES[name].field(field_name)
            updates.append(
                gr.update(value=replay_value(f, job, values, request))
                if name == job.mode
                else gr.update()
            )
    for name, comps in ui["batch"].items():
        # One job again: the batch options go back to their defaults.
        single = {batch_ui.PER_LINE: False, batch_ui.SEEDS: 1}
        updates += [gr.update(value=single[k]) if name == job.mode else gr.update() for k in comps]
    seed = "random (not recorded)" if job.seed is None else job.seed
    said = (
        f"Job {job.id}: seed {seed}, preset {values.get('preset')}. Press Generate to run it again."
    )
    return [*updates, *on_switch(job.mode), *notice(banner_html("info", "Settings loaded", said))]


def on_owner(secret):
    """The browser's owner secret (owners.py): kept when it has one, else a new one."""
    return secret if owners.valid_secret(secret) else owners.new_secret()


def on_load():
    """Say once per page load what History had to recover from (or why it cannot open)."""
    try:
        text, level = jobs.open_history().notice, "warn"
    except AppError as err:
        text, level = f"{err.message} {err.hint}", "error"
    return notice(banner_html(level, "History", text) if text else "")


def on_status():
    text = engine_banner()
    running = bootstrap.state().get("phase") == "running"
    return gr.update(value=text, visible=bool(text)), gr.update(active=running)


def on_workers():
    text = workers_html(jobs.workers())
    return gr.update(value=text, visible=bool(text))


# -- layout ----------------------------------------------------------------------------------------


def build_mode_panel(mode: modes.Mode, ui: dict) -> gr.Column:
    with gr.Column(
        visible=mode.name == DEFAULT_MODE,
        elem_classes="aio-panel",
        elem_id=f"aio-panel-{mode.name}",
    ) as panel:
        gr.Markdown(f"## {mode.title}\n{mode.description}", elem_classes="aio-panel-head")
        comps: dict[str, gr.Component] = {}
        with gr.Row(equal_height=False):
            with gr.Column(scale=5, min_width=320):
                for f in mode.fields:
                    if not f.advanced:
                        comps[f.name] = field_component(mode, f)
                with gr.Accordion("Advanced settings", open=False):
                    for f in mode.fields:
                        if f.advanced:
                            comps[f.name] = field_component(mode, f)
                options = batch_ui.controls(mode.name)
                with gr.Row(elem_classes="aio-actions"):
                    generate = gr.Button(
                        "Generate", variant="primary", elem_id=f"aio-generate-{mode.name}"
                    )
                    cancel = gr.Button("Cancel", variant="stop", elem_id=f"aio-cancel-{mode.name}")
            with gr.Column(scale=6, min_width=320):
                video = gr.Video(
                    label="Result",
                    interactive=False,
                    buttons=["download"],
                    elem_id=f"aio-video-{mode.name}",
                )
                used = gr.JSON(label="Parameters used", open=True, elem_id=f"aio-used-{mode.name}")
                queue = batch_ui.build_view(mode.name)
        # The API endpoint's own trigger: never shown, so the endpoint returns only what the API
        # promises (video + parameters), not the page's banner updates.
        api_trigger = gr.Button(visible=False)

    api_trigger.click(
        make_api_handler(mode),
        inputs_kwargs=comps,
        outputs=[video, used],
        validator=make_api_submit(mode),
        api_name=mode.name,
        api_description=api_docstring(mode).split("\n\nArgs:")[0],
        preprocess=False,
        concurrency_id="gpu",
        concurrency_limit=jobs.slots(),
    )
    start = generate.click(
        notice,
        outputs=ui["notice"],
        queue=False,
        api_visibility="private",
    )
    job = start.then(
        make_ui_handler(mode),
        inputs_kwargs={**comps, **options, OWNER: ui["owner"]},
        outputs=[video, used, *ui["notice"], *queue.outputs],
        preprocess=False,
        show_progress_on=[video],
        concurrency_id="gpu",
        concurrency_limit=jobs.slots(),
        api_visibility="private",
    )
    cancel.click(
        on_cancel,
        inputs=[queue.ids, ui["owner"]],
        outputs=[*ui["notice"], *queue.outputs],
        cancels=[job],
        queue=False,
        api_visibility="private",
    )
    ui["presets"][mode.name] = comps["preset"]
    ui["fields"][mode.name] = comps
    ui["batch"][mode.name] = options
    return panel


def wire_opening(ui: dict, name: str, refresh, view) -> None:
    """A Library button shows its view, then fills it with things as they are now."""
    ui["library"][name].click(
        lambda: on_switch(name), outputs=ui["switch"], queue=False, api_visibility="private"
    ).then(
        refresh,
        inputs=view.refresh_inputs,
        outputs=view.refresh_outputs,
        api_visibility="private",
    )


def wire_history(ui: dict, view: history_ui.HistoryView) -> None:
    """Opening History lists the jobs; "use these settings" goes back into a mode's panel."""
    wire_opening(ui, HISTORY, history_ui.on_refresh, view)
    fields = [
        c for group in (*ui["fields"].values(), *ui["batch"].values()) for c in group.values()
    ]

    def use_settings(job_id: str | None, secret: str | None, request: gr.Request) -> list:
        return on_use_settings(job_id, secret, request, ui)

    view.use.click(
        use_settings,
        inputs=[view.selected, ui["owner"]],
        outputs=[*fields, *ui["switch"], *ui["notice"]],
        api_visibility="private",
    )


def build_app() -> gr.Blocks:
    with gr.Blocks(title=TITLE) as demo:
        ui: dict = {"presets": {}, "fields": {}, "batch": {}}
        # Who this browser is, on a shared deployment (owners.py): a secret kept in the browser,
        # encrypted with a key that outlives restarts (else everyone's History would vanish).
        ui["owner"] = gr.BrowserState(
            None, storage_key=owners.STORAGE_KEY, secret=owners.browser_state_key()
        )
        with gr.Column(elem_classes="aio-shell", elem_id="aio-shell"):
            gr.HTML(
                ui_theme.header_html(TITLE, "LTX-2.3 audio + video", TAGS[DEFAULT_MODE]),
                elem_classes="aio-header",
                elem_id="aio-header",
            )
            gr.HTML("<div></div>", elem_classes="aio-scrim", elem_id="aio-scrim")
            with gr.Row(elem_classes="aio-body"):
                with gr.Column(scale=0, min_width=220, elem_classes="aio-drawer"):
                    gr.HTML('<div class="aio-drawer-label">Modes</div>')
                    mode_buttons = [
                        gr.Button(
                            m.title,
                            variant="primary" if name == DEFAULT_MODE else "secondary",
                            elem_id=f"aio-mode-{name}",
                            elem_classes="aio-mode-btn",
                        )
                        for name, m in modes.MODES.items()
                    ]
                    gr.HTML('<div class="aio-drawer-label">Library</div>')
                    ui["library"] = {
                        view: gr.Button(
                            label,
                            variant="secondary",
                            elem_id=f"aio-mode-{view}",
                            elem_classes="aio-mode-btn",
                        )
                        for view, label in LIBRARY.items()
                    }
                    if owners.login_offered():  # a Space with hf_oauth: History follows the user
                        gr.LoginButton(elem_id="aio-login", elem_classes="aio-mode-btn")
                with gr.Column(scale=1, elem_classes="aio-main"):
                    first_status = engine_banner()
                    status = gr.HTML(first_status, visible=bool(first_status), elem_id="aio-status")
                    first_workers = workers_html(jobs.workers())
                    workers = gr.HTML(
                        first_workers, visible=bool(first_workers), elem_id="aio-workers"
                    )
                    banner = gr.HTML("", visible=False, elem_id="aio-banner")
                    with gr.Row(visible=False, elem_id="aio-fixes") as fixes:
                        download = gr.Button(
                            "Download models for this mode",
                            visible=False,
                            scale=0,
                            min_width=260,
                            elem_id="aio-download",
                        )
                        use_fast = gr.Button(
                            "Switch to the fast preset",
                            visible=False,
                            scale=0,
                            min_width=220,
                            elem_id="aio-use-fast",
                        )
                    # The mode the banner's buttons act on: the one whose job failed.
                    notice_mode = gr.State(DEFAULT_MODE)
                    ui["notice"] = [banner, fixes, download, use_fast, notice_mode]
                    panels = [build_mode_panel(m, ui) for m in modes.MODES.values()]
                    history_view = history_ui.build(ui["owner"])
                    models_view = models_ui.build()

        ui["switch"] = [
            *panels,
            history_view.panel,
            models_view.panel,
            *mode_buttons,
            *ui["library"].values(),
        ]
        for name, button in zip(modes.MODES, mode_buttons, strict=True):
            button.click(
                lambda m=name: on_switch(m),
                outputs=ui["switch"],
                queue=False,
                api_visibility="private",
            )
        wire_history(ui, history_view)
        wire_opening(ui, MODELS, models_ui.on_refresh, models_view)
        presets = [ui["presets"][m] for m in modes.MODES]
        download.click(
            on_download,
            inputs=[notice_mode, *presets],
            outputs=ui["notice"],
            show_progress_on=[banner],
            concurrency_id="download",
            api_visibility="private",
        )
        use_fast.click(
            on_use_fast,
            inputs=[notice_mode],
            outputs=[*presets, *ui["switch"], *ui["notice"]],
            queue=False,
            api_visibility="private",
        )
        timer = gr.Timer(3.0, active=bootstrap.state().get("phase") == "running")
        timer.tick(on_status, outputs=[status, timer], queue=False, api_visibility="private")
        demo.load(on_status, outputs=[status, timer], queue=False, api_visibility="private")
        if first_workers:  # remote workers: their state follows them
            watch = gr.Timer(WORKERS_EVERY_S)
            watch.tick(on_workers, outputs=[workers], queue=False, api_visibility="private")
            demo.load(on_workers, outputs=[workers], queue=False, api_visibility="private")
        demo.load(on_load, outputs=ui["notice"], queue=False, api_visibility="private")
        demo.load(
            on_owner,
            inputs=[ui["owner"]],
            outputs=[ui["owner"]],
            queue=False,
            api_visibility="private",
        )
    demo.queue(max_size=QUEUE_MAX)
    return demo


def mcp_available() -> bool:
    return importlib.util.find_spec("mcp") is not None


def launch_options() -> dict:
    """Everything `launch()` needs besides host/port (Gradio 6: theme, css and head go here)."""
    return {
        "theme": ui_theme.build_theme(),
        "css": ui_theme.CSS,
        "head": ui_theme.head_html(VIEW_TAGS),
        # Gradio copies a returned file into its cache only from an allowed place: History's
        # outputs, kept inputs and thumbnails live in the data dir. Fetching anything there
        # directly is refused (served_files.py); only the cache copies are served.
        "allowed_paths": [str(history.data_dir())],
        "app_kwargs": {
            # Opened on each check: a data dir that cannot be opened makes /healthz say so.
            "routes": [health.route(history.open_store)],
            "middleware": [
                api_cancel.middleware(),
                api_refusals.middleware(),
                uploads.middleware(),
                served_files.middleware(history.data_dir),
            ],
        },
        "max_file_size": max(media.MAX_FILE_BYTES.values()),
        "mcp_server": mcp_available(),
        "show_error": False,
    }


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # Clones the pinned ComfyUI in the background: the page is served at once, even offline.
    bootstrap.start_background()
    try:
        store = jobs.open_history()
        jobs.sweep_leftovers(store)
        jobs.prune(store)
    except AppError as err:  # the page still opens; History and /healthz say what is wrong
        log.error("History is unavailable: %s", err)
    demo = build_app()
    demo.launch(**launch_options())


if __name__ == "__main__":
    main()
