"""The six modes: their inputs (declared once as Fields), presets, and `prepare`.

`prepare` turns raw UI/API values into a runnable prompt: checks every field (fields.coerce),
inspects and stages media (media.py), derives size / frames / fps / seed and says what it
changed, then fills the mode's template (patches.py).
"""

from __future__ import annotations

import functools
import math
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import errors
import media
import patches
import recipes
import workflow
from fields import KINDS, MEDIA_KINDS, Field, coerce, number_text  # noqa: F401  (this API)

PRESETS = ("fast", "balanced", "quality")
MIN_SIDE, MAX_SIDE = 256, 2048  # the width / height fields' range
MAX_ASPECT = 4.0  # wider (or taller) inputs are cropped to this aspect
SEED_MAX = 2**32 - 1
MAX_PROMPT_CHARS = 5000


@dataclass(frozen=True)
class Preset:
    name: str
    stages: int  # 1: decode stage 1 directly; 2: x2 latent upscale + refine (official pipeline)
    width: int  # landscape output size; other aspects keep about the same pixel count
    height: int
    max_frames: int
    description: str = ""

    @property
    def pixels(self) -> int:
        return self.width * self.height


@dataclass(frozen=True)
class Mode:
    name: str
    title: str
    description: str
    workflows: dict  # model family -> its graph in workflows/; the first is the default
    fields: tuple[Field, ...]
    presets: dict = field(default_factory=dict)
    # A model family whose graph reaches a preset another way: family -> {name: Preset}.
    family_presets: dict = field(default_factory=dict)
    size_from: str | None = None  # media field whose aspect sets width/height
    length_from: str | None = None  # media field whose length sets the frame count
    fps_from: str | None = None  # media field whose frame rate the result keeps
    examples: tuple[str, ...] = ()  # prompts the panel offers to start from
    # Width and height snap to multiples of this when the job runs one pass (two passes: 64,
    # as stage 1 runs at half size, which must be a multiple of 32).
    one_pass_multiple: int = 32
    # The mode's own last word on a checked job: refine(used, info, notes) may set values the
    # fields do not (e.g. the server's depth model) and say what it changed in `notes`.
    refine: Callable[[dict, dict, list], None] | None = None

    def __post_init__(self) -> None:
        """A declaration checks itself where it is made: unique fields, the fields it names
        exist and are media, and every node a field patches is in one of its graphs."""
        names = [f.name for f in self.fields]
        doubled = sorted({n for n in names if names.count(n) > 1})
        if doubled:
            raise ValueError(f"mode {self.name} declares {doubled} more than once")
        for role in ("size_from", "length_from", "fps_from"):
            named = getattr(self, role)
            if named is not None and not any(f.name == named and f.is_media for f in self.fields):
                raise ValueError(f"mode {self.name}: {role}={named!r} is not one of its media")
        graphs = [workflow.load_template(t) for t in self.workflows.values()]
        for f in self.fields:
            for title, _ in f.patch:
                if not any(workflow.has_node(g, title) for g in graphs):
                    raise ValueError(
                        f"mode {self.name}: field {f.name} patches {title!r}, a node none of "
                        f"its graphs has ({', '.join(self.workflows.values())})"
                    )

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"mode {self.name} has no field {name!r}")

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(self.workflows)

    def preset(self, name: str, model: str | None = None) -> Preset:
        """Preset `name` as it runs on `model` (the mode's default family when None)."""
        return self.family_presets.get(model or self.models[0], self.presets).get(
            name, self.presets[name]
        )

    def parameterize(self, used: dict) -> dict:
        """A patched deep copy of the template for already-normalised values (`used`): the
        graph of the model family `used["model"]` names (the mode's default when absent)."""
        template = self.workflows[used.get("model") or self.models[0]]
        prompt = patches.parameterize(self.name, template, used, self.fields)
        for stage, sampler in enumerate(used.get("samplers") or (), start=1):
            if workflow.has_node(prompt, f"Sampler {stage}"):  # a one-pass run has no refine
                workflow.set_input(prompt, f"Sampler {stage}", "sampler_name", sampler)
        return prompt


