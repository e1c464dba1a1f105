"""The prompt enhancer on the page and in the API (enhance.py does the work, through jobs.py).

Each prompted panel's Enhance button rewrites what its prompt box says (with the panel's image
where the mode has one, on the panel's model family) and puts the rewrite into the panel's
Enhanced prompt box, to edit before Generate (the job records both); a script's `/enhance` gets
the text back. Both run in the GPU task, as a job does; a bad input is one message naming the
field.
"""

from __future__ import annotations

import secrets

import gradio as gr

import events_ui
import jobs
import modes
import owners
import uploads_ui
from errors import AppError
from events_ui import api_error
from outcome_ui import Outcome
from patches import ENHANCED

ENHANCED_SAID = (
    "The Enhanced prompt box holds the rewrite, which Generate uses in place of the prompt: "
    "edit it as you like, or empty it to use your prompt as written."
)
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


async def in_turn(request: gr.Request, family, text, picture, field: str, progress) -> str:
    """The enhancer as a job takes the GPU: within its owner's limit of jobs waiting, in its
    turn across visitors (jobs.TURNS), seeing only an image its own sender uploaded."""
    owner = owners.of(request)
    visitor = owners.visitor(owner, uploads_ui.request_fingerprint(request))
    image = events_ui.uploaded(field, picture, request)
    await events_ui.in_thread(jobs.check_room, owner, 1, visitor)
    turn = await jobs.wait_turn(f"enhance-{secrets.token_hex(6)}", visitor, progress)
    try:  # not abandoned when the request goes: the turn is held until the GPU is free again
        return await events_ui.in_thread(
            jobs.enhance_prompt, family, text, image, progress, field, abandon=False
        )
    finally:
        jobs.give_back(turn)


def wire(mode: modes.Mode, trigger: gr.Button, fields: dict, outcome: Outcome) -> None:
    """The panel's Enhance button: the rewrite of its prompt goes into the Enhanced prompt box
    (shown only while it holds text), to edit before Generate; the prompt box keeps the user's
    own, so History records both. The banner says so, or what was wrong."""
    prompt, image = fields["prompt"], fields.get(mode.enhance_image or "")
    enhanced = fields[ENHANCED]
    enhanced.visible = False  # until it holds a rewrite

    async def on_enhance(request: gr.Request, text, family, picture=None, progress=gr.Progress()):  # noqa: B008
        try:
            rewrite = await in_turn(
                request, family, text, picture, mode.enhance_image or "image", progress
            )
        except AppError as err:
            return {enhanced: gr.update()} | outcome.failed(err, {})
        return {enhanced: gr.update(value=rewrite, visible=True)} | outcome.said(
            "info", "Prompt enhanced", ENHANCED_SAID
        )

    trigger.click(
        on_enhance,
        inputs=[prompt, fields["model"], *([image] if image is not None else [])],
        outputs=[enhanced, *outcome.components],
        show_progress_on=[prompt],
        preprocess=False,  # the image is checked as the sender's own upload (events_ui.uploaded)
        concurrency_id="gpu",
        concurrency_limit=None,  # it waits its turn in jobs.TURNS, as every job does
        api_visibility="private",
    )
    # Shown while it holds text (filled by "use these settings" too); emptied, it goes.
    enhanced.change(
        lambda text: gr.update(visible=bool((text or "").strip())), inputs=[enhanced],
        outputs=[enhanced], queue=False, api_visibility="private",
    )  # fmt: skip


def build_api() -> None:
    """`/enhance`: prompt, model (a family; LTX-2.5 by default), image (optional) -> the text."""
    families = tuple(modes.MODEL_TITLES)
    with gr.Column(visible=False):
        prompt = gr.Textbox(label="prompt")
        model = gr.Dropdown(list(families), value=families[0], label="model")
        image = gr.Image(type="filepath", label="image")
        text = gr.Textbox(label="enhanced_prompt")
        trigger = gr.Button()

    async def enhance(
        request: gr.Request,
        prompt: str,
        model: str = families[0],
        image=None,
        progress=gr.Progress(),  # noqa: B008
    ):
        try:
            return await in_turn(request, model, prompt, image, "image", progress)
        except AppError as err:
            raise api_error(err) from None

    enhance.__doc__ = API_DESCRIPTION
    trigger.click(
        enhance,
        inputs=[prompt, model, image],
        outputs=[text],
        api_name="enhance",
        api_description=API_DESCRIPTION,
        preprocess=False,  # the image is checked as the sender's own upload (events_ui.uploaded)
        concurrency_id="gpu",
        concurrency_limit=None,  # it waits its turn in jobs.TURNS, as every job does
    )
