"""Patches that fill a workflow template from a mode's normalised values.

Nodes are addressed by their stable titles (see tools/build_workflows.py), never by id. After the
patches, nodes no output needs any more (stage 2 of a one-pass preset, the unchosen control
preprocessors, the unused source-audio branch) are pruned, so the graph's model list is exactly
what it loads.
"""

from __future__ import annotations

import media
import workflow

CONTROL_NODES = {"pose": "Pose control", "depth": "Depth control", "canny": "Canny control"}


def _set(prompt: dict, title: str, name: str, value) -> None:
    workflow.set_input(prompt, title, name, value)


def parameterize(mode: str, template: str, used: dict) -> dict:
    """A patched deep copy of workflows/<template>.json for normalised values `used`."""
    prompt = workflow.load_template(template)
    single = used["stages"] == 1
    w, h = used["width"], used["height"]
    lw, lh = (w, h) if single else (w // 2, h // 2)
    fps, frames = used["fps"], used["frames"]

    text = used.get("prompt", "")
    if used.get("prompt_suffix"):
        text = f"{text} {used['prompt_suffix']}".strip()
    _set(prompt, "Positive prompt", "text", text)
    _set(prompt, "Negative prompt", "text", used.get("negative_prompt") or "")
    _set(prompt, "Conditioning", "frame_rate", float(fps))
    _set(prompt, "Create video", "fps", float(fps))
    _set(prompt, "Video latent", "width", lw)
    _set(prompt, "Video latent", "height", lh)
    _set(prompt, "Video latent", "length", frames)
    if workflow.has_node(prompt, "Audio latent"):
        _set(prompt, "Audio latent", "frames_number", frames)
        _set(prompt, "Audio latent", "frame_rate", int(round(fps)))
    _set(prompt, "Noise 1", "noise_seed", used["seed"])
    if workflow.has_node(prompt, "Noise 2"):
        _set(prompt, "Noise 2", "noise_seed", (used["seed"] + 1) % 2**32)
    _set(prompt, "Decode video", "horizontal_tiles", used["tiles"])
    _set(prompt, "Decode video", "vertical_tiles", used["tiles"])
    prefix = f"ltx-aio/{mode}_{media.sanitize(used.get('job_id') or 'job', 40)}"
    _set(prompt, "Save video", "filename_prefix", prefix)

    files = used.get("files", {})
    PATCHES[mode](prompt, used, files)
    if single and workflow.has_node(prompt, "Upscale latent"):
        _single_stage(prompt)
    workflow.prune(prompt)
    return prompt


def _single_stage(prompt: dict) -> None:
    """Decode stage 1 directly: point the decoders at it; prune() then drops stage 2."""
    video = (
        workflow.link(prompt, "Crop guides 1", 2)
        if workflow.has_node(prompt, "Crop guides 1")
        else None
    )
    _set(prompt, "Decode video", "latents", video or workflow.link(prompt, "Separate AV 1", 0))
    if workflow.has_node(prompt, "Decode audio"):
        _set(prompt, "Decode audio", "samples", workflow.link(prompt, "Separate AV 1", 1))


def _patch_image(prompt: dict, used: dict, files: dict) -> None:
    _set(prompt, "Load image", "image", files.get("image", "example.png"))
    _set(prompt, "Image guide 1", "strength", used["image_strength"])


def _patch_audio(prompt: dict, used: dict, files: dict) -> None:
    _set(prompt, "Load audio", "audio", files.get("audio_model", "example.wav"))
    _set(prompt, "Load output audio", "audio", files.get("audio", "example.wav"))
    for title in ("Trim audio", "Trim output audio"):
        _set(prompt, title, "duration", used["duration"])


def _patch_lipsync(prompt: dict, used: dict, files: dict) -> None:
    _patch_image(prompt, used, files)
    _patch_audio(prompt, used, files)


def _patch_keyframe(prompt: dict, used: dict, files: dict) -> None:
    _set(prompt, "Load first image", "image", files.get("first_image", "example.png"))
    _set(prompt, "Load last image", "image", files.get("last_image", "example.png"))
    for stage in (1, 2):
        _set(prompt, f"First frame guide {stage}", "strength", used["first_strength"])
        _set(prompt, f"Last frame guide {stage}", "strength", used["last_strength"])


def _patch_style(prompt: dict, used: dict, files: dict) -> None:
    _set(prompt, "Load video", "file", files.get("video", "example.mp4"))
    _set(prompt, "Select frames", "length", used["frames"])
    _set(prompt, "Resize video", "resize_type.width", used["width"])
    _set(prompt, "Resize video", "resize_type.height", used["height"])
    _set(prompt, "Control guide", "image", workflow.link(prompt, CONTROL_NODES[used["control"]]))
    _set(prompt, "Control guide", "strength", used["control_strength"])
    if used.get("keep_audio"):
        _set(prompt, "Create video", "audio", workflow.link(prompt, "Trim source audio"))
        _set(prompt, "Trim source audio", "duration", used["duration"])


PATCHES = {
    "t2v": lambda prompt, used, files: None,
    "i2v": _patch_image,
    "a2v": _patch_audio,
    "lipsync": _patch_lipsync,
    "keyframe": _patch_keyframe,
    "style": _patch_style,
}
