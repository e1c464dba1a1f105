"""What a running job reports as it goes: the one callback type every layer hands down.

A `Progress` is called with the fraction done (0..1, or None when a step cannot count) and one
line saying what runs now, e.g. `(0.42, "Sampling pass 1 · step 3/8 · 42% · about 1 min 10 s
left")`. Jobs pass theirs to the models' downloads and to the engine; the in-process engine and
the worker pool feed it from ComfyUI's events (comfy_events.ProgressLines); the UI shows it.

A callback that can show pictures also has `show_preview(jpeg: bytes)`: the engine hands it
low-resolution previews of the frames being sampled (`preview_sink`). A `gr.Progress` has none,
so the API and ZeroGPU's process boundary see only the lines. LTX_AIO_PREVIEWS=0 turns previews
off where the engine runs (they are then never made).
"""

from __future__ import annotations

import os
from collections.abc import Callable

Progress = Callable[[float | None, str], None]
Preview = Callable[[bytes], None]

PREVIEWS_ENV = "LTX_AIO_PREVIEWS"


def preview_sink(progress: Progress | None) -> Preview | None:
    """Where `progress` takes previews, if it takes any."""
    sink = getattr(progress, "show_preview", None)
    return sink if callable(sink) else None


def previews_on() -> bool:
    """Whether the engine makes latent previews (LTX_AIO_PREVIEWS, on unless 0/false/off)."""
    return os.environ.get(PREVIEWS_ENV, "1").strip().lower() not in ("0", "false", "off", "no")
