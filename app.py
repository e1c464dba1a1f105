"""LTX 2.3 AIO Generator: a panel per mode, one named API endpoint per mode, History, /healthz.

This module builds the page's shell (sticky header, the drawer of modes and Library views, the
status banner of readiness.py) around one panel per mode (panels_ui.py: components from the mode's
declared fields, Generate / Cancel and their outcome, the `/<mode>` endpoint). Every job is
recorded in History (history.py), which has its own view (history_ui.py) whose "use these settings"
comes back here to fill a panel, as a finished video's next steps do (extend, retake, its last
frame to image-to-video, restyle, its sound to audio-to-video: next_steps_ui.py). GET /healthz
(health.py) is served beside the page. Importing this module imports neither torch nor ComfyUI;
`main()` starts the pinned-install bootstrap and serves the page.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass, field

import hfcache

# On a Space the build-time model cache is read-only: mirror it and point HF_HOME at the copy
# before anything imports huggingface_hub (gradio does). Elsewhere this does nothing.
hfcache.activate_mirror()

import gradio as gr

import batch_ui
import bootstrap
import enhance_ui
import events_ui
import health
import history
import history_claim
import history_ui
import http_guards
import jobs
import media
import models
import models_ui
import modes
import next_steps
import next_steps_ui
import owners
import panels_ui
import pins
import quick_start
import readiness
import restarts
import theme_ui
import uploads_ui
from banners_ui import banner_html, engine_banner, page_notice, workers_html
from errors import AppError
from job_spec import SOURCE

log = logging.getLogger("ltx_aio.app")

TITLE = "LTX 2.3 AIO Generator"
TAGS = {
    "t2v": "T2V",
    "i2v": "I2V",
    "a2v": "A2V",
    "lipsync": "LIPSYNC",
    "keyframe": "KEY",
    "style": "STYLE",
    "extend": "EXTEND",
    "retake": "RETAKE",
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

# -- handlers ------------------------------------------------------------------------------------


@dataclass
class Page:
    """The parts of the page that events reach across views: the browser's owner secret, the
    page's banner, each view's column and drawer button, and each mode's panel."""

    owner: gr.BrowserState
    banner: gr.HTML | None = None  # what concerns no one panel (History's recovery)
    status: gr.HTML | None = None  # whether generation can run here (readiness.py)
    timer: gr.Timer | None = None  # refreshes `status` while the pins are being installed
    panels: dict[str, panels_ui.Panel] = field(default_factory=dict)  # mode -> its panel
    views: dict[str, gr.Column] = field(default_factory=dict)  # view -> its column
    buttons: dict[str, gr.Button] = field(default_factory=dict)  # view -> its drawer button

    @property
    def switch(self) -> list[gr.Component]:
        """What showing one view changes: every view's column and drawer button."""
        return [*self.views.values(), *self.buttons.values()]

    @property
    def settings(self) -> list[gr.Component]:
        """What loading a job's settings may change: every panel's fields, batch options and
        outcome, the views, and the page's banner."""
        parts = [
            c
            for panel in self.panels.values()
            for c in (
                *panel.fields.values(),
                *panel.batch.values(),
                *panel.shown.outcome.components,
            )
        ]
        return [*parts, *self.switch, self.banner]


def on_switch(view: str, page: Page) -> dict:
    """Show one view (a mode's panel, History or Models), its drawer button marked."""
    shown = {column: gr.update(visible=v == view) for v, column in page.views.items()}
    return shown | {
        button: gr.update(variant="primary" if v == view else "secondary")
        for v, button in page.buttons.items()
    }


def replay_value(f: modes.Field, job: history.Job, values: dict, request=None):
    if f.kind in modes.MEDIA_KINDS:
        kept = job.inputs.get(f.name)
        if kept is None or not kept.is_file():
            return None
        if request is None:
            return str(kept)
        # A kept input that came from another job still says so (a chain survives Run again).
        sources = job.params.get(SOURCE)
        source = sources.get(f.name) if isinstance(sources, dict) else None
        return uploads_ui.hand_out(kept, request, source=source)
    if f.name == "duration":
        return job.params.get("duration")  # frames (as used) are set too, and win
    return values.get(f.name, f.default)


