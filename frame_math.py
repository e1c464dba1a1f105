"""LTX's frame grid: a clip is 8k+1 frames, and its latent holds frame 0 alone, then 8 a frame.

The arithmetic every length rule shares (prepare.py's lengths, edits.py's windows, the keyframe
patch's latent positions). Imports nothing of the app.
"""

from __future__ import annotations

import math

STEP = 8  # pixel frames a latent frame holds, after the first


def longest(cap: int) -> int:
    """The most frames a preset capped at `cap` makes: the largest 8k+1 <= cap."""
    return (cap - 1) // STEP * STEP + 1


def snap_frames(frames: int, cap: int) -> int:
    """Nearest 8k+1 in 9..cap."""
    k = max(1, round((frames - 1) / STEP))
    return max(9, min(STEP * k + 1, longest(cap)))


def floor_frames(frames: float, cap: int) -> int:
    """Largest 8k+1 <= frames (never past the video it restyles), in 9..cap."""
    k = max(1, int((frames - 1) // STEP))
    return max(9, min(STEP * k + 1, longest(cap)))


def cover_frames(frames: float, cap: int) -> int:
    """Smallest 8k+1 >= frames (the whole audio plays), in 9..cap."""
    k = max(1, math.ceil((frames - 1) / STEP - 1e-9))  # float noise in seconds x fps adds none
    return max(9, min(STEP * k + 1, longest(cap)))


def latent_frame(frame: int) -> int:
    """The latent frame that holds pixel frame `frame`: 0 alone in the first, then 8 a latent
    (latent i >= 1 holds frames 8(i-1)+1 .. 8i), as LTXVAddGuide rounds a guide's frame."""
    return (frame + STEP - 1) // STEP
