"""From a submission to a job that can run: checked, derived, then staged and filled.

`check(mode, params)` checks every field (fields.coerce) and inspects every file (media.py),
derives the size, frames, fps and seed the run uses and says what it changed: a `Checked`,
whose `spec` (job_spec.Spec) is the job from here on; nothing is written yet, so a bad input is
named before anything else is asked. `stage(checked)` copies its media into ComfyUI's input
folder and fills the mode's graph from the Spec: a `Prepared`. `job()` is both at once.
The rules that differ per mode are the mode's own (modes.py); the arithmetic of frames and
sizes every mode shares is here.
"""

from __future__ import annotations

import dataclasses
import math
import random
from dataclasses import dataclass
from pathlib import Path

import errors
import loras
import media
import recipes
from fields import Field, coerce, number_text
from frame_math import cover_frames, floor_frames, longest, snap_frames  # noqa: F401  (this API)
from job_spec import DERIVED, SOURCE, Spec
from modes import LTX25, MAX_ASPECT, MAX_SIDE, MIN_SIDE, MODEL_TITLES, MODES, SEED_MAX, Mode, Preset


@dataclass
class Checked:
    """A job's values after every field and file check, with what is derived from them; nothing
    written anywhere yet."""

    mode: Mode
    values: dict  # field -> its checked value, as asked
    info: dict  # media field -> its inspected facts
    spec: Spec  # the job as it will run
    notes: list[str]


@dataclass
class Prepared:
    """A checked job with its media staged and its graph filled, ready for the engine."""

    prompt: dict  # the API-format graph
    spec: Spec
    notes: list[str]


# -- frames and sizes


def _snap(value: float, multiple: int) -> int:
    """Nearest multiple, within MIN_SIDE..MAX_SIDE (both multiples of 64)."""
    return min(MAX_SIDE, max(MIN_SIDE, int(round(value / multiple)) * multiple))


def fit_size(aspect_w: float, aspect_h: float, pixels: int, multiple: int) -> tuple[int, int]:
    """Width, height with the aspect of (aspect_w, aspect_h), kept within 1:4..4:1, about
    `pixels` pixels, and sides within MIN_SIDE..MAX_SIDE."""
    ratio = min(MAX_ASPECT, max(1 / MAX_ASPECT, aspect_w / aspect_h))
    width = math.sqrt(pixels * ratio)
    height = width / ratio
    scale = min(1.0, MAX_SIDE / max(width, height))
    return _snap(width * scale, multiple), _snap(height * scale, multiple)


def _size(
    mode: Mode, preset: Preset, values: dict, aspect: tuple[float, float], notes: list
) -> tuple:
    multiple = mode.one_pass_multiple if preset.stages == 1 else 64
    ratio = aspect[0] / aspect[1]
    if not 1 / MAX_ASPECT <= ratio <= MAX_ASPECT:
        notes.append(
            f"the input's aspect ({number_text(round(aspect[0]))}x{number_text(round(aspect[1]))})"
            f" is beyond {number_text(MAX_ASPECT)}:1; the picture is cropped to fit"
        )
    width, height = values.get("width"), values.get("height")
    if width is None and height is None:
        return fit_size(*aspect, preset.pixels, multiple)
    if width is None:
        width = height * aspect[0] / aspect[1]
    if height is None:
        height = width * aspect[1] / aspect[0]
    w, h = _snap(width, multiple), _snap(height, multiple)
    if w * h > preset.pixels * 1.05:
        w, h = fit_size(w, h, preset.pixels, multiple)
        notes.append(f"size capped to {w}x{h} by the {preset.name} preset")
    elif (w, h) != (values.get("width"), values.get("height")):
        notes.append(f"size set to {w}x{h} (multiples of {multiple})")
    return w, h


def normalise(mode: Mode, params: dict) -> dict:
    """Checked values for every field of `mode` (media paths not yet inspected)."""
    if not isinstance(params, dict):
        raise errors.bad_input(
            "params", f"expected a mapping of field values, got {type(params).__name__}"
        )
    names = {f.name for f in mode.fields}
    unknown = sorted(str(k) for k in params if k not in names)
    if unknown:
        raise errors.bad_input(
            unknown[0],
            f"{mode.name} has no field {unknown[0]!r}",
            hint="Fields: " + ", ".join(sorted(names)),
        )
    return {f.name: coerce(f, params.get(f.name)) for f in mode.fields}


