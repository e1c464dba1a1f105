"""The video edits' own rules: which frames of the source a job sends, and how its clip goes back.

An edit mode (extend, retake) works on a clip that may be far longer than one generation can
make. Its `Edit` plans the job from the checked source (`plan`: the frames the graph makes, and
the `edit` plan History keeps: the source's length, the window sent, the range), stages only
that window of the source for the engine (`stage`, splice.cut), and puts the engine's clip back
together with the whole source once it is made (`finish`: splice.join / splice.splice). Every
refusal names the field to change, with the numbers that decide it.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

import errors
import media
import splice
from fields import number_text
from frame_math import STEP, cover_frames, longest
from job_spec import Spec

CONTEXT_S = 1.0  # a retake sees this much of the source on each side of its range
# The longest source an edit takes: the app decodes all of it (to count its frames exactly and to
# put the result together), on the app's machine.
MAX_SOURCE_S = 600.0


def _seconds(frames: int, fps: float) -> str:
    return f"{frames / fps:.2f} s"


class Edit:
    """What an edit mode does to its source; `video` is the media field holding it."""

    field = "video"

    def probe(self, path, seconds: float) -> splice.Clip:
        """The source's facts, its frames counted; a source over MAX_SOURCE_S (`seconds`, the
        container's own figure) is refused before it is decoded."""
        if seconds > MAX_SOURCE_S:
            raise errors.bad_input(
                self.field,
                f"the video lasts {seconds:.0f} s; an edit takes up to {MAX_SOURCE_S:.0f} s",
                hint="Cut the part you want to edit out of it and upload that.",
            )
        return splice.probe(path)

    def plan(self, values: dict, clip: splice.Clip, cap: int, fps: float, notes: list) -> tuple:
        """(frames the graph makes, the edit plan) for the checked `values` on `clip`,
        within a preset that makes at most `cap` frames; bad_input when it cannot be done."""
        raise NotImplementedError

    def stage(self, spec: Spec, source, input_dir: Path) -> str:
        """The window of `source` the graph starts from, written into ComfyUI's input dir."""
        plan = spec.edit
        target = media.staged_path(source, input_dir, spec.job_id, self.field, ".mp4")
        splice.cut(source, target, start=plan["window_start"], count=plan["window_frames"])
        return target.name

    def finish(self, spec: Spec, source, made: Path) -> Path:
        """The edited clip: the engine's `made` put back together with `source`."""
        raise NotImplementedError

    def result_frames(self, plan: dict) -> int:
        """How many frames the edited clip has (`finish`'s): the source's, unless it grows."""
        return plan["result"]["frames"]

    @staticmethod
    def _beside(made: Path) -> Path:
        made = Path(made)
        return made.with_name(f"{made.stem}_edit.mp4")


class Extend(Edit):
    """Continue the clip by `seconds`: the last `context_frames` frames (and their sound) start
    a new clip, kept as they are; the frames made after them are joined to the source."""

    def plan(self, values: dict, clip: splice.Clip, cap: int, fps: float, notes: list) -> tuple:
        if values.get("keep_sound", True) and not clip.has_audio:
            raise errors.bad_input(
                "video",
                "the video has no sound to continue",
                hint="Turn off 'Continue the sound' to make the new part's sound from the prompt.",
            )
        asked = int(values["context_frames"])
        context = longest(min(asked, clip.frames))  # 8k+1: the latent's own frames
        if context != asked:
            notes.append(f"the new part continues the video's last {context} frames (of "
                         f"{clip.frames}; the context is 8k+1 frames)")  # fmt: skip
        new_frames = max(1, round(values["seconds"] * fps))
        frames = context + STEP * math.ceil(new_frames / STEP)
        if frames > longest(cap):
            most = (longest(cap) - context) // STEP * STEP
            raise errors.bad_input(
                "seconds",
                f"{number_text(values['seconds'])} s is {new_frames} new frames after "
                f"{context} of context: {frames} frames, more than the {longest(cap)} this preset "
                f"makes at once",
                hint=f"Add at most {most / fps:.2f} s a step (extend again for more), or fewer "
                "context frames, or the balanced or quality preset.",
            )
        return frames, {
            "frames": clip.frames,
            "fps": float(clip.fps),
            "result": _result(clip, clip.frames + new_frames),
            "context": context,
            "new_frames": new_frames,
            "window_start": clip.frames - context,
            "window_frames": context,
        }

    def finish(self, spec: Spec, source, made: Path) -> Path:
        plan = spec.edit
        with _putting_together(made):
            return splice.join(
                source, made, self._beside(made), context=plan["context"],
                new_frames=plan["new_frames"],
            )  # fmt: skip


