"""Patches that fill a workflow template from one job's `Spec` (job_spec.py).

Nodes are addressed by their stable titles (see tools/build_workflows.py), never by id. After the
patches, nodes no output needs any more (stage 2 of a one-pass preset, the unchosen control
preprocessors, the unused source-audio branch) are pruned, so the graph's model list is exactly
what it loads.
"""

from __future__ import annotations

from collections.abc import Callable

import decode_plan
import loras
import media
import recipes
import workflow
from job_spec import Spec

CONTROL_NODES = {"pose": "Pose control", "depth": "Depth control", "canny": "Canny control"}
# The depth control's node per depth model (recipes.STYLE_DEPTH, LTX_AIO_STYLE_DEPTH).
DEPTH_NODES = {"depth_anything_v2": "Depth control", "moge": "Depth control (MoGe)"}

# The shortest clip LTX-2.5's duration head may choose (LTXVDurationPredictor's own default).
AUTO_MIN_S = 1.0
# Where a job keeps the enhancer's rewrite of its prompt (beside "prompt", the user's own).
ENHANCED = "enhanced_prompt"
# The folder of ComfyUI's output/ every graph's SaveVideo writes into.
OUTPUT_SUBFOLDER = "ltx-aio"


def _set(prompt: dict, title: str, name: str, value) -> None:
    workflow.set_input(prompt, title, name, value)


# A mode's own patch, after the common ones (Mode.patch): it may note what it chose in the Spec.
Patch = Callable[[dict, Spec, dict], None]


