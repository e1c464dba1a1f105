"""One mode's panel: a component per declared field, Generate and Cancel, and right below them the
outcome of the last action, with the fix it offers (fetch this mode's weights, switch it to the
fast preset).

The outcome sits where the user just clicked: the page's head script scrolls it into view and
marks the field a refusal names (theme_ui.py). Each panel has two events over the same components
(events_ui.py): Generate (private; one job or a batch) and `/<mode>` (the public API and MCP
tool). Layout and wiring only: what a job is, is decided in jobs.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import gradio as gr

import api_docs
import batch_ui
import enhance_ui
import jobs
import live_ui
import modes
import next_steps_ui
import outcome_ui
import quick_start
from banners_ui import FIX_PRESET, banner_html, error_banner
from errors import AppError
from events_ui import (
    OWNER,
    PREVIEWS,
    Shown,
    make_api_handler,
    make_api_submit,
    make_cancel,
    make_ui_handler,
)

# A number field becomes a slider when it has a range, a default and at most this many steps.
MAX_SLIDER_STEPS = 1000


@dataclass
class Panel:
    column: gr.Column
    fields: dict[str, gr.Component]
    batch: dict[str, gr.Component]
    shown: Shown  # where a job's video, parameters, outcome and queue are shown
    next: next_steps_ui.NextSteps  # the result's next steps (app.py wires their presses)
    # The page's starting values where they are not the declared defaults (quick_start.py): set
    # when the page loads, so that the API's defaults stay the declared ones.
    starts: dict = field(default_factory=dict)  # component -> value


def field_component(mode: modes.Mode, f: modes.Field) -> gr.Component:
    """The component for one declared field; its API schema is the field's (api_docs.py)."""
    component = _component(mode, f)
    api_docs.document(component, f)
    return component


def _component(mode: modes.Mode, f: modes.Field) -> gr.Component:
    common = {"label": f.title, "elem_id": f"aio-{mode.name}-{f.name}"}
    if f.suggest:  # values to pick from, those of the panel's model (suggested, below)
        return gr.Dropdown(
            f.suggestions(mode.models[0]), value=f.default, allow_custom_value=True,
            filterable=True, info=f.help or None, **common,
        )  # fmt: skip
    return COMPONENTS[f.kind](f, common, f.help or None)


def suggested(mode: modes.Mode, comps: dict[str, gr.Component]) -> None:
    """A field that suggests values per model family offers the chosen model's only."""
    offering = [f for f in mode.fields if f.suggest and f.name in comps]
    if not offering or "model" not in comps:
        return

    def on_model(model: str) -> dict:
        return {comps[f.name]: gr.update(choices=f.suggestions(model)) for f in offering}

    comps["model"].change(
        on_model, inputs=[comps["model"]], outputs=[comps[f.name] for f in offering],
        queue=False, api_visibility="private",
    )  # fmt: skip


def _text(f: modes.Field, common: dict, info) -> gr.Component:
    long = f.name.endswith("prompt")
    return gr.Textbox(
        value=f.default,
        lines=3 if long else 1,
        max_lines=10,
        info=info,
        max_length=f.max_len,
        placeholder=f.placeholder or None,
        **common,
    )


def _number(f: modes.Field, common: dict, info) -> gr.Component:
    if f.default is None:
        # Empty means "derived" (from the input, the aspect, the preset): gr.Number cannot be
        # empty (Gradio 6 shows and sends 0), so a one-line text box, checked like any value.
        return gr.Textbox(
            value=None, lines=1, max_lines=1, placeholder=f.placeholder or None, info=info, **common
        )
    integer = f.kind == "int"
    step = f.step or (1 if integer else 0.01)
    precision = 0 if integer else None
    bounded = f.min is not None and f.max is not None
    if bounded and (f.max - f.min) / step <= MAX_SLIDER_STEPS:
        return gr.Slider(
            f.min, f.max, value=f.default, step=step, precision=precision, info=info, **common
        )
    return gr.Number(
        value=f.default,
        minimum=f.min,
        maximum=f.max,
        step=step,
        precision=precision,
        info=info,
        **common,
    )


