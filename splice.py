"""Frame-exact cuts and joins of clips for the video edits (extend, retake), streamed with PyAV.

A video edit sends the engine only the frames it needs (`cut`: a span of the source and the
sound under it, as a clip of its own), and the engine's clip comes back to be put together with
the source here, on the app's machine (no GPU time): `join` (extend) plays the whole source and
then the new frames after the context the model was given; `splice` (retake) replaces a range of
the source's frames and sound with the new ones. The source's own frames are re-encoded but
never regenerated; the sound crosses over at each seam in a few milliseconds (`CROSSFADE_S`), so
that no click is heard. Frames the engine made at another size are scaled to the source's.

Sound is handled as float32 stereo at `RATE`; a source without sound counts as silence.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

import videofile

RATE = 48000  # the sample rate of every clip written here
CROSSFADE_S = 0.04  # each seam's crossfade
CRF = "12"  # x264 quality of the written clips: a step of a long chain re-encodes the clip
AUDIO_CHUNK = 1024


@dataclass(frozen=True)
class Clip:
    """A clip's facts, decoded and counted (the container's own count may be off by one)."""

    width: int
    height: int
    fps: Fraction
    frames: int
    has_audio: bool

    @property
    def seconds(self) -> float:
        return float(self.frames / self.fps)


def probe(path) -> Clip:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        fps = Fraction(stream.average_rate or stream.base_rate or stream.guessed_rate or 24)
        width, height = stream.codec_context.width, stream.codec_context.height
        has_audio = bool(container.streams.audio)
        frames, turns = 0, 0
        for frame in container.decode(video=0):
            turns = videofile.quarter_turns(frame) if frames == 0 else turns
            frames += 1
    return Clip(*videofile.upright_size((width, height), turns), fps, frames, has_audio)


def frames(
    path,
    start: int = 0,
    count: int | None = None,
    size: tuple[int, int] | None = None,
    *,
    crop: tuple[int, int] | None = None,
):
    """The clip's frames [start, start+count) as RGB arrays, upright (as the engine's loader
    turns them: `videofile.quarter_turns`): scaled to `size` (w, h), or cut to
    `crop` (w, h; the source's own frames lose at most a pixel's edge to even sides, never a
    resample)."""
    import av

    end = None if count is None else start + count
    with av.open(str(path)) as container:
        container.streams.video[0].thread_type = "AUTO"
        for index, frame in enumerate(container.decode(video=0)):
            if index < start:
                continue
            if end is not None and index >= end:
                break
            turns = videofile.quarter_turns(frame)
            if size is not None:  # scaled as stored, then turned upright
                stored = videofile.upright_size(size, turns)
                if (frame.width, frame.height) != stored:
                    frame = frame.reformat(width=stored[0], height=stored[1])
            picture = videofile.upright(frame, turns)
            yield picture if crop is None else picture[: crop[1], : crop[0]]


def sound(path, seconds: float | None = None) -> np.ndarray:
    """The clip's sound as float32 stereo [2, n] at RATE, cut or padded with silence to
    `seconds` when given; silence when the clip has none."""
    import av

    parts = []
    with av.open(str(path)) as container:
        if container.streams.audio:
            resampler = av.AudioResampler(format="fltp", layout="stereo", rate=RATE)
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    parts.append(out.to_ndarray())
            for out in resampler.resample(None):
                parts.append(out.to_ndarray())
    samples = np.concatenate(parts, axis=1) if parts else np.zeros((2, 0), np.float32)
    if seconds is not None:
        samples = fit(samples, round(seconds * RATE))
    return samples.astype(np.float32, copy=False)


def fit(samples: np.ndarray, n: int) -> np.ndarray:
    """`samples` cut or padded with silence to n samples."""
    if samples.shape[1] >= n:
        return samples[:, :n]
    return np.concatenate([samples, np.zeros((2, n - samples.shape[1]), np.float32)], axis=1)


def crossfade(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a fading out while b fades in (equal lengths)."""
    ramp = np.linspace(0.0, 1.0, a.shape[1], dtype=np.float32)
    return a * (1.0 - ramp) + b * ramp


