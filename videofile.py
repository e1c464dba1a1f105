"""What History needs to know of a finished video: does it decode, what are its first and last
frames, and does it have sound.

A job is recorded as done only when its output's first frame decodes, so a file cut short by a
crash or a cancel fails here rather than in the user's player. PyAV is imported on use: ComfyUI
depends on it, the app's import does not.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def problem(path: Path) -> str | None:
    """Why the file is not a playable video, or None when its first frame decodes."""
    if not path.is_file():
        return f"{path.name} does not exist"
    if path.stat().st_size == 0:
        return f"{path.name} is empty"
    try:
        first_frame(path)
    except ImportError:
        return None  # without PyAV only the size can be checked
    except Exception as exc:
        return f"{path.name} does not decode ({type(exc).__name__})"
    return None


def quarter_turns(frame) -> int:
    """How many quarter turns (counter-clockwise, as numpy's rot90 turns) show a decoded frame
    upright: its display rotation (a phone's portrait clip is stored sideways), read as
    ComfyUI's video loader reads it, so every frame the app reads is the one the engine sees."""
    return int(round((getattr(frame, "rotation", 0) or 0) // 90)) % 4


def upright(frame, turns: int | None = None):
    """A decoded frame as an RGB array, turned upright by `turns` (its own `quarter_turns` when
    None: a reformatted frame no longer carries it)."""
    import numpy as np

    picture = frame.to_ndarray(format="rgb24")
    turns = quarter_turns(frame) if turns is None else turns
    return np.ascontiguousarray(np.rot90(picture, turns)) if turns else picture


def upright_size(size: tuple[int, int], turns: int) -> tuple[int, int]:
    """(width, height) as shown: a quarter or three-quarter turn swaps the stored sides (and
    the shown size back to the stored one)."""
    width, height = size
    return (height, width) if turns % 2 else (width, height)


def _image(frame):
    from PIL import Image

    return Image.fromarray(upright(frame))


def first_frame(path: Path):
    """The first video frame as a PIL image, upright."""
    import av

    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            return _image(frame)
    raise ValueError("no video frame")


def frame_count(path: Path) -> int:
    """How many video frames the file holds (decoded and counted: the container may not say)."""
    import av

    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def last_frame(path: Path):
    """The last video frame as a PIL image, upright (every frame is decoded: the container's
    index may not say where the last one is)."""
    import av

    last = None
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            last = frame
    if last is None:
        raise ValueError("no video frame")
    return _image(last)


def has_audio(path: Path) -> bool:
    """Whether the file has a sound track."""
    import av

    with av.open(str(path)) as container:
        return bool(container.streams.audio)


def save_last_frame(video: Path, png: Path) -> Path:
    """Write the last frame, full size, as a PNG (atomic: never seen half-written)."""
    return _save_png(last_frame(video), png)


def _save_png(image, png: Path) -> Path:
    tmp = png.with_name(f"{png.stem}.{secrets.token_hex(4)}.tmp")
    image.save(tmp, format="PNG")
    os.replace(tmp, png)
    return png


def save_first_frame(video: Path, png: Path, max_side: int) -> Path:
    """Write the first frame, scaled to fit max_side, as a PNG (atomic: never seen half-written)."""
    image = first_frame(video)
    image.thumbnail((max_side, max_side))
    return _save_png(image, png)
