"""The next-step buttons under a finished video: a panel's result and a History job's output.

One button per action this server offers (next_steps.actions: extend, retake, the last frame to
image-to-video, restyle, the sound to audio-to-video), shown for a done job; an action the video
cannot take (no sound) is hidden and a line says why. Pressing one opens that mode's panel with
the input filled in; the page owns the panels, so app.py wires the presses (`opened`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import gradio as gr

import history
import modes
import next_steps
import owners
import uploads_ui
from banners_ui import banner_html
from errors import AppError


@dataclass
class NextSteps:
    """One place's next-step row: its box (hidden without a finished video), a button per
    action key, and the line saying why an action is not offered."""

    box: gr.Column
    buttons: dict[str, gr.Button]
    note: gr.Markdown

    @property
    def components(self) -> list:
        return [self.box, *self.buttons.values(), self.note]

    def offer(self, job: history.Job | None) -> dict:
        """The row for `job`: its actions shown, those it cannot take said (hidden: None)."""
        offers = {o.action.key: o for o in next_steps.offers(job)}
        why = " ".join(o.why for o in offers.values() if not o.ok)
        shown = {
            button: gr.update(visible=key in offers and offers[key].ok)
            for key, button in self.buttons.items()
        }
        return {
            self.box: gr.update(visible=bool(offers)),
            **shown,
            self.note: gr.update(value=why, visible=bool(why)),
        }

    def on_shown(self, record, secret: str | None = None, request: gr.Request = None) -> dict:
        """A panel's result changed: the row for the job it shows (its record names it)."""
        return self.offer(shown_job(record, secret, request))


def job_id_of(shown) -> str | None:
    """The job a place shows: History's selected id, or a result's record (its job_id)."""
    value = shown.get("job_id") if isinstance(shown, dict) else shown
    return value if isinstance(value, str) and value else None


def shown_job(shown, secret: str | None, request) -> history.Job | None:
    """That job, when it is the caller's (owners.py: someone else's id finds nothing)."""
    job_id = job_id_of(shown)
    if job_id is None:
        return None
    return history.open_store().get(job_id, owners.scope(owners.of(request, secret)))


def build(place: str) -> NextSteps:
    """The row, hidden, its ids `aio-next-<place>-<action key>`."""
    with gr.Column(visible=False, elem_id=f"aio-next-{place}", elem_classes="aio-next") as box:
        gr.Markdown("**Next step** with this video", elem_classes="aio-next-head")
        with gr.Row(elem_classes="aio-next-row"):
            buttons = {
                a.key: gr.Button(
                    a.label,
                    size="sm",
                    visible=False,
                    min_width=0,
                    elem_id=f"aio-next-{place}-{a.key}",
                )
                for a in next_steps.actions()
            }
        note = gr.Markdown("", visible=False, elem_id=f"aio-next-{place}-note")
    return NextSteps(box, buttons, note)


@dataclass
class Opened:
    """What opening a next step puts in: the target field's value, what the panel says, or
    why nothing was opened (`refused`)."""

    value: str | None = None
    said: str = ""
    refused: str = ""
    values: dict = field(default_factory=dict)  # the other fields it sets (Action.sets): text


def opened(key: str, shown, secret: str | None, request) -> Opened:
    """Action `key` on the job a place shows: the file it takes, handed out to the caller
    (uploads_ui.hand_out, marked as that job's so the new job records where it came from)."""
    action = next_steps.BY_KEY[key]
    job = shown_job(shown, secret, request)
    if job is None:
        return Opened(refused=banner_html("warn", "Pick a finished job first"))
    try:
        path = next_steps.derive(history.open_store(), job, action.derive, action.field)
    except AppError as err:
        return Opened(refused=banner_html("error", f"{action.label}: not opened", err.message))
    value = uploads_ui.hand_out(path, request, source=job.id)
    values = {name: f"{v:.2f}" for name, v in next_steps.prefilled(action, path).items()}
    said = f"From job {job.id}: {action.said}"
    for name, text in values.items():
        title = modes.MODES[action.mode].field(name).title.removesuffix(" (s)")
        said += f"; it lasts {text} s, so {title} is set to {text}"
    said += ". Write a prompt and press Generate."
    return Opened(value=value, said=said, values=values)