@dataclass
class Checked:
    """A job's values after every field and file check, with what is derived from them; nothing
    written anywhere yet."""

    mode: Mode
    values: dict
    info: dict  # media field -> its inspected facts
    used: dict
    notes: list[str]


@dataclass
class Prepared:
    prompt: dict
    used: dict
    notes: list[str]


# ------------------------------------------------------------------------------- declarations

STANDARD_PRESETS = {
    "fast": Preset("fast", 1, 768, 448, 121, "one pass at 768x448: quickest look at an idea"),
    "balanced": Preset("balanced", 2, 1280, 704, 241, "half-res pass + x2 upscale refine"),
    "quality": Preset("quality", 2, 1920, 1088, 241, "official two-stage pipeline, 1920x1088"),
}
# LTX-2.5's first+last frame template is one full-size pass (at 1280x720): balanced runs it so;
# quality reaches 1080p as every official 2.5 route does (half-size pass, x2 upscaler, refine).
KEYFRAME_25_PRESETS = {
    **STANDARD_PRESETS,
    "balanced": Preset("balanced", 1, 1280, 704, 241, "one full-size pass at 1280x704"),
}
# Union-control IC-LoRA runs single-stage in Lightricks' graph; its reference is read at half size,
# so sizes snap to 64.
STYLE_PRESETS = {
    "fast": Preset("fast", 1, 768, 448, 121, "768x448, up to 121 frames"),
    "balanced": Preset("balanced", 1, 1024, 576, 121, "1024x576, up to 121 frames"),
    "quality": Preset("quality", 1, 1280, 704, 241, "1280x704, up to 241 frames"),
}

NEGATIVE = "pc game, console game, video game, cartoon, childish, ugly"
MOTION_SUFFIX = (
    "The scene is alive with natural, continuous motion; the subject moves and the camera "
    "follows smoothly."
)
SPEECH_SUFFIX = (
    "The person is talking, their lips moving clearly and naturally with every word, with "
    "lively facial expressions."
)
KEYFRAME_SUFFIX = (
    "The shot moves in one smooth, continuous motion from the first frame to the last."
)


# Model families. LTX-2.5 (2026-08) is the default wherever Lightricks published a graph for it.
LTX25, LTX23 = recipes.LTX25, recipes.LTX23
MODEL_TITLES = {LTX25: "LTX-2.5", LTX23: "LTX-2.3"}
MODEL_HELP = {
    LTX25: "LTX-2.5: the newest (Gemma 4 encoder, new video decoder)",
    LTX23: "LTX-2.3: the previous model",
}


def model_field(workflows: dict, only_23: str = "") -> Field:
    """The model choice of a mode; a mode only one family supports says so."""
    models = tuple(workflows)
    if len(models) == 1:
        text = f"Runs on {MODEL_TITLES[models[0]]}: {only_23}"
    else:
        text = "; ".join(MODEL_HELP[m] for m in models) + "."
    return Field("model", "choice", "Model", models[0], choices=models, help=text)


ASPECTS = ("16:9", "9:16", "1:1", "4:3", "21:9")
SIZE_HELP = (
    "Empty: from the {source} and the preset. Snapped to a multiple of 32 (64 for two-pass "
    "presets and restyle)."
)


def _frames_help(presets: dict) -> str:
    caps: dict[int, list[str]] = {}
    for p in presets.values():
        caps.setdefault(p.max_frames, []).append(p.name)
    said = "; ".join(f"{' and '.join(names)} up to {cap}" for cap, names in caps.items())
    return f"8k+1 frames (9, 17, ... 121 = 5 s at 24 fps). The preset caps it: {said}."


def _preset_help(presets: dict, family_presets: dict) -> str:
    said = []
    for name, p in presets.items():
        text = f"{name}: {p.description}"
        for family, other in family_presets.items():
            if other[name] != p:
                text += f" (on {MODEL_TITLES[family]}: {other[name].description})"
        said.append(text)
    return "; ".join(said) + "."


