"""The modes, declared: their inputs (once, as Fields), presets, graphs and own rules.

A `Mode` says everything that differs between modes: its fields, presets, which medium sets the
size, length and frame rate, its own patch of the graph (patches.py) and its last word on a
checked job (`refine`). It checks itself where it is declared. prepare.py turns a submission
into a job of one of these (`prepare.check` -> Spec, `prepare.stage` -> Prepared); a Mode fills
its graph from that Spec (`parameterize`), and `required_models` lists what a run loads.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import edits
import errors
import frame_math
import loras
import patches
import recipes
import workflow
from fields import KINDS, MEDIA_KINDS, Field, number_text  # noqa: F401  (this API)
from job_spec import Spec

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
    # The mode's own patch of its graph, after the common ones (patches.py).
    patch: patches.Patch | None = None
    # The mode's own last word on a checked job: refine(spec, info, notes) may set values the
    # fields do not (e.g. the server's depth model) and say what it changed in `notes`.
    refine: Callable[[Spec, dict, list], None] | None = None
    # A video edit (extend, retake): the window of its source it sends and how the clip made
    # from it goes back into the source (edits.py). Its length comes from the edit's plan.
    edit: edits.Edit | None = None
    # The image the prompt enhancer sees with the prompt (enhance.py): the first frame, the
    # portrait; None: it reads the prompt alone.
    enhance_image: str | None = None

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
        if self.enhance_image is not None and not any(
            f.name == self.enhance_image and f.kind == "image" for f in self.fields
        ):
            raise ValueError(f"mode {self.name}: enhance_image={self.enhance_image!r} is not "
                             "one of its images")  # fmt: skip
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

    def parameterize(self, spec: Spec) -> dict:
        """A patched deep copy of the template for the checked job `spec`: the graph of the
        model family `spec.model` names (the mode's default when absent)."""
        template = self.workflows[spec.model or self.models[0]]
        prompt = patches.parameterize(template, spec, self.fields, self.patch)
        for stage, sampler in enumerate(spec.samplers, start=1):
            if workflow.has_node(prompt, f"Sampler {stage}"):  # a one-pass run has no refine
                workflow.set_input(prompt, f"Sampler {stage}", "sampler_name", sampler)
        return prompt


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
EXTEND_SUFFIX = "The shot continues seamlessly from where it left off, in the same style."


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
        ENHANCED_PROMPT,
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
    out.append(ENHANCE_PROMPT)
    return tuple(out)


# The prompt enhancer (enhance.py): the job's own text encoder rewrites the prompt first.
ENHANCE_PROMPT = Field(
    "enhance_prompt", "bool", "Enhance the prompt", False, advanced=True,
    help="Before generating, the model's own Gemma text encoder rewrites the prompt into a "
    "detailed one in Lightricks' style (with the first image where the mode has one), and that "
    "is what the video is made from; History keeps both. The Enhance button shows the "
    "rewrite for editing first. Slower: the rewrite runs on the GPU too. An Enhanced prompt "
    "already given is used as it is.",
)  # fmt: skip
# The rewrite the model reads in place of the prompt: the Enhance button's, edited as the user
# likes, or the job's own (enhance_prompt); the user's prompt stays beside it in History.
ENHANCED_PROMPT = Field(
    patches.ENHANCED, "text", "Enhanced prompt", None, max_len=MAX_PROMPT_CHARS,
    help="What the video is made from in place of the prompt: the Enhance button puts its "
    "rewrite here, to edit. Empty: the prompt as written. History keeps both.",
)  # fmt: skip


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


def _media(name: str, kind: str, label: str, *targets: tuple[str, str], **options) -> Field:
    """A media field, required unless `required=False` says otherwise."""
    return Field(name, kind, label, **{"required": True, **options}, patch=targets)


IMAGE_STRENGTH_HELP = "Lower moves more; 1.0 tends to freeze. Official default 0.7."
KEYFRAME_STRENGTH_HELP = (
    "How closely the video holds this frame; 1.0 tends to freeze on it. Official default 0.7."
)
# The keyframe mode's optional keyframes, in a section of their own: each keyframe between the
# first and the last (slots 2..7: image_k, time_k, strength_k), and the first's and last's times.
KEYFRAMES = "More keyframes"
MIDDLE_KEYFRAMES = patches.MIDDLE_KEYFRAMES
KEYFRAME_TIME_HELP = (
    "Seconds from the clip's start, between the first frame's time and the last's; the frame "
    "nearest this time shows the image. The model holds frames in groups of 8 (latent "
    "frames): two keyframes may not fall in one, and 8 frames apart never do."
)


def _time(name: str, label: str, help: str, placeholder: str) -> Field:
    return Field(name, "float", label, None, 0.0, 60.0, 0.01, help=help, group=KEYFRAMES,
                 placeholder=placeholder)  # fmt: skip


def _keyframe_fields() -> tuple[Field, ...]:
    out = [
        _time("first_time", "First frame at (s)", "When the first frame shows. Empty: at 0 s, "
              "the clip's start.", "start"),
        _time("last_time", "Last frame at (s)", "When the last frame shows. Empty: the clip's "
              "last frame.", "end"),
    ]  # fmt: skip
    for k in MIDDLE_KEYFRAMES:
        out += [
            _media(f"image_{k}", "image", f"Keyframe {k}", (f"Load keyframe {k} image", "image"),
                   required=False, group=KEYFRAMES,
                   help=f"An image the video passes through at its time (Keyframe {k} at (s))."),
            _time(f"time_{k}", f"Keyframe {k} at (s)",
                  f"When Keyframe {k} shows (needed with its image). " + KEYFRAME_TIME_HELP,
                  "seconds"),
            dataclasses.replace(
                _strength(f"strength_{k}", f"Keyframe {k} strength", 0.7, KEYFRAME_STRENGTH_HELP,
                          f"Keyframe {k} guide 1", f"Keyframe {k} guide 2"),
                advanced=False, group=KEYFRAMES),
        ]  # fmt: skip
    return tuple(out)


def _keyframe_times(spec: Spec, info: dict) -> list[tuple[str, str, float | None]]:
    """(title, time field, time) of each keyframe the job has, in slot order: the first, the
    middle ones with an image, the last (time None: the clip's end)."""
    out = [("the first frame", "first_time", spec.inputs.get("first_time") or 0.0)]
    for k in MIDDLE_KEYFRAMES:
        if info.get(f"image_{k}") is not None:  # its image given (inspected)
            out.append((f"Keyframe {k}", f"time_{k}", spec.inputs.get(f"time_{k}")))
    out.append(("the last frame", "last_time", spec.inputs.get("last_time")))
    return out


def _refine_keyframe(spec: Spec, info: dict, notes: list) -> None:
    """Keyframe's own rules: each middle keyframe has both its image and its time; every time
    is within the clip; no two keyframes share a latent frame (8 frames); and a length the model
    picks (automatic length) takes no times, as it is not known until the run."""
    for k in MIDDLE_KEYFRAMES:
        image, time = info.get(f"image_{k}"), spec.inputs.get(f"time_{k}")
        if image is not None and time is None:
            raise errors.bad_input(
                f"time_{k}", f"Keyframe {k} has an image but no time",
                hint=f"Set Keyframe {k} at (s), or remove its image.",
            )  # fmt: skip
        if image is None and time is not None:
            raise errors.bad_input(
                f"time_{k}", f"Keyframe {k} has a time ({number_text(time)} s) but no image",
                hint=f"Add Keyframe {k}'s image, or clear its time.",
            )  # fmt: skip
    timed = [(t, n, v) for t, n, v in _keyframe_times(spec, info) if spec.inputs.get(n) is not None]
    if spec.inputs.get("auto_length") and timed:
        title, name, _ = timed[0]
        raise errors.bad_input(
            name, f"automatic length cannot place {title} at a time: the length is not known "
            "until the run",
            hint="Turn Automatic length off and set Frames or Duration, or clear the time.",
        )  # fmt: skip
    seconds, last = spec.frames / spec.fps, spec.frames - 1
    for title, name, time in timed:
        if time > seconds + 1e-9:
            raise errors.bad_input(
                name, f"{title} is at {number_text(time)} s, past the clip's end "
                f"({seconds:.2f} s: {spec.frames} frames at {spec.fps} fps)",
                hint=f"Set a time from 0 to {seconds:.2f} s, or make the clip longer "
                "(Frames or Duration).",
            )  # fmt: skip
    _refuse_out_of_order(spec, timed, seconds)
    placed: dict[int, tuple[str, str, int]] = {}
    for title, name, time in _keyframe_times(spec, info):
        frame = last if time is None else patches.keyframe_frame(time, spec.fps, spec.frames)
        at = frame_math.latent_frame(frame)
        if at in placed:
            other, other_name, other_frame = placed[at]
            # The time the user set (a middle keyframe's always is) is the one to move.
            named = name if spec.inputs.get(name) is not None else other_name
            raise errors.bad_input(
                named, f"overlapping keyframes: {other} (frame {other_frame}) and {title} "
                f"(frame {frame}) fall on the same latent frame",
                hint=f"Keyframes 8 frames ({8 / spec.fps:.2f} s at {spec.fps} fps) or more "
                "apart never share one; move one of them.",
            )  # fmt: skip
        placed[at] = (title, name, frame)


def _refuse_out_of_order(spec: Spec, timed: list, seconds: float) -> None:
    """The first frame comes before every other keyframe and the last after every other (the
    middle ones may be given in any order: each is placed at its own time)."""
    first, last = spec.inputs.get("first_time"), spec.inputs.get("last_time")
    start, end = first or 0.0, seconds if last is None else last
    if first is not None and last is not None and last < first:
        raise errors.bad_input(
            "last_time", f"the last frame is at {number_text(last)} s, before the first frame "
            f"({number_text(first)} s)",
            hint="Set Last frame at (s) after First frame at (s), or swap the two images.",
        )  # fmt: skip
    for title, name, time in timed:
        if name in ("first_time", "last_time"):
            continue
        if time < start:
            raise errors.bad_input(
                name, f"{title} is at {number_text(time)} s, before the first frame "
                f"({number_text(start)} s)",
                hint=f"Set it from {number_text(start)} s on, or move First frame at (s) "
                "earlier.",
            )  # fmt: skip
        if time > end:
            raise errors.bad_input(
                name, f"{title} is at {number_text(time)} s, after the last frame "
                f"({number_text(end)} s)",
                hint=f"Set it before {number_text(end)} s, or move Last frame at (s) later.",
            )  # fmt: skip


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
    "extend": (
        "The camera keeps gliding forward as the scene carries on; the same sounds continue.",
        "She finishes her sentence, smiles and turns away from the camera.",
        "The wave rolls on and breaks on the shore, foam rushing up the sand.",
    ),
    "retake": (
        "He laughs and raises his glass instead.",
        "A dog runs through the frame, barking.",
        "The door slams shut with a loud bang.",
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
        "keyframe": {LTX25: "keyframe_ltx25", LTX23: "keyframe"},
        "extend": {LTX25: "extend_ltx25", LTX23: "extend"},
        "retake": {LTX25: "retake_ltx25", LTX23: "retake"}}  # fmt: skip
ONLY_23 = {
    "a2v": "LTX-2.5 has no published audio-to-video graph yet.",
    "lipsync": "LTX-2.5 has no published lip-sync graph yet.",
    "style": "LTX-2.5 has no union-control IC-LoRA; it exists for LTX-2.3 only.",
}


def _models(mode: str) -> dict:
    return BOTH.get(mode) or {LTX23: mode}


def _model(mode: str) -> tuple[Field, ...]:
    return (model_field(_models(mode), ONLY_23.get(mode, "")),)


def _edit_fields(mode: str, suffix: str, own: tuple[Field, ...]) -> tuple[Field, ...]:
    """An edit's fields: its source, its own, the model, and the prompted fields without the
    length and rate (the edit's own); the size is what the new frames are made at."""
    prompted = _prompted(mode, suffix, STANDARD_PRESETS, frames=False, fps=False)
    kept = tuple(
        dataclasses.replace(f, help=EDIT_SIZE_HELP) if f.name in ("width", "height") else f
        for f in prompted
    )
    source = _media("video", "video", "Video", ("Load video", "file"))
    return (source,) + own + _model(mode) + kept


EDIT_SIZE_HELP = (
    "The size the new frames are made at. Empty: from the video's aspect and the preset. The "
    "result keeps the video's own size (new frames are scaled to it)."
)


EXTEND_FIELDS = (
    Field("seconds", "float", "Seconds to add", 4.0, 0.5, 20.0, 0.1,
          help="How much longer the clip gets. One step makes at most the preset's frames, "
          "context included (fast: about 4 s, balanced and quality: about 9 s); extend the "
          "result again for more."),
    Field("keep_sound", "bool", "Continue the sound", True,
          help="On: the new part continues the clip's sound. Off: its sound is made from the "
          "prompt (a silent video needs this off)."),
    Field("context_frames", "int", "Context frames", 25, 9, 97, 8, advanced=True,
          help="How many of the clip's last frames the new part continues from (8k+1: 25 is "
          "about 1 s at 24 fps). More keeps motion steadier; fewer leaves room for new frames."),
)  # fmt: skip
RETAKE_FIELDS = (
    Field("start", "float", "Start (s)", None, 0.0, 3600.0, 0.01, required=True,
          help="Where the part to make again begins, in seconds from the clip's start.",
          placeholder="seconds"),
    Field("end", "float", "End (s)", None, 0.0, 3600.0, 0.01, required=True,
          help="Where it ends. Everything before Start and after End is kept as it is, "
          "picture and sound.", placeholder="seconds"),
)  # fmt: skip


def _refine_style(spec: Spec, info: dict, notes: list) -> None:
    """Style's own rules: the depth control runs on the server's depth model (an unknown
    LTX_AIO_STYLE_DEPTH is refused here, before anything is staged), and keeping the source's
    sound needs a source with sound."""
    if spec.inputs["control"] == "depth":
        spec.depth_model = recipes.STYLE_DEPTH.value()
    if spec.inputs["keep_audio"] and not info["video"].has_audio:
        spec.inputs["keep_audio"] = False
        notes.append("the source video has no sound, so new sound is generated")


# Every mode's LoRAs, in a section of their own (loras.py says what a value may name).
LORAS = "LoRAs"
LORA_HELP = (
    "A known LoRA of the chosen model ({known}), hf:Owner/Repo/path/file.safetensors from the "
    "Hugging Face Hub (downloaded with the other weights), or a .safetensors file in the models "
    "folder's loras/."
)
STRENGTH_HELP = "How strongly it applies; negative turns its effect around."


def _known_text() -> str:
    return "; ".join(
        f"{MODEL_TITLES[family]}: " + (", ".join(k.name for k in loras.known(family)) or "none")
        for family in MODEL_TITLES
    )


def _lora_fields(k: int) -> tuple[Field, Field]:
    """Slot k's LoRA and strength; the first slot's help says it for all four."""
    first = k == loras.SLOTS[0]
    help = LORA_HELP.format(known=_known_text()) if first else "Another LoRA, as LoRA 1 takes."
    suggest = tuple((m, tuple(x.name for x in loras.known(m))) for m in MODEL_TITLES)
    return (
        Field(f"lora_{k}", "text", f"LoRA {k}", "", max_len=400, group=LORAS, help=help,
              suggest=suggest),
        Field(f"lora_{k}_strength", "float", f"LoRA {k} strength", 1.0, -2.0, 2.0, 0.05,
              group=LORAS, help=STRENGTH_HELP if first else ""),
    )  # fmt: skip


LORA_FIELDS = tuple(f for k in loras.SLOTS for f in _lora_fields(k))


def _with_loras(mode: Mode) -> Mode:
    return dataclasses.replace(mode, fields=mode.fields + LORA_FIELDS)


# fmt: off
MODES: dict[str, Mode] = {m.name: m for m in map(_with_loras, (
    Mode("t2v", "Text to video", "A prompt becomes a video with generated sound.", _models("t2v"),
         _model("t2v") + _prompted("t2v", "", STANDARD_PRESETS, aspect=True), STANDARD_PRESETS,
         examples=EXAMPLES["t2v"]),
    Mode("i2v", "Image to video", "Your image is the first frame; the prompt sets the motion.",
         _models("i2v"),
         (_media("image", "image", "First frame", ("Load image", "image")),) + _model("i2v")
         + _prompted("i2v", MOTION_SUFFIX, STANDARD_PRESETS)
         + (_strength("image_strength", "First-frame strength (pass 1)", 0.7,
                      IMAGE_STRENGTH_HELP, "Image guide 1"),),
         STANDARD_PRESETS, size_from="image", examples=EXAMPLES["i2v"], enhance_image="image"),
    Mode("a2v", "Audio to video", "Your audio is kept; the video is made to follow it.",
         _models("a2v"),
         (_media("audio", "audio", "Audio", ("Load audio", "audio"),
                 ("Load output audio", "audio")),) + _model("a2v")
         + _prompted("a2v", "", STANDARD_PRESETS, frames=False, aspect=True),
         STANDARD_PRESETS, length_from="audio", examples=EXAMPLES["a2v"],
         patch=patches.patch_audio),
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
         examples=EXAMPLES["lipsync"], patch=patches.patch_audio, enhance_image="image"),
    Mode("keyframe", "Keyframes", "The motion through two to eight frames you give: the "
         "first, the last and up to six between, each at its time.",
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
                      "Last frame guide 1", "Last frame guide 2"))
         + _keyframe_fields(),
         STANDARD_PRESETS, family_presets={LTX25: KEYFRAME_25_PRESETS},
         size_from="first_image", examples=EXAMPLES["keyframe"], enhance_image="first_image",
         patch=patches.patch_keyframes, refine=_refine_keyframe),
    Mode("style", "Restyle video", "Your video's pose, depth or edges, restyled by the prompt.",
         _models("style"),
         STYLE_FIELDS + _model("style") + _prompted("style", "", STYLE_PRESETS, fps=False),
         STYLE_PRESETS, size_from="video", length_from="video", fps_from="video",
         examples=EXAMPLES["style"], one_pass_multiple=64, patch=patches.patch_style,
         refine=_refine_style),
    Mode("extend", "Extend video", "Your video, continued by the seconds you choose, picture "
         "and sound.", _models("extend"), _edit_fields("extend", EXTEND_SUFFIX, EXTEND_FIELDS),
         STANDARD_PRESETS, size_from="video", fps_from="video", examples=EXAMPLES["extend"],
         patch=patches.patch_extend, edit=edits.EXTEND),
    Mode("retake", "Retake a moment", "A time range of your video made again with a new "
         "prompt; the rest is kept.", _models("retake"),
         _edit_fields("retake", "", RETAKE_FIELDS), STANDARD_PRESETS, size_from="video",
         fps_from="video", examples=EXAMPLES["retake"], patch=patches.patch_retake,
         edit=edits.RETAKE),
))}
# fmt: on

CONTROL_NODES = patches.CONTROL_NODES


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
    spec = Spec(
        mode=mode, job_id="models", preset=preset, seed=0, width=1024, height=576, frames=121,
        fps=24, stages=m.preset(preset, model).stages, depth_model=depth_model,
        inputs={
            "model": model or m.models[0], "auto_length": auto_length,
            "image_strength": 0.7, "first_strength": 0.7, "last_strength": 0.7,
            "control": control or "depth", "control_strength": 1.0, "keep_audio": False,
        },
    )  # fmt: skip
    return tuple(workflow.model_files(m.parameterize(spec)))