def on_use_settings(
    job_id: str | None, secret: str | None, request: gr.Request, page: Page
) -> dict:
    """Put a History job's exact settings, seed and kept inputs back into its mode's panel (only
    the caller's own job: someone else's id finds nothing), and say so in that panel."""
    owner = owners.scope(owners.of(request, secret))
    job = history.open_store().get(job_id, owner) if job_id else None
    if job is None or job.mode not in modes.MODES:
        return {page.banner: page_notice(banner_html("warn", "Pick a job first"))}
    values = job.replay()
    panel = page.panels[job.mode]
    loaded = {
        component: gr.update(
            value=replay_value(modes.MODES[job.mode].field(name), job, values, request)
        )
        for name, component in panel.fields.items()
    }
    # One job again: the batch options go back to their defaults.
    single = {batch_ui.PER_LINE: False, batch_ui.SEEDS: 1}
    loaded |= {component: gr.update(value=single[k]) for k, component in panel.batch.items()}
    said = (
        f"Job {job.id}: {seed_text(job, values)}, preset {values.get('preset')}. "
        "Press Generate to run it again."
    )
    outcome = panel.shown.outcome.said("info", "Settings loaded", said)
    return loaded | outcome | on_switch(job.mode, page) | {page.banner: page_notice()}


def on_next_step(key: str, shown, secret: str | None, request: gr.Request, page: Page) -> dict:
    """A next step of the job a place shows (`shown`: History's selected id, or a result's
    record): its mode's panel opened with the input filled in from that job's video (only the
    caller's own job), and saying so in that panel."""
    action = next_steps.BY_KEY[key]
    opened = next_steps_ui.opened(key, shown, secret, request)
    if opened.refused:
        return {page.banner: page_notice(opened.refused)}
    panel = page.panels[action.mode]
    filled = {panel.fields[action.field]: gr.update(value=opened.value)}
    filled |= {panel.fields[name]: gr.update(value=v) for name, v in opened.values.items()}
    outcome = panel.shown.outcome.said("info", action.label, opened.said)
    return filled | outcome | on_switch(action.mode, page) | {page.banner: page_notice()}


def wire_next_steps(page: Page, nexts: next_steps_ui.NextSteps, shown: gr.Component) -> None:
    """Each next-step button of a place (`shown` holds the job it shows) opens its panel."""
    for key, button in nexts.buttons.items():
        action = next_steps.BY_KEY[key]
        panel = page.panels[action.mode]

        def press(value, secret, request: gr.Request, key=key) -> dict:
            return on_next_step(key, value, secret, request, page)

        button.click(
            press,
            inputs=[shown, page.owner],
            outputs=[
                panel.fields[action.field],
                *(panel.fields[name] for name in action.sets),
                *panel.shown.outcome.components,
                *page.switch,
                page.banner,
            ],
            api_visibility="private",
        )


# After "Run again" loaded a job's settings and showed its panel: press that panel's Generate,
# once the panel is on screen (no job picked: History stays, nothing is pressed).
PRESS_GENERATE = """() => new Promise((done) => {
  const started = Date.now();
  const tick = () => {
    const shown = [...document.querySelectorAll('[id^="aio-generate-"]')]
      .find((button) => button.offsetParent !== null);
    if (shown) { shown.click(); done(); }
    else if (Date.now() - started < 5000) requestAnimationFrame(tick);
    else done();
  };
  tick();
})"""


def seed_text(job: history.Job, values: dict) -> str:
    """The seed a job ran with; one that never ran has only the seed it asked for."""
    if job.seed is not None:
        return f"seed {job.seed}"
    asked = values.get("seed")
    if isinstance(asked, (int, float)) and asked >= 0:
        return f"seed {int(asked)}"
    return "a random seed (it never ran)"


def on_owner(secret):
    """The browser's owner secret (owners.py): kept when it has one, else a new one."""
    return secret if owners.valid_secret(secret) else owners.new_secret()


def on_load():
    """Say once per page load what History had to recover from (or why it cannot open)."""
    try:
        text, level = jobs.open_history().notice, "warn"
    except AppError as err:
        text, level = f"{err.message} {err.hint}", "error"
    return page_notice(banner_html(level, "History", text) if text else "")


def on_status(page: Page) -> dict:
    """The engine's banner, and its refresh timer while the pins are being installed."""
    text = engine_banner()
    running = bootstrap.state().get("phase") == "running"
    return {
        page.status: gr.update(value=text, visible=bool(text)),
        page.timer: gr.update(active=running),
    }


def on_workers():
    text = workers_html(jobs.workers(), jobs.endpoint())
    return gr.update(value=text, visible=bool(text))


# -- layout ----------------------------------------------------------------------------------------