def _common(
    suffix: str,
    presets: dict,
    *,
    placeholder: str,
    family_presets: dict | None = None,
    frames: bool = True,
    fps: bool = True,
    aspect: bool = False,
    auto_length: bool = False,
) -> tuple[Field, ...]:
    source = "aspect ratio" if aspect else "input's aspect"
    out = [
        Field("prompt", "text", "Prompt", None, required=True, max_len=MAX_PROMPT_CHARS,
              help="What happens: subject, action, camera, sound.", placeholder=placeholder),
        Field("prompt_suffix", "text", "Prompt suffix", suffix, max_len=1000,
              help="Appended to the prompt; clear it if it fights your idea."),
        Field("negative_prompt", "text", "Negative prompt", NEGATIVE, advanced=True,
              max_len=MAX_PROMPT_CHARS, help="What to avoid.",
              patch=(("Negative prompt", "text"),)),
        Field("preset", "choice", "Preset", "balanced", choices=PRESETS,
              help=_preset_help(presets, family_presets or {})),
    ]  # fmt: skip
    if aspect:
        out.append(Field("aspect", "choice", "Aspect ratio", "16:9", choices=ASPECTS,
                         help="The video's shape; Width and Height, when set, win."))  # fmt: skip
    out += [
        Field("seed", "int", "Seed", -1, -1, SEED_MAX, 1, help="-1 picks a random seed."),
        Field("width", "int", "Width", None, MIN_SIDE, MAX_SIDE, 32, advanced=True,
              help=SIZE_HELP.format(source=source), placeholder="auto"),
        Field("height", "int", "Height", None, MIN_SIDE, MAX_SIDE, 32, advanced=True,
              help=SIZE_HELP.format(source=source), placeholder="auto"),
    ]  # fmt: skip
    if frames:
        cap = max(p.max_frames for p in presets.values())
        out += [
            Field("frames", "int", "Frames", 121, 9, cap, 8, help=_frames_help(presets)),
            Field("duration", "float", "Duration (s)", None, 0.5, 20.0, 0.1, advanced=True,
                  help="Seconds of video; when set, it wins over Frames. Empty: from Frames.",
                  placeholder="auto"),
        ]  # fmt: skip
    if auto_length:
        out.append(AUTO_LENGTH)
    if fps:
        out.append(Field("fps", "float", "Frame rate", 24, 8, 50, 1,
                         help="Frames per second; rounded to a whole number."))  # fmt: skip
    return tuple(out)


# LTX-2.5's duration head (LTXVDurationPredictor) picks a clip's length from its prompt.
AUTO_LENGTH = Field(
    "auto_length", "bool", "Automatic length (LTX-2.5)", False,
    help="LTX-2.5 reads the prompt and picks a natural length, from 1 s up to Frames (or "
    "Duration), which becomes the longest it may choose. LTX-2.3 has no such head.",
)  # fmt: skip


def _strength(name: str, label: str, default: float, help: str, *targets: str) -> Field:
    patch = tuple((title, "strength") for title in targets)
    return Field(name, "float", label, default, 0.1, 1.0, 0.05, help=help, advanced=True,
                 patch=patch)  # fmt: skip


def _media(name: str, kind: str, label: str, *targets: tuple[str, str]) -> Field:
    return Field(name, kind, label, required=True, patch=targets)


IMAGE_STRENGTH_HELP = "Lower moves more; 1.0 tends to freeze. Official default 0.7."
KEYFRAME_STRENGTH_HELP = (
    "How closely the video holds this frame; 1.0 tends to freeze on it. Official default 0.7."
)
AUDIO_NOISE = Field(
    "audio_noise", "float", "Noise for the model", 0.05, 0.0, 0.3, 0.01, advanced=True,
    help="Faint noise added to what the model hears (relative to the speech level): clean "
    "studio speech can leave lips still. The output keeps your original audio.",
)  # fmt: skip
STYLE_FIELDS = (
    _media("video", "video", "Source video", ("Load video", "file")),
    Field("control", "choice", "Structure to keep", "depth", choices=("pose", "depth", "canny"),
          help="pose: people's skeletons; depth: scene layout; canny: edges."),
    Field("keep_audio", "bool", "Keep the video's sound", False,
          help="Off: new sound is generated from the prompt."),
    _strength("control_strength", "Structure strength", 1.0,
              "How strictly the structure is followed.", "Control guide"),
)  # fmt: skip

