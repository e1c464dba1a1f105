"""L1: media checks (PIL / PyAV) and staging into ComfyUI's input dir."""

from __future__ import annotations

import numpy as np
import pytest

import media
from errors import AppError
from testkit.mediagen import make_mp4, make_png, make_text, make_wav


def test_inspect_image_reports_size_and_format(tmp_path):
    info = media.inspect_image(make_png(tmp_path / "a.png", 320, 200))
    assert (info.width, info.height, info.format) == (320, 200, "PNG")


def test_a_phone_photo_stored_sideways_is_measured_as_shown(tmp_path):
    """EXIF orientation 6 (turn a quarter clockwise to show): ComfyUI's LoadImage transposes it,
    so its size, and a job's aspect taken from it, are portrait."""
    from PIL import Image

    path = tmp_path / "phone.jpg"
    exif = Image.Exif()
    exif[media.EXIF_ORIENTATION] = 6
    Image.new("RGB", (320, 200), "white").save(path, exif=exif)
    info = media.inspect_image(path)
    assert (info.width, info.height, info.format) == (200, 320, "JPEG")


@pytest.mark.parametrize(
    "maker",
    [lambda p: make_text(p / "x.png"), lambda p: make_wav(p / "x.png"),
     lambda p: make_mp4(p / "x.mp4").rename(p / "x.png")],
    ids=["text", "wav", "mp4"],
)  # fmt: skip
def test_non_image_given_as_image_is_bad_input(maker, tmp_path):
    with pytest.raises(AppError) as err:
        media.inspect_image(maker(tmp_path), "first_image")
    assert err.value.kind == "bad_input" and err.value.where == "first_image"


def test_truncated_image_is_bad_input(tmp_path):
    path = make_png(tmp_path / "a.png", 300, 300)
    path.write_bytes(path.read_bytes()[:60])
    with pytest.raises(AppError, match="not a readable image"):
        media.inspect_image(path)


@pytest.mark.parametrize(("w", "h"), [(32, 400), (400, 20)])
def test_tiny_image_is_refused_with_limits(w, h, tmp_path):
    with pytest.raises(AppError, match="64..8192"):
        media.inspect_image(make_png(tmp_path / "a.png", w, h))


@pytest.mark.parametrize("bad", [None, "", "   ", 5, ["a.png"]])
def test_missing_or_non_path_is_bad_input(bad):
    with pytest.raises(AppError) as err:
        media.inspect_image(bad, "image")
    assert err.value.where == "image"


def test_empty_file_and_directory_are_refused(tmp_path):
    empty = tmp_path / "e.png"
    empty.write_bytes(b"")
    with pytest.raises(AppError, match="empty"):
        media.inspect_image(empty)
    with pytest.raises(AppError, match="does not exist"):
        media.inspect_image(tmp_path)


def test_inspect_audio_duration(tmp_path):
    info = media.inspect_audio(make_wav(tmp_path / "a.wav", seconds=2.5, sample_rate=22050))
    assert info.seconds == pytest.approx(2.5, abs=0.01) and info.sample_rate == 22050


def test_audio_track_of_a_video_counts_as_audio(tmp_path):
    info = media.inspect_audio(make_mp4(tmp_path / "v.mp4", seconds=1.0))
    assert info.seconds == pytest.approx(1.0, abs=0.1)


def test_too_short_audio_names_minimum(tmp_path):
    with pytest.raises(AppError, match="at least 0.5 s"):
        media.inspect_audio(make_wav(tmp_path / "a.wav", seconds=0.2))


@pytest.mark.parametrize(
    "maker",
    [lambda p: make_text(p / "a.wav"), lambda p: make_png(p / "a.png").rename(p / "a.wav"),
     lambda p: make_mp4(p / "a.mp4", audio=False)],
    ids=["text", "png", "silent-video"],
)  # fmt: skip
def test_non_audio_is_bad_input(maker, tmp_path):
    with pytest.raises(AppError) as err:
        media.inspect_audio(maker(tmp_path), "audio")
    assert err.value.where == "audio"


def test_inspect_video(tmp_path):
    info = media.inspect_video(
        make_mp4(tmp_path / "v.mp4", seconds=2.0, width=96, height=64, fps=12)
    )
    assert (info.width, info.height, info.fps, info.has_audio) == (96, 64, 12.0, True)
    assert info.frames == 24 and info.seconds == pytest.approx(2.0, abs=0.1)


