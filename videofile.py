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


def first_frame(path: Path):
    """The first video frame as a PIL image."""
    import av

    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            return frame.to_image()
    raise ValueError("no video frame")


def frame_count(path: Path) -> int:
    """How many video frames the file holds (decoded and counted: the container may not say)."""
    import av

    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def last_frame(path: Path):
    """The last video frame as a PIL image (every frame is decoded: the container's index may
    not say where the last one is)."""
    import av

    last = None
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            last = frame
    if last is None:
        raise ValueError("no video frame")
    return last.to_image()


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