def check(mode: str, params: dict, *, job_id: str) -> Checked:
    """Every field and file check of one job, and the values derived from them (seed, size,
    frames, fps, notes). Writes nothing: a bad input is named before anything else is asked."""
    if mode not in MODES:
        raise errors.bad_input("mode", f"unknown mode {mode!r}", hint="Modes: " + ", ".join(MODES))
    m = MODES[mode]
    given = dict(params) if isinstance(params, dict) else params
    source = given.pop(SOURCE, None) if isinstance(given, dict) else None
    values = normalise(m, given)
    notes: list[str] = []
    preset = m.preset(values["preset"], values.get("model"))
    info = {f.name: inspect_media(f, values[f.name]) for f in m.fields if f.is_media}

    seed = values["seed"]
    if seed is None or seed < 0:
        seed = random.randint(0, SEED_MAX)
    fps = values.get("fps") or 24
    if fps != round(fps):
        notes.append(f"frame rate rounded to {round(fps)} fps (the audio latent needs whole fps)")
    fps = int(round(fps))
    if m.fps_from:
        fps = info[m.fps_from].fps

    plan = None
    if m.edit is not None:  # a video edit: its plan says how many frames the graph makes
        clip = m.edit.probe(values[m.edit.field], info[m.edit.field].seconds)
        frames, plan = m.edit.plan(values, clip, preset.max_frames, fps, notes)
    else:
        frames = _frames(m, preset, values, info, fps, notes)
    if values.get("auto_length") and values.get("model") != LTX25:
        raise errors.bad_input(
            "auto_length",
            f"{MODEL_TITLES.get(values.get('model'), values.get('model'))} has no duration head "
            "to pick the length",
            hint="Choose LTX-2.5, or turn Automatic length off and set Frames.",
        )
    aspect = aspect_of(values.get("aspect") or "16:9")
    if m.size_from:
        src = info[m.size_from]
        aspect = (float(src.width), float(src.height))
    width, height = _size(m, preset, values, aspect, notes)

    spec = Spec(
        mode=m.name,
        job_id=job_id,
        preset=preset.name,
        seed=seed,
        width=width,
        height=height,
        frames=frames,
        fps=fps,
        stages=preset.stages,
        samplers=recipes.samplers(m.name, values.get("model") or m.models[0], preset.name),
        inputs={
            f.name: values[f.name] for f in m.fields if not f.is_media and f.name not in DERIVED
        },
        edit=plan,
    )
    spec.source_job = sources(m, source) or None
    if m.refine is not None:
        m.refine(spec, info, notes)
    loras.check_refs(spec)
    audio = info.get("audio")
    if audio is not None and audio.channels > 2:
        notes.append(f"the audio's {audio.channels} channels were mixed down to stereo")
    return Checked(mode=m, values=values, info=info, spec=spec, notes=notes)


def stage(checked: Checked, *, input_dir: Path) -> Prepared:
    """Copy a checked job's media into ComfyUI's input dir and fill the mode's template (its
    Spec gains the staged files and how the decode was cut)."""
    spec = dataclasses.replace(checked.spec, inputs=dict(checked.spec.inputs))
    spec.files = {}
    try:
        _stage_media(checked.mode, checked.values, checked.info, spec, Path(input_dir))
        prompt = checked.mode.parameterize(spec)
        loras.check_fit(spec, prompt)  # what is on disk now; the rest after the downloads
    except BaseException:  # what was staged before the failure goes too
        media.unstage(spec.files, Path(input_dir))
        raise
    return Prepared(prompt=prompt, spec=spec, notes=list(checked.notes))


def job(mode: str, params: dict, *, input_dir: Path, job_id: str) -> Prepared:
    """`check` then `stage`: one submission, ready to run."""
    return stage(check(mode, params, job_id=job_id), input_dir=input_dir)


def sources(m: Mode, given) -> dict[str, str]:
    """Which History job each media field of `m` came from (job_spec.SOURCE), of what was said."""
    media_fields = {f.name for f in m.fields if f.is_media}
    if not isinstance(given, dict):
        return {}
    return {k: v for k, v in given.items() if k in media_fields and isinstance(v, str) and v}