def test_video_checks(tmp_path):
    assert media.inspect_video(make_mp4(tmp_path / "s.mp4", fps=24, audio=False)).has_audio is False
    with pytest.raises(AppError, match="at least 9"):
        media.inspect_video(make_mp4(tmp_path / "short.mp4", seconds=0.5, fps=8))
    with pytest.raises(AppError, match="no video track"):
        media.inspect_video(make_wav(tmp_path / "a.wav"))
    with pytest.raises(AppError, match="not a readable video"):
        media.inspect_video(make_text(tmp_path / "v.mp4"))


@pytest.mark.parametrize(
    ("name", "expect"),
    [("photo.png", "photo"), ("../../etc/passwd", "passwd"),
     ("my photo (1);rm.png", "my_photo_1_rm"), ("", "file"), ("ünïcödé.jpg", "n_c_d"),
     ("." * 5, "file")],
)  # fmt: skip
def test_sanitize_keeps_only_safe_characters(name, expect):
    assert media.sanitize(name) == expect


def test_stage_copies_with_unique_names(tmp_path):
    src = make_png(tmp_path / "Face Shot.PNG", 100, 100)
    first = media.stage(src, tmp_path / "in", "job 1", "image")
    second = media.stage(src, tmp_path / "in", "job 1", "image")
    assert first == "job_1_image_Face_Shot.png" and second != first
    assert (tmp_path / "in" / second).read_bytes() == src.read_bytes()


def test_noised_audio_keeps_length_and_adds_faint_noise(tmp_path):
    src = make_wav(tmp_path / "s.wav", seconds=1.0, sample_rate=16000)
    name = media.stage_noised_audio(src, tmp_path / "in", "j", "audio", level=0.1, seed=3)
    clean, rate = media.decode_audio(src)
    noised, rate2 = media.decode_audio(tmp_path / "in" / name)
    assert rate == rate2 and noised.shape == clean.shape
    diff = float(np.sqrt(np.mean((noised - clean) ** 2)))
    rms = float(np.sqrt(np.mean(clean**2)))
    assert 0.05 * rms < diff < 0.2 * rms


def test_video_above_the_output_frame_rate_limit_is_refused(tmp_path):
    fast = make_mp4(tmp_path / "fast.mp4", seconds=0.5, fps=144, audio=False)
    with pytest.raises(AppError) as info:
        media.inspect_video(fast, "video")
    assert info.value.where == "video" and "120" in info.value.message
    assert "Re-encode" in info.value.hint


def test_decompression_bomb_is_refused_naming_the_limits(tmp_path):
    from PIL import Image

    bomb = tmp_path / "bomb.png"
    Image.new("1", (15000, 15000)).save(bomb)  # a few KB on disk, 225 megapixels decoded
    with pytest.raises(AppError) as info:
        media.inspect_image(bomb, "image")
    assert info.value.where == "image" and "8192" in info.value.message


def _zeroed_mp4(tmp_path):
    clip = bytearray(make_mp4(tmp_path / "ok.mp4", seconds=2.0, fps=8, audio=True).read_bytes())
    start, end = clip.find(b"mdat"), clip.find(b"moov")
    assert 0 < start < end  # this muxer writes the media data before its index
    clip[start + 4 : end - 4] = bytes(end - 8 - start)  # headers intact, frames unreadable
    bad = tmp_path / "zeroed.mp4"
    bad.write_bytes(bytes(clip))
    return bad


@pytest.mark.parametrize("inspect", [media.inspect_video, media.inspect_audio])
def test_media_whose_frames_cannot_be_decoded_is_refused_before_any_gpu_time(inspect, tmp_path):
    with pytest.raises(AppError) as info:
        inspect(_zeroed_mp4(tmp_path), "source")
    assert info.value.where == "source" and "cannot be decoded" in info.value.message


def test_undecodable_audio_staged_for_the_model_is_bad_input(tmp_path):
    with pytest.raises(AppError) as info:
        media.stage_noised_audio(_zeroed_mp4(tmp_path), tmp_path, "job", "audio", 0.05, 1)
    assert info.value.kind == "bad_input" and info.value.where == "audio"
