"""Check and stage user media: images (PIL), audio and video (PyAV), with durations.

Every failure is an AppError(bad_input) naming the field, raised before any GPU time is spent.
Staged copies get sanitized, unique names inside ComfyUI's input dir, because LoadImage /
LoadAudio / LoadVideo take a file name relative to that dir.
"""

from __future__ import annotations

import logging
import math
import re
import shutil
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import errors
import videofile

MAX_FILE_BYTES = {"image": 50 * 2**20, "audio": 200 * 2**20, "video": 1024 * 2**20}
MIN_IMAGE_SIDE = 64
MAX_IMAGE_SIDE = 8192
MIN_AUDIO_SECONDS = 0.5
MIN_VIDEO_FRAMES = 9
MAX_VIDEO_FPS = 120  # CreateVideo's limit
IMAGE_FORMATS = {"PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF", "MPO"}
# What a user should reach for when a file is refused (any format FFmpeg decodes is accepted).
TYPICAL = {"image": "PNG, JPEG or WebP", "audio": "WAV, MP3, FLAC, M4A or OGG",
           "video": "MP4, MOV or WebM"}  # fmt: skip
# Why a file is refused is said in words: an exception's class name means nothing to a user.
log = logging.getLogger("ltx_aio.media")


def accepts(kind: str) -> str:
    """What a media field takes, in one sentence (API docs and MCP tool descriptions)."""
    limit = f"up to {MAX_FILE_BYTES[kind] // 2**20} MiB"
    if kind == "image":
        return (
            f"An image file ({TYPICAL['image']}; also BMP, GIF, TIFF), sides "
            f"{MIN_IMAGE_SIDE}..{MAX_IMAGE_SIDE} px, {limit}."
        )
    if kind == "audio":
        return f"An audio file ({TYPICAL['audio']}), at least {MIN_AUDIO_SECONDS} s, {limit}."
    return f"A video file ({TYPICAL['video']}), at least {MIN_VIDEO_FRAMES} frames, {limit}."


def _unreadable(field: str, text: str, kind: str, exc: BaseException) -> errors.AppError:
    log.info("%s refused: %s (%s: %s)", field, text, type(exc).__name__, exc)
    return errors.bad_input(field, text, hint=f"Use a {TYPICAL[kind]} file.")


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    format: str


@dataclass(frozen=True)
class AudioInfo:
    seconds: float
    sample_rate: int
    channels: int
    container: str = ""  # FFmpeg's name for the file format, e.g. "wav"


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: float
    frames: int
    seconds: float
    has_audio: bool
    container: str = ""


def _existing_file(path, field: str, kind: str) -> Path:
    if path is None or (isinstance(path, str) and not path.strip()):
        raise errors.bad_input(field, f"no {kind} file was given", hint=f"Upload a {kind} file.")
    if not isinstance(path, (str, Path)):
        raise errors.bad_input(field, f"expected a {kind} file path, got {type(path).__name__}")
    p = Path(path)
    if not p.is_file():
        raise errors.bad_input(field, f"the {kind} file {p.name!r} does not exist")
    size = p.stat().st_size
    if size == 0:
        raise errors.bad_input(field, f"the {kind} file {p.name!r} is empty")
    if size > MAX_FILE_BYTES[kind]:
        limit = MAX_FILE_BYTES[kind] // 2**20
        raise errors.bad_input(
            field, f"the {kind} file is {size // 2**20} MiB; the limit is {limit} MiB"
        )
    return p


EXIF_ORIENTATION = 0x0112
SIDEWAYS = (5, 6, 7, 8)  # orientations shown a quarter turn from how the pixels are stored


def inspect_image(path, field: str = "image") -> ImageInfo:
    """The image's size as shown (a phone's portrait photo stored sideways is portrait) and its
    format, or one line naming `field` saying why it cannot be used."""
    from PIL import Image, UnidentifiedImageError

    p = _existing_file(path, field, "image")
    try:
        with Image.open(p) as im:
            im.verify()
        with Image.open(p) as im:
            width, height, fmt = im.width, im.height, im.format or "?"
            if im.getexif().get(EXIF_ORIENTATION) in SIDEWAYS:  # as ComfyUI's LoadImage turns it
                width, height = height, width
    except Image.DecompressionBombError:
        raise errors.bad_input(
            field, f"the image has far too many pixels; sides must be {MIN_IMAGE_SIDE}.."
            f"{MAX_IMAGE_SIDE} px",
        ) from None  # fmt: skip
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise _unreadable(field, f"{p.name!r} is not a readable image", "image", exc) from None
    if fmt not in IMAGE_FORMATS:
        raise errors.bad_input(field, f"image format {fmt} is not supported; use PNG, JPEG or WebP")
    if min(width, height) < MIN_IMAGE_SIDE or max(width, height) > MAX_IMAGE_SIDE:
        raise errors.bad_input(
            field,
            f"the image is {width}x{height}; sides must be {MIN_IMAGE_SIDE}..{MAX_IMAGE_SIDE} px",
        )
    return ImageInfo(width, height, fmt)


