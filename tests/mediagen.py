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


def make_wav(
    path: Path,
    seconds: float = 1.0,
    sample_rate: int = 16000,
    freq: float = 440.0,
    channels: int = 1,
) -> Path:
    n = int(round(seconds * sample_rate))
    t = np.arange(n) / sample_rate
    mono = (0.3 * np.sin(2 * math.pi * freq * t) * 32767).astype("<i2")
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
) -> Path:
    """An H.264 mp4 with a moving gradient and, optionally, an AAC sine track."""
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
            total = int(seconds * rate)
            t = np.arange(total) / rate
            pcm = (0.2 * np.sin(2 * math.pi * 440 * t)).astype(np.float32)
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
