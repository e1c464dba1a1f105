"""LTX 2.3 AIO Generator: six mode panels, one named API endpoint per mode, status and errors.

Layout code here builds components from `modes.MODES` (every field is declared once, there) and
wires thin handlers to `jobs.run`. Each mode has two events over the same components: the panel's
Generate button (private; errors become the page's banner) and `/<mode>` (public API and MCP tool;
errors become `gr.Error` in `api_error()`, the one place that happens). Importing this module
imports neither torch nor ComfyUI; `main()` starts the pinned-install bootstrap and serves the page.
"""

from __future__ import annotations

import html
import importlib.util
import inspect
import logging

import hfcache

# On a Space the build-time model cache is read-only: mirror it and point HF_HOME at the copy
# before anything imports huggingface_hub (gradio does). Elsewhere this does nothing.
hfcache.activate_mirror()

import gradio as gr

import backend
import bootstrap
import jobs
import media
import modes
import ui_theme
from errors import AppError

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
DEFAULT_MODE = "t2v"
QUEUE_MAX = 16
# A number field becomes a slider when it has a range, a default and at most this many steps.
MAX_SLIDER_STEPS = 1000
FIX_PRESET = "fast"

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


def _param_doc(f: modes.Field) -> str:
    parts = [f.help or f.label]
    if f.kind in modes.MEDIA_KINDS:
        parts.append(f"({f.kind} file)")
    elif f.range_text():
        parts.append(f"({f.kind}, {f.range_text()})")
    else:
        parts.append(f"({f.kind})")
    if f.required:
        parts.append("Required.")
    return " ".join(p.strip() for p in parts if p)


def api_signature(mode: modes.Mode) -> inspect.Signature:
    """Keyword parameters named after the mode's fields; media fields without a default."""
    params = []
    for f in mode.fields:
        default = inspect.Parameter.empty if f.kind in modes.MEDIA_KINDS else f.default
        params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=default))
    return inspect.Signature(params)


def api_docstring(mode: modes.Mode) -> str:
    lines = [f"{mode.title}: {mode.description}", "", "Args:"]
    lines += [f"    {f.name}: {_param_doc(f)}" for f in mode.fields]
    lines += [
        "",
        "Returns:",
        "    The generated mp4 (video with its audio track).",
        "    The parameters actually used after snapping (seed, preset, width, height, frames, "
        "fps, ...).",
    ]
    return "\n".join(lines)


# -- banners ---------------------------------------------------------------------------------------


def banner_html(level: str, title: str, message: str = "", *, where="", hint="", items=()) -> str:
    esc = html.escape
    role = "alert" if level == "error" else "status"
    parts = [
        f'<div class="aio-banner aio-banner--{level}" role="{role}">',
        f'<span class="aio-banner-title">{esc(title)}</span>',
    ]
    if where:
        parts.append(f'<span class="aio-banner-where">{esc(where)}:</span> ')
    if message:
        parts.append(f"<span>{esc(message)}</span>")
    if items:
        parts.append("<ul>" + "".join(f"<li>{esc(str(i))}</li>" for i in items) + "</ul>")
    if hint:
        parts.append(f'<div class="aio-banner-hint">{esc(hint)}</div>')
    parts.append("</div>")
    return "".join(parts)


def error_banner(err: AppError) -> str:
    level = "info" if err.kind == "interrupted" else "error"
    return banner_html(
        level,
        jobs.TITLES.get(err.kind, "Error"),
        err.message,
        where=err.where,
        hint=jobs.hint_for(err),
    )


def success_banner(used: dict) -> str:
    summary = (
        f"{used.get('width')}x{used.get('height')}, {used.get('frames')} frames at "
        f"{used.get('fps')} fps, seed {used.get('seed')}, preset {used.get('preset')}, "
        f"{used.get('seconds')} s"
    )
    return banner_html("ok", "Done", summary, items=used.get("notes") or ())


def engine_banner() -> str:
    status = backend.engine_status()
    if status.get("ready"):
        return ""
    return banner_html(
        "warn",
        "Generation is unavailable right now",
        "The page works, but nothing can be generated until this is fixed:",
        items=status.get("problems") or ["the engine is not ready"],
    )


def api_error(err: AppError) -> gr.Error:
    """The one place an AppError becomes a gr.Error (message says the kind and what to do)."""
    return gr.Error(
        jobs.describe(err), title=jobs.TITLES.get(err.kind, "Error"), print_exception=False
    )


# -- handlers --------------------------------------------------------------------------------------


def _plain(values: dict) -> dict:
    """Gradio payloads (events run with preprocess=False) -> plain values, files as paths."""
    out = {}
    for name, value in values.items():
        if isinstance(value, dict) and "path" in value:
            value = value.get("path")
        out[name] = value
    return out


def make_api_handler(mode: modes.Mode):
    def handler(progress=gr.Progress(), **values):  # noqa: B008 (Gradio's progress idiom)
        try:
            result = jobs.run(mode.name, _plain(values), progress=progress, notify=gr.Warning)
        except AppError as err:
            log.info("%s job refused: %s", mode.name, err)
            raise api_error(err) from None
        return result.video, result.used

    handler.__name__ = mode.name
    handler.__qualname__ = mode.name
    handler.__doc__ = api_docstring(mode)
    # Gradio finds its progress tracker only among positional parameters.
    tracker = inspect.Parameter(
        "progress", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=gr.Progress()
    )
    handler.__signature__ = api_signature(mode).replace(
        parameters=[tracker, *api_signature(mode).parameters.values()]
    )
    return handler