def _open_av(p: Path, field: str, kind: str):
    import av

    try:
        return av.open(str(p))
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise _unreadable(field, f"{p.name!r} is not a readable {kind} file", kind, exc) from None


def _stream_seconds(container, stream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return 0.0


def _first_frame(container, stream, p: Path, field: str, kind: str):
    """Decode one frame and return it, so a stream whose codec is missing or whose data is
    corrupt is refused here, before any GPU time, not inside the GPU task."""
    import av

    try:
        for frame in container.decode(stream):
            return frame
    except (av.FFmpegError, OSError, ValueError) as exc:
        text = f"the {kind} in {p.name!r} cannot be decoded"
        raise _unreadable(field, text, kind, exc) from None
    raise errors.bad_input(field, f"the {kind} in {p.name!r} holds no decodable frame")


def inspect_audio(path, field: str = "audio") -> AudioInfo:
    import av

    p = _existing_file(path, field, "audio")
    with _open_av(p, field, "audio") as container:
        if not container.streams.audio:
            raise errors.bad_input(field, f"{p.name!r} has no audio track")
        stream = container.streams.audio[0]
        fmt = container.format.name
        seconds = _stream_seconds(container, stream)
        rate = stream.rate or stream.codec_context.sample_rate or 0
        channels = stream.codec_context.channels or 1
        if seconds <= 0:
            try:  # some containers (raw ADTS, odd wavs) carry no duration: count samples
                samples = sum(f.samples for f in container.decode(stream))
            except av.FFmpegError:
                samples = 0
            seconds = samples / rate if rate else 0.0
        elif seconds >= MIN_AUDIO_SECONDS:
            _first_frame(container, stream, p, field, "audio")
    if not math.isfinite(seconds) or seconds < MIN_AUDIO_SECONDS:
        raise errors.bad_input(
            field, f"the audio lasts {seconds:.2f} s; it must last at least {MIN_AUDIO_SECONDS} s"
        )
    return AudioInfo(round(seconds, 3), int(rate), int(channels), fmt)


def inspect_video(path, field: str = "video") -> VideoInfo:
    p = _existing_file(path, field, "video")
    with _open_av(p, field, "video") as container:
        if not container.streams.video:
            raise errors.bad_input(field, f"{p.name!r} has no video track")
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.base_rate or stream.guessed_rate
        fps = float(rate) if rate else 0.0
        seconds = _stream_seconds(container, stream)
        frames = int(stream.frames or 0)
        if frames <= 0 and fps > 0:
            frames = int(round(seconds * fps))
        stored = stream.codec_context.width, stream.codec_context.height
        has_audio = bool(container.streams.audio)
        fmt = container.format.name
        first = _first_frame(container, stream, p, field, "video")
        # As shown, and as the engine's loader turns it: a phone's portrait clip is portrait.
        width, height = videofile.upright_size(stored, videofile.quarter_turns(first))
    if not (1 <= fps <= MAX_VIDEO_FPS):
        raise errors.bad_input(
            field,
            f"the video runs at {fps:.2f} fps; the output can be 1..{MAX_VIDEO_FPS} fps",
            hint="Re-encode the video at 24, 30 or 60 fps and upload it again.",
        )
    if frames < MIN_VIDEO_FRAMES:
        raise errors.bad_input(
            field, f"the video has {frames} frames; it needs at least {MIN_VIDEO_FRAMES}"
        )
    if min(width, height) < MIN_IMAGE_SIDE:
        raise errors.bad_input(
            field, f"the video is {width}x{height}; need {MIN_IMAGE_SIDE} px a side"
        )
    return VideoInfo(
        width, height, round(fps, 3), frames, round(seconds or frames / fps, 3), has_audio, fmt
    )


IMAGE_SUFFIXES = {"PNG": ".png", "JPEG": ".jpg", "MPO": ".jpg", "WEBP": ".webp", "BMP": ".bmp",
                  "GIF": ".gif", "TIFF": ".tiff"}  # fmt: skip
# FFmpeg demuxer names (a comma list: the first one found here decides) -> (audio, video) suffix.
CONTAINER_SUFFIXES = {"wav": (".wav", ".wav"), "mp3": (".mp3", ".mp3"), "flac": (".flac", ".flac"),
                      "ogg": (".ogg", ".ogv"), "mov": (".m4a", ".mp4"), "mp4": (".m4a", ".mp4"),
                      "webm": (".webm", ".webm"), "matroska": (".mka", ".mkv"),
                      "aac": (".aac", ".aac"), "avi": (".avi", ".avi"),
                      "aiff": (".aiff", ".aiff")}  # fmt: skip


def canonical_suffix(info) -> str:
    """The file extension that says what a checked file really holds (from `inspect_*`), never
    the name it was uploaded under: a PNG named `page.html` is kept and served as `.png`."""
    if isinstance(info, ImageInfo):
        return IMAGE_SUFFIXES.get(info.format, ".bin")
    for name in getattr(info, "container", "").split(","):
        if name in CONTAINER_SUFFIXES:
            return CONTAINER_SUFFIXES[name][isinstance(info, VideoInfo)]
    return ".bin"


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def sanitize(name: str, limit: int = 48) -> str:
    stem = _UNSAFE.sub("_", Path(name).stem).strip("._-") or "file"
    return stem[:limit]


def staged_name(source, job_id: str, field: str, suffix: str | None = None) -> str:
    src = Path(source)
    ext = (suffix or src.suffix or "").lower()
    ext = ext if re.fullmatch(r"\.[a-z0-9]{1,5}", ext) else ""
    return f"{sanitize(job_id, 40)}_{sanitize(field, 20)}_{sanitize(src.name)}{ext}"


def _free_target(input_dir: Path, name: str) -> Path:
    input_dir.mkdir(parents=True, exist_ok=True)
    target, n = input_dir / name, 1
    while target.exists():
        target = input_dir / f"{Path(name).stem}-{n}{Path(name).suffix}"
        n += 1
    return target


def staged_path(source, input_dir: Path, job_id: str, field: str, suffix: str) -> Path:
    """Where a file made from `source` for a job is written in ComfyUI's input dir (a name no
    other file has), for the edits that stage a cut of their source rather than a copy."""
    return _free_target(Path(input_dir), staged_name(source, job_id, field, suffix))


def stage(source, input_dir: Path, job_id: str, field: str) -> str:
    """Copy `source` into ComfyUI's input dir under a unique safe name; returns that name."""
    target = _free_target(Path(input_dir), staged_name(source, job_id, field))
    shutil.copyfile(source, target)
    return target.name


def unstage(files: dict, input_dir: Path) -> None:
    """Remove a job's staged copies (names made by `stage*`) from ComfyUI's input dir."""
    for name in set(files.values()):
        if name and Path(name).name == name:
            (Path(input_dir) / name).unlink(missing_ok=True)


def decode_audio(path, field: str = "audio") -> tuple[np.ndarray, int]:
    """(samples as float32 [channels, n] in -1..1, sample rate); bad_input when it won't decode."""
    import av

    try:
        return _decode_audio(path)
    except (av.FFmpegError, OSError, ValueError, IndexError) as exc:
        text = f"the audio in {Path(path).name!r} cannot be decoded"
        raise _unreadable(field, text, "audio", exc) from None


def _decode_audio(path) -> tuple[np.ndarray, int]:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        rate = stream.rate or stream.codec_context.sample_rate
        resampler = av.AudioResampler(format="fltp", rate=rate)
        chunks = []
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray())
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray())
    if not chunks:
        return np.zeros((1, 0), dtype=np.float32), int(rate)
    return np.concatenate(chunks, axis=1).astype(np.float32), int(rate)


