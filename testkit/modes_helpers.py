"""Representative inputs for every mode, made by code (tests and tools/validate_workflows)."""

from __future__ import annotations

from pathlib import Path

import modes
from job_spec import Spec
from testkit.mediagen import make_mp4, make_png, make_wav

# name -> (width, height) of the test image
IMAGE_SHAPES = {"portrait": (480, 640), "landscape": (640, 360), "square": (512, 512)}
# name -> seconds of the test audio; "long" is longer than any preset's frame cap
AUDIO_LENGTHS = {"short": 1.5, "long": 14.0}


# The values a mode requires besides its prompt and media (a retake's range, within the clips
# of a second or more the tests make).
REQUIRED_VALUES = {"retake": {"start": 0.25, "end": 0.75}}


def required_values(mode: str) -> dict:
    return dict(REQUIRED_VALUES.get(mode, {}))


def graph_spec(
    mode: str, preset: str, family: str | None = None, size=None, *, memory_gb=None, job_id="spec"
) -> Spec:
    """A checked job of `mode` without checking anything: the preset's stages, `size` (width,
    height, frames; the preset's own size and 121 frames when None), every other field at its
    usual value. For tests of the graph alone (its decode, its estimate, its schema)."""
    m = modes.MODES[mode]
    p = m.preset(preset, family)
    width, height, frames = size or (p.width, p.height, 121)
    return Spec(
        mode=mode, job_id=job_id, preset=p.name, seed=1, width=width, height=height,
        frames=frames, fps=24, stages=p.stages, memory_gb=memory_gb,
        inputs={
            "model": family or m.models[0], "image_strength": 0.7, "first_strength": 0.7,
            "last_strength": 0.7, "control": "depth", "control_strength": 1.0,
            "keep_audio": False,
        },
    )  # fmt: skip


def make_media(root: Path) -> dict[str, Path]:
    root.mkdir(parents=True, exist_ok=True)
    media = {}
    for name, (w, h) in IMAGE_SHAPES.items():
        media[f"image_{name}"] = make_png(root / f"{name}.png", w, h)
    media["image_end"] = make_png(root / "end.png", 640, 360, color=(20, 90, 200))
    for name, seconds in AUDIO_LENGTHS.items():
        media[f"audio_{name}"] = make_wav(root / f"{name}.wav", seconds=seconds)
    media["video"] = make_mp4(root / "clip.mp4", seconds=1.5, width=160, height=96, fps=24)
    media["video_silent"] = make_mp4(
        root / "silent.mp4", seconds=1.0, width=96, height=160, fps=24, audio=False
    )
    return media


def middle_keyframes(media: dict[str, Path], count: int) -> dict:
    """`count` keyframes between the first and the last (slots 2.., 0.6 s apart), as a keyframe
    job's fields: each slot's image, time and strength."""
    shapes = list(IMAGE_SHAPES)
    out: dict = {}
    for i, k in enumerate(modes.MIDDLE_KEYFRAMES[:count]):
        out[f"image_{k}"] = str(media[f"image_{shapes[i % len(shapes)]}"])
        out[f"time_{k}"] = round(0.6 * (i + 1), 2)
        out[f"strength_{k}"] = 0.8
    return out


def cases(media: dict[str, Path]) -> list[tuple[str, str, dict]]:
    """(mode, case name, params without preset) covering portrait/landscape/square images and
    short/long audio."""
    out: list[tuple[str, str, dict]] = [("t2v", "default", {"prompt": "a lighthouse in a storm"})]
    for shape in IMAGE_SHAPES:
        image = str(media[f"image_{shape}"])
        out.append(("i2v", shape, {"prompt": "a dog runs", "image": image}))
        out.append(
            ("keyframe", shape, {"prompt": "day to night", "first_image": image,
                                 "last_image": str(media["image_end"])})
        )  # fmt: skip
        for length in AUDIO_LENGTHS:
            audio = str(media[f"audio_{length}"])
            out.append(
                ("lipsync", f"{shape}-{length}", {"prompt": "a woman talks", "image": image,
                                                  "audio": audio})
            )  # fmt: skip
    for length in AUDIO_LENGTHS:
        audio = str(media[f"audio_{length}"])
        out.append(("a2v", length, {"prompt": "waves on rocks", "audio": audio}))
    for control in ("pose", "depth", "canny"):
        out.append(
            ("style", control, {"prompt": "claymation", "video": str(media["video"]),
                                "control": control, "keep_audio": control == "canny"})
        )  # fmt: skip
    out.append(
        ("style", "silent-portrait", {"prompt": "oil painting", "video": str(media["video_silent"]),
                                      "keep_audio": True})
    )  # fmt: skip
    # Four and eight keyframes (the first, the last and two or six between), on each family.
    for count in (4, 8):
        params = {
            "prompt": "day to night",
            "first_image": str(media["image_landscape"]),
            "last_image": str(media["image_end"]),
            **middle_keyframes(media, count - 2),
        }
        for model in modes.MODES["keyframe"].models:
            out.append(("keyframe", f"keys-{count}-{model}", {**params, "model": model}))
    clip, silent = str(media["video"]), str(media["video_silent"])
    out += [
        ("extend", "default", {"prompt": "it goes on", "video": clip, "seconds": 2.0}),
        ("extend", "short-context", {"prompt": "on", "video": clip, "seconds": 0.5,
                                     "context_frames": 9}),
        ("extend", "silent", {"prompt": "it goes on", "video": silent, "keep_sound": False}),
        ("retake", "default", {"prompt": "a flash", "video": clip, "start": 0.5, "end": 1.0}),
        ("retake", "to-the-end", {"prompt": "a flash", "video": clip, "start": 1.0, "end": 1.5}),
        ("retake", "silent", {"prompt": "a bang", "video": silent, "start": 0.0, "end": 0.4}),
    ]  # fmt: skip
    # A mode with more than one model family: its default case again on each other family.
    for mode, case, params in list(out):
        families = modes.MODES[mode].models
        if len(families) > 1 and case in ("default", "landscape"):
            for model in families[1:]:
                out.append((mode, f"{case}-{model}", {**params, "model": model}))
    # LTX-2.5's automatic length (its duration head) on each mode that offers it.
    for mode, case, params in list(out):
        offers = any(f.name == "auto_length" for f in modes.MODES[mode].fields)
        if offers and case in ("default", "landscape"):
            out.append((mode, f"{case}-auto-length", {**params, "auto_length": True}))
    return out