class Retake(Edit):
    """Make the range [start, end) again: a window of the source around it (CONTEXT_S each side
    where the clip has it) goes to the engine with the range masked; the made range replaces
    the source's, every frame outside it is the source's own."""

    def plan(self, values: dict, clip: splice.Clip, cap: int, fps: float, notes: list) -> tuple:
        start, end = values["start"], values["end"]
        length = clip.seconds
        if start >= length:
            raise errors.bad_input(
                "start",
                f"Start is {number_text(start)} s; the video lasts {length:.2f} s",
                hint="Start must be inside the clip.",
            )
        if end <= start:
            raise errors.bad_input(
                "end",
                f"End ({number_text(end)} s) must be after Start ({number_text(start)} s)",
            )
        if end > length + 1e-6:
            raise errors.bad_input(
                "end",
                f"End is {number_text(end)} s; the video lasts {length:.2f} s",
                hint=f"Set End to {length:.2f} or less.",
            )
        first = min(clip.frames - 1, math.ceil(start * float(clip.fps) - 1e-6))
        last = min(clip.frames, math.ceil(end * float(clip.fps) - 1e-6))  # exclusive
        if last <= first:
            last = first + 1
        span = last - first
        most = longest(cap) - 2 * STEP
        if span > most:
            raise errors.bad_input(
                "end",
                f"the range lasts {_seconds(span, fps)} ({span} frames); this preset remakes at "
                f"most {_seconds(most, fps)} at once, with context on each side",
                hint="Choose a shorter range (retake it in parts), or the balanced or quality "
                "preset.",
            )
        margin = round(CONTEXT_S * float(clip.fps))
        window = min(cover_frames(span + 2 * margin, cap), longest(clip.frames))
        window_start = min(max(0, first - (window - span) // 2), clip.frames - window)
        if window_start > first or window_start + window < last:
            raise errors.bad_input(
                "end",
                f"the range {number_text(start)}..{number_text(end)} s covers nearly the whole "
                f"{length:.2f} s clip",
                hint="Leave some of the clip outside the range, or make a new clip instead.",
            )
        if not clip.has_audio:
            notes.append("the video has no sound: the range gets new sound, the rest stays silent")
        return window, {
            "frames": clip.frames,
            "fps": float(clip.fps),
            "result": _result(clip, clip.frames),
            "window_start": window_start,
            "window_frames": window,
            "start_frame": first,
            "end_frame": last,
        }

    def finish(self, spec: Spec, source, made: Path) -> Path:
        plan = spec.edit
        with _putting_together(made):
            return splice.splice(
                source, made, self._beside(made), window_start=plan["window_start"],
                start=plan["start_frame"], end=plan["end_frame"],
            )  # fmt: skip


def _result(clip: splice.Clip, frames: int) -> dict:
    """What the edited clip will be: its frames, its size (the source's, to even sides) and
    seconds; History keeps it, as the job's own frames and size are the part the graph made."""
    return {"frames": frames, "width": clip.width // 2 * 2, "height": clip.height // 2 * 2,
            "seconds": round(float(frames / clip.fps), 3)}  # fmt: skip


@contextlib.contextmanager
def _putting_together(made: Path):
    """The engine's clip is gone afterwards (ComfyUI's output folder is no archive), whether the
    edited clip could be made from it or not; a failure says what did not fit."""
    try:
        yield
    except ValueError as exc:  # splice's own: the made clip is not what the plan says
        raise errors.AppError(
            "node_failed",
            f"the new part could not be put into the video: {exc}",
            hint="Try again; if it keeps failing, report it with the parameters used.",
        ) from exc
    finally:
        Path(made).unlink(missing_ok=True)


EXTEND, RETAKE = Extend(), Retake()