def write_wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(pcm.shape[0])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.T.tobytes())
    return path


def to_stereo(samples: np.ndarray) -> np.ndarray:
    """More than two channels (5.1, ...) mixed down to two: LTX-2.3's audio VAE takes mono or
    stereo, and the output's AAC track is stereo."""
    if samples.shape[0] <= 2:
        return samples
    mix = samples.mean(axis=0, keepdims=True)
    return np.concatenate([mix, mix])


def stage_audio(source, input_dir: Path, job_id: str, field: str, channels: int) -> str:
    """Stage an audio file as `stage` does; one with more than two channels as a stereo wav."""
    if channels <= 2:
        return stage(source, input_dir, job_id, field)
    samples, rate = decode_audio(source, field)
    name = staged_name(Path(source).with_suffix(".wav"), job_id, field)
    target = _free_target(Path(input_dir), name)
    write_wav(target, to_stereo(samples), rate)
    return target.name


def stage_noised_audio(
    source, input_dir: Path, job_id: str, field: str, level: float, seed: int
) -> str:
    """Stage a copy of the audio with faint white noise `level` x its RMS (model input only).

    LTX-2.3 tends to leave lips still on studio-clean speech; a little noise in what the model
    hears helps, while the output keeps the original track.
    """
    samples, rate = decode_audio(source, field)
    samples = to_stereo(samples)
    rms = float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0
    rng = np.random.default_rng(seed)
    noised = samples + rng.standard_normal(samples.shape).astype(np.float32) * (
        level * max(rms, 1e-3)
    )
    name = staged_name(Path(source).with_suffix(".wav"), job_id, f"{field}_model")
    target = _free_target(Path(input_dir), name)
    write_wav(target, noised, rate)
    return target.name
