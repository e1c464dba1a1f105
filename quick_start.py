"""What the panels start on here: a first video in minutes on any machine.

On a GPU (or with remote workers, which bring their own) the panels start on each field's declared
default. Where ComfyUI will run on this machine's CPU, or on the tiny random-weight test set, the
defaults (balanced, 121 frames, 1280x704 after the upscale) take many minutes to hours: there the
panels start on the fast preset, the fewest frames and a small width, and each says why. Only the
page's starting values change: the API's defaults are the declared ones on every machine.
"""

from __future__ import annotations

import readiness
import runpod_settings
import tinyset
import worker_settings
from modes import Mode

# Field -> the quick value (a mode without the field keeps its own way: a2v and lipsync take their
# length from the audio).
QUICK = {"preset": "fast", "frames": 9, "width": 384}


def reason() -> str | None:
    """Why the panels start on quick settings here, or None (they start on the defaults)."""
    if tinyset.requested():
        return "the tiny test weights are in use"
    if worker_settings.configured() or runpod_settings.configured():
        return None
    try:
        device = readiness.probe_device()
    except Exception:  # an unreadable device reads as a GPU: the defaults stay
        return None
    if device.get("type") == "cpu":
        return "no GPU was found, so ComfyUI runs on the CPU"
    if device.get("type") == "cuda" and device.get("torch_build") == "cpu":
        return "PyTorch is a CPU-only build, so ComfyUI runs on the CPU"
    return None


def values(mode: Mode) -> dict[str, object]:
    """The quick starting value of each of `mode`'s fields that has one."""
    fields = {f.name: f for f in mode.fields}
    out = {}
    for name, value in QUICK.items():
        f = fields.get(name)
        if f is None:
            continue
        if f.kind == "choice" and value not in f.choices:
            continue
        if f.min is not None and value < f.min or f.max is not None and value > f.max:
            continue
        out[name] = value
    return out


def note(mode: Mode, why: str) -> str:
    """The panel's one line that says what it starts on, and why."""
    said = []
    chosen = values(mode)
    if "preset" in chosen:
        said.append(f"the {chosen['preset']} preset")
    if "frames" in chosen:
        said.append(f"{chosen['frames']} frames")
    if "width" in chosen:
        said.append(f"{chosen['width']} px wide")
    if not said:
        return ""
    listed = ", ".join(said[:-1]) + (" and " if len(said) > 1 else "") + said[-1]
    return (
        f"{why[0].upper()}{why[1:]}, so this panel starts on {listed}, for a first video in "
        "minutes. Raise them for a longer, sharper one."
    )
