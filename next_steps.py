"""One click to the next step: what a finished job's video can start, and the file each takes.

A done job offers each action of `ACTIONS` whose mode exists (modes.MODES) and has the field it
fills: its whole video to extend, retake or restyle, its last frame to start image-to-video, its
sound to start audio-to-video. Each takes a file derived from the job's output (`derive`): the
video itself, its last frame as a PNG, or its sound as a WAV, the latter two made once and kept
in the job's folder (history.Store.derived). A video without sound cannot give its sound: that
action says so (`Offer.why`) and is not offered. A retake opens with its End at the video's
length too (`prefilled`), so only Start is left to choose.

The API takes the same files by job id: a media value `job:<id>` is one of the caller's own done
jobs (`resolve`), its video, last frame or sound by the field's kind. Nothing here knows about
Gradio: the page's buttons are next_steps_ui.py's and app.py's, the API's door api_refusals.py.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import history
import media
import modes
import splice
import videofile
from errors import AppError
from job_spec import SOURCE  # noqa: F401  (what a new job records: this API)

# How a file is derived from a job's output video, and the kind of field it fills.
WHOLE, LAST_FRAME, SOUND = "video", "last_frame", "sound"
DERIVED_KIND = {WHOLE: "video", LAST_FRAME: "image", SOUND: "audio"}
# A media value of the API naming one of the caller's History jobs: `job:<id>`.
JOB_REF = "job:"


@dataclass(frozen=True)
class Action:
    key: str  # names the button (elem_id aio-next-<place>-<key>)
    label: str
    mode: str  # the mode whose panel it opens
    field: str  # the media field of that mode it fills
    derive: str  # WHOLE, LAST_FRAME or SOUND
    said: str  # what the opened panel says was put in, e.g. "its last frame is the first frame"
    to_end: str = ""  # a seconds field of that mode set to the video's length (a retake's End)

    @property
    def sets(self) -> tuple[str, ...]:
        """The fields of its mode it sets besides its input (`prefilled`)."""
        return (self.to_end,) if self.to_end else ()


ACTIONS: tuple[Action, ...] = (
    Action("extend", "Extend", "extend", "video", WHOLE, "its video is the one to extend"),
    Action(
        "retake", "Retake", "retake", "video", WHOLE, "its video is the one to retake",
        to_end="end",
    ),
    Action(
        "i2v", "Last frame → image to video", "i2v", "image", LAST_FRAME,
        "its last frame is the first frame here",
    ),
    Action("style", "Restyle this video", "style", "video", WHOLE, "its video is the source"),
    Action(
        "a2v", "Sound → audio to video", "a2v", "audio", SOUND, "its sound is the audio here"
    ),
)  # fmt: skip
BY_KEY = {a.key: a for a in ACTIONS}


def available(action: Action) -> bool:
    """Whether this server has the action's mode, with a field of the kind it fills."""
    mode = modes.MODES.get(action.mode)
    if mode is None:
        return False
    fields = {f.name: f.kind for f in mode.fields}
    return fields.get(action.field) == DERIVED_KIND[action.derive]


def actions() -> list[Action]:
    """The actions this server offers, in the table's order."""
    return [a for a in ACTIONS if available(a)]


@dataclass(frozen=True)
class Offer:
    action: Action
    why: str = ""  # why this job cannot take it ("" when it can)

    @property
    def ok(self) -> bool:
        return not self.why


NO_SOUND = "This video has no sound, so it cannot start audio to video."


def offers(job: history.Job | None) -> list[Offer]:
    """What a job's result offers ([] when it has no finished output), each with why not."""
    if job is None or job.status != "done" or job.output is None or not job.output.is_file():
        return []
    sound: bool | None = None
    out = []
    for action in actions():
        why = ""
        if action.derive == SOUND:
            if sound is None:
                sound = _has_audio(job.output)
            why = "" if sound else NO_SOUND
        out.append(Offer(action, why))
    return out


def _has_audio(path: Path) -> bool:
    try:
        return videofile.has_audio(path)
    except Exception:  # unreadable: the sound action would fail too
        return False


# -- the files -------------------------------------------------------------------------------


def _last_frame(video: Path):
    return lambda png: videofile.save_last_frame(video, png)


def _sound(video: Path):
    def make(wav: Path) -> None:
        samples, rate = media.decode_audio(video, "audio")
        media.write_wav(wav, samples, rate)

    return make


NAMES = {LAST_FRAME: "last_frame.png", SOUND: "sound.wav"}


def derive(store: history.Store, job: history.Job, how: str, field: str = "") -> Path:
    """The file `how` derives from a done job's output (its video, last frame or sound), made
    once and kept beside it. AppError(bad_input, naming `field`) when it cannot be had."""
    where = field or DERIVED_KIND[how]
    output = job.output
    if job.status != "done" or output is None or not output.is_file():
        raise AppError("bad_input", f"job {job.id} has no finished video", where=where)
    if how == WHOLE:
        return output
    if how == SOUND and not _has_audio(output):
        raise AppError("bad_input", f"job {job.id}'s video has no sound", where=where)
    make = _last_frame(output) if how == LAST_FRAME else _sound(output)
    try:
        made = store.derived(job.id, NAMES[how], make)
    except AppError as err:
        raise AppError(err.kind, err.message, where=where, hint=err.hint) from None
    except Exception as exc:
        what = "last frame" if how == LAST_FRAME else "sound"
        raise AppError(
            "bad_input", f"job {job.id}'s {what} could not be read ({type(exc).__name__})",
            where=where,
        ) from None  # fmt: skip
    if made is None:
        raise AppError("bad_input", f"job {job.id} has no finished video", where=where)
    return made


def prefilled(action: Action, video: Path) -> dict[str, float]:
    """The fields `action.sets` from the video it opens with: a retake's End at the video's
    length (as the retake measures it, to the hundredth below, so it is never past the end);
    {} when it sets none or the length cannot be read."""
    if not action.to_end:
        return {}
    try:
        seconds = splice.probe(video).seconds
    except Exception:  # unreadable: the field keeps its value and the retake says why
        return {}
    return {action.to_end: math.floor(seconds * 100 + 1e-6) / 100}


# -- the API's `job:<id>` ---------------------------------------------------------------------

# The file a `job:<id>` value gives a field of each kind.
FOR_KIND = {"video": WHOLE, "image": LAST_FRAME, "audio": SOUND}


def job_ref(value) -> str | None:
    """The job id a media value names as `job:<id>` (None: it names none)."""
    if isinstance(value, str) and value[: len(JOB_REF)].lower() == JOB_REF:
        return value[len(JOB_REF) :].strip()
    return None


def resolve(job_id: str, kind: str, field: str, owner: str | None) -> tuple[Path, str]:
    """(the file, the job's id) a `job:<id>` value of a media field of `kind` gives: one of
    `owner`'s done jobs (None: any job, on a local install), its video, last frame or sound;
    else AppError(bad_input) naming the field, in one line."""
    store = history.open_store()
    job = store.get(job_id, owner) if job_id else None
    if job is None or job.status != "done" or job.output is None or not job.output.is_file():
        shown = job_id if re.fullmatch(r"[\w.-]{1,64}", job_id or "") else "(that id)"
        raise AppError(
            "bad_input",
            f"no finished job {shown} of yours",
            where=field,
            hint="Give the id of one of your done jobs (History lists them; the API answers "
            "each job's id as job_id).",
        )
    return derive(store, job, FOR_KIND[kind], field), job.id