def aspect_of(ratio: str) -> tuple[float, float]:
    """A "W:H" choice of the aspect field -> (W, H)."""
    w, h = ratio.split(":")
    return float(w), float(h)


def inspect_media(f: Field, path):
    """The checked facts of one media field's file (None when empty); bad_input if unusable."""
    if path is None:
        return None
    inspect = {
        "image": media.inspect_image,
        "audio": media.inspect_audio,
        "video": media.inspect_video,
    }
    return inspect[f.kind](path, f.name)


def _frames(m: Mode, preset: Preset, values: dict, info: dict, fps: float, notes: list) -> int:
    cap = preset.max_frames
    # A duration, when given, wins: the frames field always carries a value (121 by default).
    requested = values.get("frames")
    from_duration = values.get("duration") is not None
    if from_duration:
        requested = values["duration"] * fps
    if m.length_from == "audio":
        return _audio_frames(m, preset, info["audio"].seconds, fps, notes)
    if m.length_from == "video":
        video = info["video"]
        frames = floor_frames(min(video.frames, requested), cap)
        if requested > cap:
            notes.append(f"frames capped to {frames} by the {preset.name} preset")
        if video.frames > frames + 8:
            notes.append(
                f"restyling the first {frames / fps:.2f} s ({frames} frames) of the "
                f"{video.seconds:.1f} s video"
            )
        return frames
    frames = snap_frames(int(round(requested)), cap)
    if requested > cap:
        notes.append(f"frames capped to {frames} by the {preset.name} preset")
    elif from_duration:
        notes.append(
            f"{number_text(values['duration'])} s at {number_text(fps)} fps makes {frames} frames "
            f"({frames / fps:.2f} s; the model needs 8k+1 frames)"
        )
    elif frames != requested:
        notes.append(f"frames set to {frames} (the model needs 8k+1)")
    return frames


def _audio_frames(m: Mode, preset: Preset, seconds: float, fps: int, notes: list) -> int:
    """Frames that carry the whole audio: the mp4 keeps as much sound as its frames last, so the
    video runs on to the next 8k+1 frame past the audio's end (that tail is silent), unless the
    preset's cap cuts the audio, which a note then says."""
    frames = cover_frames(seconds * fps, preset.max_frames)
    video_s = frames / fps
    if seconds * fps > frames + 1e-6:
        said = (
            f"the audio lasts {seconds:.2f} s; the {preset.name} preset makes at most {frames} "
            f"frames ({video_s:.2f} s at {number_text(fps)} fps), so only its first "
            f"{video_s:.2f} s are used and the last {seconds - video_s:.2f} s are cut"
        )
        bigger = max(m.presets.values(), key=lambda p: p.max_frames)
        if longest(bigger.max_frames) > frames:
            said += (
                f" (the {bigger.name} preset makes up to {longest(bigger.max_frames)} frames, "
                f"{longest(bigger.max_frames) / fps:.2f} s)"
            )
        notes.append(said)
    elif frames - seconds * fps >= 1:
        notes.append(
            f"the audio lasts {seconds:.2f} s and plays whole; the video ({frames} frames, "
            f"{video_s:.2f} s at {number_text(fps)} fps: the model makes 8k+1 frames) runs "
            f"{video_s - seconds:.2f} s longer, and that end is silent"
        )
    return frames


def _stage_media(m: Mode, values: dict, info: dict, spec: Spec, input_dir: Path) -> None:
    """Stage every media file of the job into `spec.files` (filled as it goes, so that a
    failure part way leaves a list of what to remove)."""
    job_id = spec.job_id
    files = spec.files
    for f in m.fields:
        if f.is_media and values[f.name] is None:  # an optional file not given: nothing to stage
            continue
        if m.edit is not None and f.name == m.edit.field:  # only the window the graph needs
            files[f.name] = m.edit.stage(spec, values[f.name], input_dir)
        elif f.kind == "audio":
            files[f.name] = media.stage_audio(
                values[f.name], input_dir, job_id, f.name, info[f.name].channels
            )
        elif f.is_media:
            files[f.name] = media.stage(values[f.name], input_dir, job_id, f.name)
    if "audio" in files:
        files["audio_model"] = files["audio"]
        level = spec.inputs.get("audio_noise") or 0.0
        if level > 0:
            files["audio_model"] = media.stage_noised_audio(
                values["audio"], input_dir, job_id, "audio", level, spec.seed
            )