# The component of each field kind (fields.KIND): one entry per kind, nothing else decides it.
COMPONENTS = {
    "text": _text,
    "int": _number,
    "float": _number,
    "choice": lambda f, common, info: gr.Radio(
        list(f.choices), value=f.default, info=info, **common
    ),
    "bool": lambda f, common, info: gr.Checkbox(value=bool(f.default), info=info, **common),
    "image": lambda f, common, info: gr.Image(
        type="filepath", sources=["upload", "clipboard"], height=220, **common
    ),
    "audio": lambda f, common, info: gr.Audio(
        type="filepath", sources=["upload", "microphone"], **common
    ),
    "video": lambda f, common, info: gr.Video(sources=["upload"], height=220, **common),
}
assert set(COMPONENTS) == set(modes.KINDS), "a field kind without a component"


def grouped(mode: modes.Mode, group: str, elem_id: str) -> dict[str, gr.Component]:
    """A group's fields in a closed section of their own ("More keyframes"): each media field
    starts a row with the fields after it (a keyframe's image, its time, its strength)."""
    comps: dict[str, gr.Component] = {}
    rows: list[list[modes.Field]] = [[]]
    for f in mode.fields:
        if f.group == group:
            if f.is_media and rows[-1]:
                rows.append([])
            rows[-1].append(f)
    with gr.Accordion(group, open=False, elem_id=elem_id):
        for row in rows:
            with gr.Row(equal_height=False):
                for f in row:
                    comps[f.name] = field_component(mode, f)
    return comps


def downloader(mode: str, outcome: outcome_ui.Outcome):
    def on_download(preset: str, model: str | None, progress=gr.Progress()) -> dict:  # noqa: B008
        """The outcome's download button: this mode's weights for the preset and model family
        it failed with."""
        try:
            jobs.download_models(mode, preset or "balanced", progress, model or None)
        except AppError as err:
            return outcome.say(error_banner(err), download=True)
        said = f"Everything {modes.MODES[mode].title} needs is on disk. Press Generate again."
        return outcome.said("ok", "Models ready", said)

    return on_download


def fast_preset(preset: gr.Component, outcome: outcome_ui.Outcome):
    def on_use_fast() -> dict:
        said = f"This panel now uses the {FIX_PRESET} preset. Press Generate again."
        return {preset: gr.update(value=FIX_PRESET)} | outcome.said("info", "Preset set", said)

    return on_use_fast