# What each panel offers to start from: the first is the prompt box's placeholder.
EXAMPLES = {
    "t2v": (
        "A red fox trots through fresh snow at dawn, the camera tracking low beside it; soft "
        "crunching steps and distant crows.",
        "Waves break on black volcanic rocks at dusk, a slow aerial push-in; deep rumbling surf "
        "and wind.",
        "A street musician plays the cello under a bridge at night, warm lamplight, rain on the "
        "cobbles; the melody echoes.",
    ),
    "i2v": (
        "She turns toward the camera and smiles as a light breeze moves her hair; quiet city "
        "sounds.",
        "Clouds drift across the sky and the water ripples, a slow push-in; birdsong.",
        "Steam rises from the cup as a hand lifts it; café chatter in the background.",
    ),
    "a2v": (
        "A drummer plays on a dim stage, lights pulsing with every beat, handheld camera.",
        "Waves roll onto a beach at sunset, a slow dolly along the shore.",
        "Neon city streets at night seen from a moving car.",
    ),
    "lipsync": (
        "A woman talks to the camera in a sunny kitchen, with natural hand gestures.",
        "A news presenter speaks calmly at a studio desk, soft key light.",
        "An old man tells a story by the fireplace, warm flickering light.",
    ),
    "keyframe": (
        "The camera glides smoothly from the first view to the last, soft morning light.",
        "The flower slowly opens, its petals unfolding.",
        "Day turns to night over the city as the lights come on one by one.",
    ),
    "style": (
        "A watercolor painting, soft bleeding colors on textured paper.",
        "A claymation scene, handmade textures, stop-motion feel.",
        "A neon cyberpunk night, rain-soaked reflections.",
    ),
}


def _prompted(mode: str, suffix: str, presets: dict, **options) -> tuple[Field, ...]:
    auto = LTX25 in _models(mode) and options.get("frames", True)
    return _common(suffix, presets, placeholder=EXAMPLES[mode][0], auto_length=auto, **options)


BOTH = {"t2v": {LTX25: "t2v_ltx25", LTX23: "t2v"}, "i2v": {LTX25: "i2v_ltx25", LTX23: "i2v"},
        "keyframe": {LTX25: "keyframe_ltx25", LTX23: "keyframe"}}  # fmt: skip
ONLY_23 = {
    "a2v": "LTX-2.5 has no published audio-to-video graph yet.",
    "lipsync": "LTX-2.5 has no published lip-sync graph yet.",
    "style": "LTX-2.5 has no union-control IC-LoRA; it exists for LTX-2.3 only.",
}


def _models(mode: str) -> dict:
    return BOTH.get(mode) or {LTX23: mode}


def _model(mode: str) -> tuple[Field, ...]:
    return (model_field(_models(mode), ONLY_23.get(mode, "")),)


def _refine_style(used: dict, info: dict, notes: list) -> None:
    """Style's own rules: the depth control runs on the server's depth model (an unknown
    LTX_AIO_STYLE_DEPTH is refused here, before anything is staged), and keeping the source's
    sound needs a source with sound."""
    if used["control"] == "depth":
        used["depth_model"] = recipes.STYLE_DEPTH.value()
    if used["keep_audio"] and not info["video"].has_audio:
        used["keep_audio"] = False
        notes.append("the source video has no sound, so new sound is generated")