def notice(text: str = "", *, download: bool = False, fast: bool = False) -> list:
    """Updates for the banner and its action buttons (the outputs `ui["notice"]` lists)."""
    return [
        gr.update(value=text, visible=bool(text)),
        gr.update(visible=download or fast),
        gr.update(visible=download),
        gr.update(visible=fast),
    ]


def make_ui_handler(mode: modes.Mode):
    def handler(progress=gr.Progress(), **values):  # noqa: B008
        params = _plain(values)
        try:
            result = jobs.run(mode.name, params, progress=progress, notify=gr.Warning)
        except AppError as err:
            log.info("%s job failed: %s", mode.name, err)
            return [
                gr.update(),
                gr.update(),
                *notice(
                    error_banner(err),
                    download=err.kind in ("missing_model", "download_failed"),
                    fast=err.kind in ("oom", "gpu_timeout") and params.get("preset") != FIX_PRESET,
                ),
            ]
        return [result.video, result.used, *notice(success_banner(result.used))]

    return handler


def on_cancel():
    backend.cancel()
    return notice(banner_html("info", "Cancelling", "The running job is being stopped."))


def on_download(mode: str, *presets, progress=gr.Progress()):  # noqa: B008
    preset = dict(zip(modes.MODES, presets, strict=True)).get(mode) or "balanced"
    try:
        jobs.download_models(mode, preset, progress)
    except AppError as err:
        return notice(error_banner(err), download=True)
    return notice(banner_html("ok", "Models ready", f"Everything {TAGS[mode]} needs is on disk."))


def on_use_fast(mode: str):
    updates = [gr.update(value=FIX_PRESET) if m == mode else gr.update() for m in modes.MODES]
    return [*updates, *notice(banner_html("info", "Preset set to fast", "Press Generate again."))]


def on_switch(mode: str):
    panels = [gr.update(visible=m == mode) for m in modes.MODES]
    buttons = [gr.update(variant="primary" if m == mode else "secondary") for m in modes.MODES]
    return [*panels, *buttons, mode]


def on_status():
    text = engine_banner()
    running = bootstrap.state().get("phase") == "running"
    return gr.update(value=text, visible=bool(text)), gr.update(active=running)


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
        # The API endpoint's own trigger: never shown, so the endpoint returns only what the API
        # promises (video + parameters), not the page's banner updates.
        api_trigger = gr.Button(visible=False)

    api_trigger.click(
        make_api_handler(mode),
        inputs_kwargs=comps,
        outputs=[video, used],
        api_name=mode.name,
        api_description=api_docstring(mode).split("\n\nArgs:")[0],
        preprocess=False,
        concurrency_id="gpu",
        concurrency_limit=1,
    )
    start = generate.click(
        notice,
        outputs=ui["notice"],
        queue=False,
        api_visibility="private",
    )
    job = start.then(
        make_ui_handler(mode),
        inputs_kwargs=comps,
        outputs=[video, used, *ui["notice"]],
        preprocess=False,
        show_progress_on=[video],
        concurrency_id="gpu",
        concurrency_limit=1,
        api_visibility="private",
    )
    cancel.click(
        on_cancel, outputs=ui["notice"], cancels=[job], queue=False, api_visibility="private"
    )
    ui["presets"][mode.name] = comps["preset"]
    return panel


def build_extra_sections(ui: dict) -> None:
    """Where later sections plug in (issue 6: the History tab and the /healthz route)."""


def build_app() -> gr.Blocks:
    with gr.Blocks(title=TITLE) as demo:
        ui: dict = {"presets": {}}
        current = gr.State(DEFAULT_MODE)
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
                with gr.Column(scale=1, elem_classes="aio-main"):
                    first_status = engine_banner()
                    status = gr.HTML(first_status, visible=bool(first_status), elem_id="aio-status")
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
                    ui["notice"] = [banner, fixes, download, use_fast]
                    panels = [build_mode_panel(m, ui) for m in modes.MODES.values()]
                    build_extra_sections(ui)

        for name, button in zip(modes.MODES, mode_buttons, strict=True):
            button.click(
                lambda m=name: on_switch(m),
                outputs=[*panels, *mode_buttons, current],
                queue=False,
                api_visibility="private",
            )
        presets = [ui["presets"][m] for m in modes.MODES]
        download.click(
            on_download,
            inputs=[current, *presets],
            outputs=ui["notice"],
            show_progress_on=[banner],
            concurrency_id="download",
            api_visibility="private",
        )
        use_fast.click(
            on_use_fast,
            inputs=[current],
            outputs=[*presets, *ui["notice"]],
            queue=False,
            api_visibility="private",
        )
        timer = gr.Timer(3.0, active=bootstrap.state().get("phase") == "running")
        timer.tick(on_status, outputs=[status, timer], queue=False, api_visibility="private")
        demo.load(on_status, outputs=[status, timer], queue=False, api_visibility="private")
    demo.queue(max_size=QUEUE_MAX)
    return demo


def mcp_available() -> bool:
    return importlib.util.find_spec("mcp") is not None


def launch_options() -> dict:
    """Everything `launch()` needs besides host/port (Gradio 6: theme, css and head go here)."""
    out_dir = backend.output_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    return {
        "theme": ui_theme.build_theme(),
        "css": ui_theme.CSS,
        "head": ui_theme.head_html(TAGS),
        # Only ComfyUI's output folder is served besides Gradio's own upload cache.
        "allowed_paths": [str(out_dir.resolve())],
        "max_file_size": max(media.MAX_FILE_BYTES.values()),
        "mcp_server": mcp_available(),
        "show_error": False,
    }


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # Clones the pinned ComfyUI in the background: the page is served at once, even offline.
    bootstrap.start_background()
    demo = build_app()
    demo.launch(**launch_options())


if __name__ == "__main__":
    main()