def build(
    mode: modes.Mode, *, visible: bool, owner: gr.BrowserState, quick: str | None = None
) -> Panel:
    """The panel; `owner` is the page's per-browser secret (owners.py), which every event that
    records or cancels a job gets; `quick`, why it starts on quick settings here
    (quick_start.reason), if it does."""
    with gr.Column(
        visible=visible, elem_classes="aio-panel", elem_id=f"aio-panel-{mode.name}"
    ) as column:
        gr.Markdown(f"## {mode.title}\n{mode.description}", elem_classes="aio-panel-head")
        said_quick = quick_start.note(mode, quick) if quick else ""
        if said_quick:
            gr.HTML(
                banner_html("info", "Quick start", said_quick),
                elem_id=f"aio-quick-{mode.name}",
                elem_classes="aio-quick",
            )
        comps: dict[str, gr.Component] = {}
        with gr.Row(equal_height=False):
            with gr.Column(scale=5, min_width=320):
                for f in mode.fields:
                    if not f.advanced and not f.group:
                        comps[f.name] = field_component(mode, f)
                    if f.name == "prompt":
                        enhance = enhance_ui.button(mode)
                    if f.name == modes.ENHANCED_PROMPT.name and mode.examples:  # below both boxes
                        gr.Examples(
                            [[text] for text in mode.examples],
                            inputs=[comps["prompt"]],
                            label="Example prompts",
                            cache_examples=False,
                            api_visibility="private",
                            elem_id=f"aio-{mode.name}-examples",
                        )
                for number, group in enumerate(
                    dict.fromkeys(f.group for f in mode.fields if f.group)
                ):
                    comps |= grouped(mode, group, f"aio-{mode.name}-group-{number}")
                with gr.Accordion("Advanced settings", open=False, elem_id=f"aio-{mode.name}-adv"):
                    for f in mode.fields:
                        if f.advanced and not f.group:
                            comps[f.name] = field_component(mode, f)
                options = batch_ui.controls(mode.name)
                with gr.Row(elem_classes="aio-actions"):
                    generate = gr.Button(
                        "Generate", variant="primary", elem_id=f"aio-generate-{mode.name}"
                    )
                    cancel = gr.Button("Cancel", variant="stop", elem_id=f"aio-cancel-{mode.name}")
                outcome = outcome_ui.build(mode.name)
            with gr.Column(scale=6, min_width=320, elem_classes="aio-result-col"):
                live = live_ui.build(mode.name)
                video = gr.Video(
                    label="Result",
                    interactive=False,
                    buttons=["download"],
                    elem_id=f"aio-video-{mode.name}",
                )
                previews = gr.Checkbox(
                    True,
                    label=live_ui.PREVIEW_LABEL,
                    info="Off sends only the progress line (for a slow connection).",
                    elem_id=f"aio-{mode.name}-previews",
                )
                nexts = next_steps_ui.build(mode.name)
                used = gr.JSON(label="Parameters used", open=True, elem_id=f"aio-used-{mode.name}")
                queue = batch_ui.build_view(mode.name)
        # The API endpoint's own trigger: never shown, so the endpoint returns only what the API
        # promises (video + parameters), not the page's banner updates.
        api_trigger = gr.Button(visible=False)
        # Whether this panel's Generate is in flight (between the click and its first update too).
        busy = gr.State(False)
    shown = Shown(video=video, record=used, outcome=outcome, queue=queue, busy=busy, live=live)

    api_trigger.click(
        make_api_handler(mode),
        inputs_kwargs=comps,
        outputs=[video, used],
        validator=make_api_submit(mode),
        api_name=mode.name,
        api_description=api_docs.docstring(mode).split("\n\nArgs:")[0],
        preprocess=False,
        concurrency_id="gpu",
        concurrency_limit=None,  # every job enters and waits its turn in jobs.TURNS
    )
    private = {"api_visibility": "private"}
    start = generate.click(
        lambda: {busy: True} | outcome.say(),
        outputs=[busy, *outcome.components],
        queue=False,
        **private,
    )
    job = start.then(
        make_ui_handler(mode, shown),
        inputs_kwargs={**comps, **options, OWNER: owner, PREVIEWS: previews},
        outputs=shown.outputs,
        preprocess=False,
        **live_ui.progress_options(video),
        concurrency_id="gpu",
        concurrency_limit=None,  # every job enters and waits its turn in jobs.TURNS
        **private,
    )
    job.then(lambda: False, outputs=[busy], queue=False, **private)
    # The result shown is a job's (its record names it): its next steps follow it.
    used.change(
        nexts.on_shown, inputs=[used, owner], outputs=nexts.components, queue=False, **private
    )
    cancel.click(
        make_cancel(shown),
        inputs=[queue.ids, busy, owner],
        outputs=[busy, live, *outcome.components, *queue.outputs],
        cancels=[job],
        queue=False,
        **private,
    )
    enhance_ui.wire(mode, enhance, comps, outcome)
    outcome.download.click(
        downloader(mode.name, outcome),
        inputs=[comps["preset"], comps["model"]],
        outputs=outcome.components,
        show_progress_on=[outcome.banner],
        concurrency_id="download",
        **private,
    )
    outcome.use_fast.click(
        fast_preset(comps["preset"], outcome),
        outputs=[comps["preset"], *outcome.components],
        queue=False,
        **private,
    )
    suggested(mode, comps)
    starts = quick_start.values(mode) if quick else {}
    return Panel(
        column=column,
        fields=comps,
        batch=options,
        shown=shown,
        next=nexts,
        starts={comps[name]: value for name, value in starts.items()},
    )