def parameterize(template: str, spec: Spec, fields=(), patch: Patch | None = None) -> dict:
    """A patched deep copy of workflows/<template>.json for the job `spec`: each field's value
    into the nodes it names, the sizes, frames, seed and decode, then the mode's own `patch`."""
    prompt = workflow.load_template(template)
    files = spec.files or {}
    for f in fields:
        value = files.get(f.name) if f.is_media else spec.value(f.name)
        for title, name in f.patch if value is not None else ():
            # A target the graph lacks (pruned, or not in this family's graph) is skipped; tests
            # check that every target is in one of the mode's graphs.
            if workflow.has_node(prompt, title):
                _set(prompt, title, name, value)
    # One pass: the preset's (on that family), or a graph that has only one (style).
    single = spec.stages == 1 or not workflow.has_node(prompt, "Upscale latent")
    w, h = spec.width, spec.height
    lw, lh = (w, h) if single else (w // 2, h // 2)
    fps, frames = spec.fps, spec.frames

    # The enhancer's rewrite, when the job asked for one (enhance.py), is what the model reads.
    text = spec.inputs.get(ENHANCED) or spec.inputs.get("prompt", "")
    if spec.inputs.get("prompt_suffix"):
        text = f"{text} {spec.inputs['prompt_suffix']}".strip()
    _set(prompt, "Positive prompt", "text", text)
    _set(prompt, "Conditioning", "frame_rate", float(fps))
    _set(prompt, "Create video", "fps", float(fps))
    if workflow.has_node(prompt, "Video latent"):  # a retake encodes its source instead
        _set(prompt, "Video latent", "width", lw)
        _set(prompt, "Video latent", "height", lh)
        _set(prompt, "Video latent", "length", frames)
    if workflow.has_node(prompt, "Audio latent"):
        _set(prompt, "Audio latent", "frames_number", frames)
        _set(prompt, "Audio latent", "frame_rate", int(round(fps)))
    # LTX-2.5's duration head, where the graph makes a clip of its own length (not an edit's).
    if (
        spec.inputs.get("auto_length")
        and workflow.has_node(prompt, "Duration")
        and (workflow.has_node(prompt, "Video latent") and spec.edit is None)
    ):
        _auto_length(prompt, fps, frames)
    _set(prompt, "Noise 1", "noise_seed", spec.seed)
    if workflow.has_node(prompt, "Noise 2"):
        _set(prompt, "Noise 2", "noise_seed", (spec.seed + 1) % 2**32)
    _plan_decode(prompt, spec)
    prefix = f"{OUTPUT_SUBFOLDER}/{spec.mode}_{media.sanitize(spec.job_id or 'job', 40)}"
    _set(prompt, "Save video", "filename_prefix", prefix)

    if patch is not None:
        patch(prompt, spec, files)
    _add_loras(prompt, spec)
    if single and workflow.has_node(prompt, "Upscale latent"):
        _single_stage(prompt)
    workflow.prune(prompt)
    return prompt


def _add_loras(prompt: dict, spec: Spec) -> None:
    """The job's LoRAs (loras.py), one LoraLoaderModelOnly each in slot order, between the model
    the samplers get (after the distilled or IC-LoRA where the graph has one) and everything that
    took it: both passes, and LTX-2.5's duration head, see one model. A job without LoRAs keeps
    its graph as it was."""
    chosen = loras.of_spec(spec)
    if not chosen or not workflow.has_node(prompt, "Guider 1"):
        return
    source = list(workflow.find_node(prompt, "Guider 1")[1]["inputs"]["model"])
    model, added = source, set()
    for k, ref, strength in chosen:
        inputs = {"model": model, "lora_name": ref.filename, "strength_model": float(strength)}
        node = workflow.add_node(prompt, "LoraLoaderModelOnly", inputs, loras.lora_title(k))
        added.add(node)
        model = [node, 0]
    workflow.relink(prompt, source, model, keep=added)


def _plan_decode(prompt: dict, spec: Spec) -> None:
    """Cut the decode so that it fits the memory it may use (`spec.memory_gb`, else
    decode_plan's default), and say how in the Spec: `decode` for History, `decode_note` when
    even the smallest tiles need more (the job moves it into its notes)."""
    family = decode_plan.LTX25 if workflow.has_node(prompt, "Transformer") else decode_plan.LTX23
    memory_gb = spec.memory_gb or decode_plan.DEFAULT_MEMORY_GB
    dtype_size = spec.decode_dtype_bytes or decode_plan.DTYPE_SIZE
    decode = decode_plan.plan(
        family, spec.width, spec.height, spec.frames, memory_gb * 1e9, dtype_size
    )
    for name, value in decode.inputs.items():
        _set(prompt, "Decode video", name, value)
    spec.decode = decode.describe()
    spec.decode_note = None if decode.fits else decode.note()


# LTXVDurationPredictor's bounds: it may not be asked for less than half a second.
DURATION_MIN_S = 0.5


def _auto_length(prompt: dict, fps: int, frames: int) -> None:
    """LTX-2.5's duration head picks the length, from AUTO_MIN_S up to `frames` (the cap): the
    latents take its frame count instead of the fixed one."""
    longest = max(frames / fps, DURATION_MIN_S)
    _set(prompt, "Duration", "frame_rate", float(fps))
    _set(prompt, "Duration", "max_seconds", round(longest, 3))
    _set(prompt, "Duration", "min_seconds", min(AUTO_MIN_S, longest))
    _set(prompt, "Video latent", "length", workflow.link(prompt, "Duration"))
    _set(prompt, "Audio latent", "frames_number", workflow.link(prompt, "Duration"))


def _single_stage(prompt: dict) -> None:
    """Decode stage 1 directly: point the decoders at it; prune() then drops stage 2."""
    video = (
        workflow.link(prompt, "Crop guides 1", 2)
        if workflow.has_node(prompt, "Crop guides 1")
        else None
    )
    _set(prompt, "Decode video", "samples", video or workflow.link(prompt, "Separate AV 1", 0))
    if workflow.has_node(prompt, "Decode audio"):
        _set(prompt, "Decode audio", "samples", workflow.link(prompt, "Separate AV 1", 1))


def patch_audio(prompt: dict, spec: Spec, files: dict) -> None:
    """a2v and lipsync: the model hears the staged (maybe noised) audio; both trims last as
    long as the frames."""
    # The model may hear a faintly noised copy (media.stage_noised_audio); the output never does.
    if "audio_model" in files:
        _set(prompt, "Load audio", "audio", files["audio_model"])
    # As long as the frames last, unrounded: the mp4 keeps that much sound (VideoFromComponents
    # cuts the audio to the frames), and prepare.py gives the audio frames enough to play whole.
    for title in ("Trim audio", "Trim output audio"):
        _set(prompt, title, "duration", spec.frames / spec.fps)


# The keyframe graph's slots between the first and the last frame (tools/build_workflows.py).
MIDDLE_KEYFRAMES = range(2, 8)


def keyframe_frame(seconds: float, fps: int, frames: int) -> int:
    """The frame a keyframe at `seconds` lands on: the nearest, the clip's last at most."""
    return min(int(round(seconds * fps)), frames - 1)


def patch_keyframes(prompt: dict, spec: Spec, files: dict) -> None:
    """keyframe: each pass's guide chain runs first frame, the middle keyframes that have an
    image, last frame (a slot without one drops out of the chain; prune() removes it and its
    image), each at its frame: the first's time (0 s by default), the middle ones' times, the
    last's (the clip's end, frame_idx -1, by default)."""
    chain = [("First frame guide", spec.inputs.get("first_time") or 0.0)]
    chain += [
        (f"Keyframe {k} guide", spec.inputs.get(f"time_{k}"))
        for k in MIDDLE_KEYFRAMES
        if files.get(f"image_{k}")
    ]
    chain.append(("Last frame guide", spec.inputs.get("last_time")))
    for stage in (1, 2):
        if not workflow.has_node(prompt, f"First frame guide {stage}"):
            continue
        before = None
        for name, seconds in chain:
            title = f"{name} {stage}"
            frame = -1 if seconds is None else keyframe_frame(seconds, spec.fps, spec.frames)
            _set(prompt, title, "frame_idx", frame)
            if before is not None:
                for slot, link_name in enumerate(("positive", "negative", "latent")):
                    _set(prompt, title, link_name, workflow.link(prompt, before, slot))
            before = title


def patch_style(prompt: dict, spec: Spec, files: dict) -> None:
    """style: the source's slice and size, the chosen control preprocessor (depth: the
    server's model, noted in the Spec), and the source's own audio when it is kept."""
    # One frame of margin: the slice's end may round down, and "Select frames" cuts exactly.
    _set(prompt, "Slice video", "duration", round((spec.frames + 1) / spec.fps, 3))
    _set(prompt, "Select frames", "length", spec.frames)
    _set(prompt, "Resize video", "resize_type.width", spec.width)
    _set(prompt, "Resize video", "resize_type.height", spec.height)
    control = CONTROL_NODES[spec.inputs["control"]]
    if spec.inputs["control"] == "depth":
        # The server's depth model, recorded for History (prepare.check may have filled it).
        spec.depth_model = spec.depth_model or recipes.STYLE_DEPTH.value()
        control = DEPTH_NODES[spec.depth_model]
    _set(prompt, "Control guide", "image", workflow.link(prompt, control))
    if spec.inputs.get("keep_audio"):
        _set(prompt, "Create video", "audio", workflow.link(prompt, "Trim source audio"))
        _set(prompt, "Trim source audio", "duration", spec.duration)
        _set(prompt, "AV latent 1", "audio_latent", workflow.link(prompt, "Freeze source audio"))


def patch_extend(prompt: dict, spec: Spec, files: dict) -> None:
    """extend: the context at each pass's size; without the clip's sound to continue, the
    context is the staged clip's silence and nothing of it is kept (the new part's sound is made
    from the prompt)."""
    half = spec.stages != 1 and workflow.has_node(prompt, "Upscale latent")
    sizes = {1: (spec.width // 2, spec.height // 2) if half else (spec.width, spec.height),
             2: (spec.width, spec.height)}  # fmt: skip
    for stage, (width, height) in sizes.items():
        if workflow.has_node(prompt, f"Resize context {stage}"):
            _set(prompt, f"Resize context {stage}", "resize_type.width", width)
            _set(prompt, f"Resize context {stage}", "resize_type.height", height)
    if not spec.inputs.get("keep_sound", True):
        _set(prompt, "AV latent 1", "audio_latent", workflow.link(prompt, "Audio latent"))


def patch_retake(prompt: dict, spec: Spec, files: dict) -> None:
    """retake: the window is encoded at the first pass's size, and the range to make again is
    masked in both passes, in the window's own time (edits.Retake plans it)."""
    half = spec.stages != 1 and workflow.has_node(prompt, "Upscale latent")
    _set(prompt, "Resize video", "resize_type.width", spec.width // 2 if half else spec.width)
    _set(prompt, "Resize video", "resize_type.height", spec.height // 2 if half else spec.height)
    plan = spec.edit or {"window_start": 0, "start_frame": 0, "end_frame": 1}  # models only
    for stage in (1, 2):
        title = f"Retake mask {stage}"
        if workflow.has_node(prompt, title):
            _set(prompt, title, "frame_rate", float(spec.fps))
            _set(prompt, title, "start_s", (plan["start_frame"] - plan["window_start"]) / spec.fps)
            _set(prompt, title, "end_s", (plan["end_frame"] - plan["window_start"]) / spec.fps)
