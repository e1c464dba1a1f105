"""What a running job reports as it goes: the one callback type every layer hands down.

A `Progress` is called with the fraction done (0..1, or None when a step cannot count) and one
line saying what runs now, e.g. `(0.42, "Sampler 1: step 3/8")`. Jobs pass theirs to the models'
downloads and to the engine; the in-process engine and the worker pool feed it from ComfyUI's
events (comfy_events.ProgressLines); the UI shows it.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[float | None, str], None]