def _write(dst: Path, size: tuple[int, int], fps: Fraction, pictures, audio: np.ndarray) -> Path:
    """Write an mp4 (H.264 + AAC) atomically: it is never seen half-written."""
    import av

    dst = Path(dst)
    tmp = dst.with_name(f".{dst.stem}.{secrets.token_hex(4)}{dst.suffix}")
    try:
        with av.open(str(tmp), "w", format="mp4") as out:
            video = out.add_stream("libx264", rate=fps)
            video.width, video.height = size
            video.pix_fmt = "yuv420p"
            video.options = {"crf": CRF, "preset": "veryfast"}
            track = out.add_stream("aac", rate=RATE, layout="stereo")
            for picture in pictures:
                frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
                out.mux(video.encode(frame))
            out.mux(video.encode(None))
            for at in range(0, audio.shape[1], AUDIO_CHUNK):
                chunk = np.ascontiguousarray(audio[:, at : at + AUDIO_CHUNK])
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
                frame.sample_rate, frame.pts = RATE, at
                out.mux(track.encode(frame))
            out.mux(track.encode(None))
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    return dst


def _even(size: tuple[int, int]) -> tuple[int, int]:
    return size[0] // 2 * 2, size[1] // 2 * 2  # yuv420p needs even sides


def cut(source, dst, *, start: int, count: int) -> Path:
    """Frames [start, start+count) of `source` and the sound under them (silence where it has
    none) as a clip of their own, at the source's size and frame rate."""
    clip = probe(source)
    if start < 0 or start + count > clip.frames:
        raise ValueError(f"frames {start}..{start + count} are outside the {clip.frames}")
    audio = sound(source, clip.seconds)
    a, b = round(start / clip.fps * RATE), round((start + count) / clip.fps * RATE)
    size = _even((clip.width, clip.height))
    pictures = frames(source, start, count, crop=size)
    return _write(Path(dst), size, clip.fps, pictures, audio[:, a:b])


def join(source, made, dst, *, context: int, new_frames: int) -> Path:
    """The whole `source`, then `new_frames` frames of `made` after its first `context` ones
    (which continue the source's last `context` frames), with the sound likewise: the source's,
    crossing over to the made clip's own over the last CROSSFADE_S before the seam."""
    src, new = probe(source), probe(made)
    if context + new_frames > new.frames:
        raise ValueError(f"the new clip has {new.frames} frames, not {context + new_frames}")
    size = _even((src.width, src.height))
    src_audio = sound(source, src.seconds)
    offset = round(context / new.fps * RATE)
    new_audio = sound(made, float((context + new_frames) / new.fps))
    x = min(round(CROSSFADE_S * RATE), offset, src_audio.shape[1])
    seam = src_audio.shape[1]
    head = src_audio.copy()
    head[:, seam - x :] = crossfade(src_audio[:, seam - x :], new_audio[:, offset - x : offset])
    tail = fit(new_audio[:, offset:], round(new_frames / src.fps * RATE))

    def pictures():
        yield from frames(source, crop=size)
        yield from frames(made, context, new_frames, size)

    return _write(Path(dst), size, src.fps, pictures(), np.concatenate([head, tail], axis=1))


def splice(source, made, dst, *, window_start: int, start: int, end: int) -> Path:
    """`source` with its frames [start, end) and the sound under them replaced by `made`'s,
    which was made from the source's frames from `window_start` on; the sound crosses over
    inside the range, CROSSFADE_S at each seam."""
    src, new = probe(source), probe(made)
    if not window_start <= start < end <= window_start + new.frames:
        raise ValueError(f"frames {start}..{end} are not inside the new clip's")
    size = _even((src.width, src.height))
    audio = sound(source, src.seconds)
    new_audio = sound(made, new.seconds)

    def at(frame: int, fps: Fraction) -> int:
        return round(frame / fps * RATE)

    a, b = at(start, src.fps), min(at(end, src.fps), audio.shape[1])
    offset = at(window_start, src.fps)
    part = fit(new_audio[:, max(0, a - offset) :], b - a)
    x = min(round(CROSSFADE_S * RATE), (b - a) // 2)
    part[:, :x] = crossfade(audio[:, a : a + x], part[:, :x])
    part[:, b - a - x :] = crossfade(part[:, b - a - x :], audio[:, b - x : b])
    audio = audio.copy()
    audio[:, a:b] = part

    def pictures():
        made_frames = frames(made, start - window_start, end - start, size)
        for index, picture in enumerate(frames(source, crop=size)):
            yield next(made_frames) if start <= index < end else picture

    return _write(Path(dst), size, src.fps, pictures(), audio)
