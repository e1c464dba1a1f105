"""Small real media files made by code, so no test needs a binary fixture in git."""

from __future__ import annotations

import math
import wave
from fractions import Fraction
from pathlib import Path

import numpy as np


def make_png(path: Path, width: int = 64, height: int = 48, color=(200, 120, 40)) -> Path:
    from PIL import Image

    Image.new("RGB", (width, height), color).save(path)
    return path


def png_bytes(width: int = 64, height: int = 48, color=(200, 120, 40)) -> bytes:
    from io import BytesIO

    from PIL import Image

    out = BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG")
    return out.getvalue()


def signal(seconds: float, sample_rate: int, freq: float = 440.0, kind: str = "sine"):
    """Float samples in -1..1. "chirp" is a rising sweep under a slow pulse: unlike a sine, it
    matches itself at one offset only, so a copy of it can be found and compared."""
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    if kind == "chirp":
        sweep = np.sin(2 * math.pi * (200 * t + 900 * t**2 / max(seconds, 1e-6)))
        return 0.3 * sweep * (0.6 + 0.4 * np.sin(2 * math.pi * 3 * t))
    return 0.3 * np.sin(2 * math.pi * freq * t)


def make_wav(
    path: Path,
    seconds: float = 1.0,
    sample_rate: int = 16000,
    freq: float = 440.0,
    channels: int = 1,
    kind: str = "sine",
) -> Path:
    mono = (signal(seconds, sample_rate, freq, kind) * 32767).astype("<i2")
    samples = np.repeat(mono[:, None], channels, axis=1)  # interleaved frames
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(samples.tobytes())
    return path


def make_mp4(
    path: Path,
    seconds: float = 1.0,
    width: int = 64,
    height: int = 64,
    fps: int = 8,
    audio: bool = True,
    kind: str = "sine",
) -> Path:
    """An H.264 mp4 with a moving gradient and, optionally, an AAC track (`signal` of `kind`)."""
    import av

    frames = max(1, int(round(seconds * fps)))
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        astream = out.add_stream("aac", rate=44100) if audio else None
        for i in range(frames):
            img = np.zeros((height, width, 3), dtype=np.uint8)
            img[..., 0] = (np.arange(width) * 255 // max(1, width - 1)).astype(np.uint8)
            img[..., 1] = (i * 255 // frames) % 256
            for packet in video.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        if astream is not None:
            rate = 44100
            pcm = signal(seconds, rate, kind=kind).astype(np.float32)
            total = len(pcm)
            chunk = 1024
            for start in range(0, total, chunk):
                part = pcm[start : start + chunk]
                if len(part) < chunk:
                    part = np.pad(part, (0, chunk - len(part)))
                frame = av.AudioFrame.from_ndarray(
                    part.reshape(1, -1), format="fltp", layout="mono"
                )
                frame.sample_rate = rate
                frame.pts = start
                frame.time_base = Fraction(1, rate)
                for packet in astream.encode(frame):
                    out.mux(packet)
            for packet in astream.encode():
                out.mux(packet)
    return path


def make_text(path: Path, text: str = "not media\n") -> Path:
    path.write_text(text)
    return path


def decode_audio(path: Path, rate: int = 16000):
    """The file's first audio stream as mono float samples at `rate`."""
    import av

    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        chunks = []
        for frame in container.decode(audio=0):
            chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
        chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(chunks) if chunks else np.zeros(0, np.float32)


def best_match(reference, copy, max_shift: int = 4096) -> tuple[float, int]:
    """(correlation, shift) of `copy` against `reference` at the shift where they agree best;
    codecs delay and slightly smear audio, so both are allowed for."""
    n = min(len(reference), len(copy))
    best = (-1.0, 0)
    for shift in range(-max_shift, max_shift + 1, 1):
        a = reference[max(0, shift) : n + min(0, shift)]
        b = copy[max(0, -shift) : n - max(0, shift)]
        m = min(len(a), len(b))
        if m < n // 2:
            continue
        a, b = a[:m], b[:m]
        denom = float(np.linalg.norm(a) * np.linalg.norm(b))
        if denom:
            best = max(best, (float(np.dot(a, b)) / denom, shift))
    return best


QUARTER_TURNS = {  # an mp4 track's display matrix (16.16 fixed point) per shown rotation
    90: (0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000),
    270: (0, -0x10000, 0, 0x10000, 0, 0, 0, 0, 0x40000000),
}


def rotated_mp4(src: Path, dst: Path, degrees: int) -> Path:
    """A copy of the mp4 `src` whose video is shown turned by `degrees` (90 or 270) as a phone
    records portrait: the same frames, stored sideways, with the turn in the track header's
    display matrix (tkhd) only."""
    import struct

    data = bytearray(Path(src).read_bytes())
    at = data.find(b"tkhd")
    version = data[at + 4]
    # after the box's type: version+flags, the times and ids (v0: 20 bytes, v1: 32), reserved,
    # layer, group, volume, reserved; then the 3x3 matrix
    matrix = at + 4 + 4 + (20 if version == 0 else 32) + 8 + 8
    data[matrix : matrix + 36] = struct.pack(">9i", *QUARTER_TURNS[degrees])
    Path(dst).write_bytes(data)
    return Path(dst)
