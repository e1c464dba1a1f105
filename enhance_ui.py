"""The prompt enhancer on the page and in the API (enhance.py does the work, through jobs.py).

Each prompted panel's Enhance button rewrites what its prompt box says (with the panel's image
where the mode has one, on the panel's model family) and puts the rewrite into the box, to edit
before Generate; a script's `/enhance` gets the text back. Both run in the GPU task, as a job
does; a bad input is one message naming the field.
"""

from __future__ import annotations

import gradio as gr

import jobs
import modes
from errors import AppError
from events_ui import api_error
from outcome_ui import Outcome

ENHANCED_SAID = "The prompt box holds the rewrite: edit it as you like, then Generate."
API_DESCRIPTION = (
    "Rewrite a short prompt into a detailed one in Lightricks' style, on the model family's own "
    "Gemma text encoder (ComfyUI's TextGenerateLTX2Prompt), seeing the image when one is given "
    "(an image-to-video rewrite). Returns the text; pass it as a mode's prompt, or set a mode's "
    "enhance_prompt to have the job enhance its prompt itself."
)


def button(mode: modes.Mode) -> gr.Button:
    return gr.Button(
        "Enhance", size="sm", variant="secondary", elem_id=f"aio-enhance-{mode.name}",
        elem_classes="aio-enhance",
    )  # fmt: skip


def wire(mode: modes.Mode, trigger: gr.Button, fields: dict, outcome: Outcome) -> None:
    """The panel's Enhance button: its prompt box gets the rewrite, the banner says so (or what
    was wrong)."""
    prompt, image = fields["prompt"], fields.get(mode.enhance_image or "")

    def on_enhance(text, family, picture=None, progress=gr.Progress()):  # noqa: B008
        try:
            rewrite = jobs.enhance_prompt(family, text, picture, progress)
        except AppError as err:
            return {prompt: gr.update()} | outcome.failed(err, {})
        return {prompt: gr.update(value=rewrite)} | outcome.said(
            "info", "Prompt enhanced", ENHANCED_SAID
        )

    trigger.click(
        on_enhance,
        inputs=[prompt, fields["model"], *([image] if image is not None else [])],
        outputs=[prompt, *outcome.components],
        show_progress_on=[prompt],
        concurrency_id="gpu",
        concurrency_limit=None,
        api_visibility="private",
    )


def build_api() -> None:
    """`/enhance`: prompt, model (a family; LTX-2.5 by default), image (optional) -> the text."""
    families = tuple(modes.MODEL_TITLES)
    with gr.Column(visible=False):
        prompt = gr.Textbox(label="prompt")
        model = gr.Dropdown(list(families), value=families[0], label="model")
        image = gr.Image(type="filepath", label="image")
        text = gr.Textbox(label="enhanced_prompt")
        trigger = gr.Button()

    def enhance(prompt: str, model: str = families[0], image=None, progress=gr.Progress()):  # noqa: B008
        try:
            return jobs.enhance_prompt(model, prompt, image, progress)
        except AppError as err:
            raise api_error(err) from None

    enhance.__doc__ = API_DESCRIPTION
    trigger.click(
        enhance,
        inputs=[prompt, model, image],
        outputs=[text],
        api_name="enhance",
        api_description=API_DESCRIPTION,
        concurrency_id="gpu",
        concurrency_limit=None,
    )