# fmt: off
MODES: dict[str, Mode] = {m.name: m for m in (
    Mode("t2v", "Text to video", "A prompt becomes a video with generated sound.", _models("t2v"),
         _model("t2v") + _prompted("t2v", "", STANDARD_PRESETS, aspect=True), STANDARD_PRESETS,
         examples=EXAMPLES["t2v"]),
    Mode("i2v", "Image to video", "Your image is the first frame; the prompt sets the motion.",
         _models("i2v"),
         (_media("image", "image", "First frame", ("Load image", "image")),) + _model("i2v")
         + _prompted("i2v", MOTION_SUFFIX, STANDARD_PRESETS)
         + (_strength("image_strength", "First-frame strength (pass 1)", 0.7,
                      IMAGE_STRENGTH_HELP, "Image guide 1"),),
         STANDARD_PRESETS, size_from="image", examples=EXAMPLES["i2v"]),
    Mode("a2v", "Audio to video", "Your audio is kept; the video is made to follow it.",
         _models("a2v"),
         (_media("audio", "audio", "Audio", ("Load audio", "audio"),
                 ("Load output audio", "audio")),) + _model("a2v")
         + _prompted("a2v", "", STANDARD_PRESETS, frames=False, aspect=True),
         STANDARD_PRESETS, length_from="audio", examples=EXAMPLES["a2v"]),
    Mode("lipsync", "Lip sync", "A portrait and a speech track become a talking video.",
         _models("lipsync"),
         (_media("image", "image", "Portrait", ("Load image", "image")),
          _media("audio", "audio", "Speech", ("Load audio", "audio"),
                 ("Load output audio", "audio"))) + _model("lipsync")
         + _prompted("lipsync", SPEECH_SUFFIX, STANDARD_PRESETS, frames=False)
         + (_strength("image_strength", "Portrait strength (pass 1)", 0.7,
                      IMAGE_STRENGTH_HELP, "Image guide 1"),
            AUDIO_NOISE),
         STANDARD_PRESETS, size_from="image", length_from="audio",
         examples=EXAMPLES["lipsync"]),
    Mode("keyframe", "First + last frame", "The motion between two frames you give.",
         _models("keyframe"),
         (_media("first_image", "image", "First frame", ("Load first image", "image")),
          _media("last_image", "image", "Last frame", ("Load last image", "image")))
         + _model("keyframe")
         + _prompted("keyframe", KEYFRAME_SUFFIX, STANDARD_PRESETS,
                     family_presets={LTX25: KEYFRAME_25_PRESETS})
         + (_strength("first_strength", "First-frame strength", 0.7, KEYFRAME_STRENGTH_HELP,
                      "First frame guide 1", "First frame guide 2"),
            _strength("last_strength", "Last-frame strength", 0.7,
                      KEYFRAME_STRENGTH_HELP + " Lower if the end snaps to the last frame.",
                      "Last frame guide 1", "Last frame guide 2")),
         STANDARD_PRESETS, family_presets={LTX25: KEYFRAME_25_PRESETS},
         size_from="first_image", examples=EXAMPLES["keyframe"]),
    Mode("style", "Restyle video", "Your video's pose, depth or edges, restyled by the prompt.",
         _models("style"),
         STYLE_FIELDS + _model("style") + _prompted("style", "", STYLE_PRESETS, fps=False),
         STYLE_PRESETS, size_from="video", length_from="video", fps_from="video",
         examples=EXAMPLES["style"], one_pass_multiple=64, refine=_refine_style),
)}
# fmt: on

CONTROL_NODES = patches.CONTROL_NODES


# ------------------------------------------------------------------------------ normalisation


def snap_frames(frames: int, cap: int) -> int:
    """Nearest 8k+1 in 9..cap."""
    k = max(1, round((frames - 1) / 8))
    return max(9, min(8 * k + 1, longest(cap)))