def wire_opening(page: Page, name: str, refresh, view) -> None:
    """A Library button shows its view, then fills it with things as they are now."""
    page.buttons[name].click(
        lambda: on_switch(name, page), outputs=page.switch, queue=False, api_visibility="private"
    ).then(
        refresh,
        inputs=view.refresh_inputs,
        outputs=view.refresh_outputs,
        api_visibility="private",
    )


def wire_history(page: Page, view: history_ui.HistoryView) -> None:
    """Opening History lists the jobs; "use these settings" goes back into a mode's panel."""
    wire_opening(page, HISTORY, view.on_refresh, view)

    def use_settings(job_id: str | None, secret: str | None, request: gr.Request) -> dict:
        return on_use_settings(job_id, secret, request, page)

    view.use.click(
        use_settings,
        inputs=[view.selected, page.owner],
        outputs=page.settings,
        api_visibility="private",
    )
    view.run_again.click(
        use_settings,
        inputs=[view.selected, page.owner],
        outputs=page.settings,
        api_visibility="private",
    ).then(None, js=PRESS_GENERATE, api_visibility="private")


def build_app() -> gr.Blocks:
    with gr.Blocks(title=TITLE) as demo:
        # Who this browser is, on a shared deployment (owners.py): a secret kept in the browser,
        # encrypted with a key that outlives restarts (else everyone's History would vanish).
        page = Page(
            owner=gr.BrowserState(
                None, storage_key=owners.STORAGE_KEY, secret=owners.browser_state_key()
            )
        )
        with gr.Column(elem_classes="aio-shell", elem_id="aio-shell"):
            gr.HTML(
                theme_ui.header_html(
                    TITLE, "LTX-2.5 + LTX-2.3 audio and video", TAGS[DEFAULT_MODE]
                ),
                elem_classes="aio-header",
                elem_id="aio-header",
            )
            gr.HTML("<div></div>", elem_classes="aio-scrim", elem_id="aio-scrim")
            with gr.Row(elem_classes="aio-body"):
                with gr.Column(scale=0, min_width=220, elem_classes="aio-drawer"):
                    gr.HTML('<div class="aio-drawer-label">Modes</div>')
                    page.buttons = {
                        name: gr.Button(
                            m.title,
                            variant="primary" if name == DEFAULT_MODE else "secondary",
                            elem_id=f"aio-mode-{name}",
                            elem_classes="aio-mode-btn",
                        )
                        for name, m in modes.MODES.items()
                    }
                    gr.HTML('<div class="aio-drawer-label">Library</div>')
                    page.buttons |= {
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
                    first_workers = workers_html(jobs.workers(), jobs.endpoint())
                    workers = gr.HTML(
                        first_workers, visible=bool(first_workers), elem_id="aio-workers"
                    )
                    page.banner = gr.HTML("", visible=False, elem_id="aio-banner")
                    starts, quick = {}, quick_start.reason()
                    for name, mode in modes.MODES.items():
                        panel = panels_ui.build(
                            mode, visible=name == DEFAULT_MODE, owner=page.owner, quick=quick
                        )
                        page.panels[name] = panel
                        page.views[name] = panel.column
                        starts.update(panel.starts)
                    enhance_ui.build_api()  # /enhance: the panels' Enhance, for scripts
                    history_view = history_ui.build(page.owner)
                    models_view = models_ui.build()
                    page.views |= {HISTORY: history_view.panel, MODELS: models_view.panel}

        for name in modes.MODES:
            page.buttons[name].click(
                lambda m=name: on_switch(m, page),
                outputs=page.switch,
                queue=False,
                api_visibility="private",
            )
        wire_history(page, history_view)
        wire_next_steps(page, history_view.next, history_view.selected)
        for panel in page.panels.values():
            wire_next_steps(page, panel.next, panel.shown.record)
        wire_opening(page, MODELS, models_view.on_refresh, models_view)
        page.status = status
        page.timer = gr.Timer(3.0, active=bootstrap.state().get("phase") == "running")
        status_parts = {"outputs": [page.status, page.timer], "queue": False}
        page.timer.tick(lambda: on_status(page), **status_parts, api_visibility="private")
        demo.load(lambda: on_status(page), **status_parts, api_visibility="private")
        if first_workers:  # remote workers: their state follows them
            watch = gr.Timer(WORKERS_EVERY_S)
            watch.tick(on_workers, outputs=[workers], queue=False, api_visibility="private")
            demo.load(on_workers, outputs=[workers], queue=False, api_visibility="private")
        demo.load(on_load, outputs=[page.banner], queue=False, api_visibility="private")
        if starts:  # quick_start.py: the page starts on quick settings here, the API does not
            demo.load(
                lambda: dict(starts),
                outputs=list(starts),
                queue=False,
                api_visibility="private",
            )
        # On ZeroGPU, jobs of this visitor that waited at a restart run within this visit.
        demo.load(
            events_ui.on_return,
            inputs=[page.owner],
            outputs=[page.banner],
            concurrency_limit=None,
            show_progress="hidden",
            api_visibility="private",
        )
        demo.load(
            on_owner,
            inputs=[page.owner],
            outputs=[page.owner],
            queue=False,
            api_visibility="private",
        )
    demo.queue(max_size=QUEUE_MAX)
    return demo


def mcp_available() -> bool:
    return importlib.util.find_spec("mcp") is not None


def launch_options() -> dict:
    """Everything `launch()` needs besides host/port (Gradio 6: theme, css and head go here)."""
    options = {
        "theme": theme_ui.build_theme(),
        "css": theme_ui.CSS,
        "head": theme_ui.head_html(VIEW_TAGS),
        # Gradio copies a returned file into its cache only from an allowed place: History's
        # outputs, kept inputs and thumbnails live in the data dir. Fetching anything there
        # directly is refused (served_files.py); only the cache copies are served.
        "allowed_paths": [str(history.data_dir())],
        "app_kwargs": {
            # Opened on each check: a data dir that cannot be opened makes /healthz say so.
            "routes": [health.route(history.open_store)],
            "middleware": http_guards.middleware(history.data_dir),
        },
        "max_file_size": max(media.MAX_FILE_BYTES.values()),
        # Gradio starts at most this many events at once (and as many threads for blocking
        # handlers): jobs wait for the GPU in jobs.TURNS, each holding one such event (no
        # thread), and the server takes at most LINE_MAX waiting jobs, so every job in line can
        # start waiting and the page's own events (History, cancel) still find room.
        "max_threads": jobs.LINE_MAX + 32,
        "mcp_server": mcp_available(),
        "show_error": False,
    }
    if mcp_available():  # the tools say and do what the API does (mcp_ui.py)
        import mcp_ui

        options["app_kwargs"]["lifespan"] = mcp_ui.lifespan
    return options


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    data = history.data_dir()
    if not history_claim.claim(data):
        # Two apps on one History would each take the other's running jobs for leftovers of a
        # stopped run, and share one GPU without taking turns.
        log.error(
            "Another copy of this app (process %s) is using the data dir %s. Stop it first, or "
            "give this one a data dir of its own (LTX_AIO_DATA_DIR).",
            history_claim.claimant(data) or "unknown",
            data,
        )
        raise SystemExit(1)
    try:
        store = jobs.open_history()
    except AppError as err:  # the page still opens; History and /healthz say what is wrong
        log.error("History is unavailable: %s", err)
        store = None
    # Installs the pinned ComfyUI in the background: the page is served at once, even offline.
    # The console says what the page's status banner says once, when the install is done (at
    # once where nothing needs installing).
    if not all(pins.is_installed(pin) for pin in pins.needed_pins()):
        log.info(
            "Installing the pinned ComfyUI and node packs into %s; the console says here when "
            "that is done and whether generation is ready.",
            pins.comfy_dir(),
        )
    bootstrap.start_background(on_done=lambda _: readiness.log_lines())
    for name in ("LTX_AIO_MAX_WAITING", uploads_ui.UPLOAD_ENV, "LTX_AIO_OWNER_QUOTA_GB"):
        raw = os.environ.get(name, "").strip()
        try:
            float(raw or 0)
        except ValueError:
            log.warning("%s=%r is not a number: its default applies.", name, raw)
    if owners.bad_proxies():
        log.warning(
            "%s: %s is neither an address, a network (CIDR) nor `private`; it is ignored, so "
            "forwarded headers from it are not believed.",
            owners.PROXIES_ENV,
            ", ".join(owners.bad_proxies()),
        )
    if store is not None:
        try:
            restarts.sweep_leftovers(store)
            jobs.prune(store)
            restarts.resume_in_background(store)  # the jobs that were waiting when it last stopped
        except AppError as err:
            log.error("History is unavailable: %s", err)
    demo = build_app()
    # Every mode's graphs built once before serving (about a second, cached after): /healthz
    # then answers from them at once, the first time too.
    try:
        models.model_status()
    except Exception:  # never a reason not to start: /healthz says what is wrong
        log.exception("the model status could not be read at start")
    demo.launch(**launch_options())


if __name__ == "__main__":
    main()