def floor_frames(frames: float, cap: int) -> int:
    """Largest 8k+1 <= frames (never past the video it restyles), in 9..cap."""
    k = max(1, int((frames - 1) // 8))
    return max(9, min(8 * k + 1, longest(cap)))


def cover_frames(frames: float, cap: int) -> int:
    """Smallest 8k+1 >= frames (the whole audio plays), in 9..cap."""
    k = max(1, math.ceil((frames - 1) / 8 - 1e-9))  # float noise in seconds x fps adds none
    return max(9, min(8 * k + 1, longest(cap)))


def longest(cap: int) -> int:
    """The most frames a preset capped at `cap` makes: the largest 8k+1 <= cap."""
    return (cap - 1) // 8 * 8 + 1


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
    values = normalise(m, params)
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

    used = {
        "mode": m.name,
        "preset": preset.name,
        "seed": seed,
        "width": width,
        "height": height,
        "frames": frames,
        "fps": fps,
        "duration": round(frames / fps, 3),
        "stages": preset.stages,
        "samplers": list(recipes.samplers(m.name, values.get("model") or m.models[0], preset.name)),
        "job_id": job_id,
    }
    for f in m.fields:
        if not f.is_media and f.name not in used:
            used[f.name] = values[f.name]
    if m.refine is not None:
        m.refine(used, info, notes)
    audio = info.get("audio")
    if audio is not None and audio.channels > 2:
        notes.append(f"the audio's {audio.channels} channels were mixed down to stereo")
    return Checked(mode=m, values=values, info=info, used=used, notes=notes)


def stage(checked: Checked, *, input_dir: Path) -> Prepared:
    """Copy a checked job's media into ComfyUI's input dir and fill the mode's template."""
    used = dict(checked.used)
    used["files"] = _stage_media(
        checked.mode, checked.values, checked.info, used, Path(input_dir), used["job_id"]
    )
    return Prepared(prompt=checked.mode.parameterize(used), used=used, notes=list(checked.notes))


def prepare(mode: str, params: dict, *, input_dir: Path, job_id: str) -> Prepared:
    return stage(check(mode, params, job_id=job_id), input_dir=input_dir)


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


def _stage_media(
    m: Mode, values: dict, info: dict, used: dict, input_dir: Path, job_id: str
) -> dict:
    files = {}
    for f in m.fields:
        if f.kind == "audio":
            files[f.name] = media.stage_audio(
                values[f.name], input_dir, job_id, f.name, info[f.name].channels
            )
        elif f.is_media:
            files[f.name] = media.stage(values[f.name], input_dir, job_id, f.name)
    if "audio" in files:
        files["audio_model"] = files["audio"]
        level = used.get("audio_noise") or 0.0
        if level > 0:
            files["audio_model"] = media.stage_noised_audio(
                values["audio"], input_dir, job_id, "audio", level, used["seed"]
            )
    return files


def required_models(
    mode: str,
    preset: str = "balanced",
    control: str | None = None,
    model: str | None = None,
    auto_length: bool = False,
    depth_model: str | None = None,
) -> list:
    """The weight files one run of `mode` with `preset` (and `model`: the mode's default when
    None; with automatic length or not; style's depth with `depth_model`, the server's
    LTX_AIO_STYLE_DEPTH when None) loads (for preloading / download)."""
    setting = os.environ.get(recipes.STYLE_DEPTH.env, "")  # part of the key: read in the patch
    return list(_required_models(mode, preset, control, model, auto_length, depth_model, setting))


# A graph built only to list its files: the same answer each time (the model list, /healthz and
# the Models view ask for every mode, preset and family at once). A refusal is not kept.
@functools.lru_cache(maxsize=1024)
def _required_models(mode, preset, control, model, auto_length, depth_model, _setting) -> tuple:
    m = MODES[mode]
    used = {
        "model": model or m.models[0], "auto_length": auto_length,
        "stages": m.preset(preset, model).stages, "width": 1024, "height": 576, "frames": 121,
        "fps": 24, "duration": 5.0, "seed": 0, "job_id": "models",
        "image_strength": 0.7, "first_strength": 0.7, "last_strength": 0.7,
        "control": control or "depth", "control_strength": 1.0, "keep_audio": False,
        "depth_model": depth_model,
    }  # fmt: skip
    return tuple(workflow.model_files(m.parameterize(used)))
