"""L-comfy: the real in-process ComfyUI at the pins, on weight-free graphs.

Runs where `comfyui/` (or LTX_AIO_COMFYUI_DIR) holds the pinned checkout and torch is installed
(CI installs both from ../shared/pins and requirements.txt); elsewhere they skip and say why.
"""

from __future__ import annotations

import pickle
import shutil
import threading
import uuid
from pathlib import Path

import pytest

import backend
import comfy_engine
import pins
from errors import AppError
from testkit.mediagen import make_text, make_wav

pytestmark = pytest.mark.comfy


@pytest.fixture
def engine(real_engine):
    return real_engine


@pytest.fixture
def names(engine):
    """Unique input and output names for one test, removed afterwards."""
    tag = uuid.uuid4().hex[:8]
    inputs: list[Path] = []
    yield {"tag": tag, "prefix": f"aio-test/{tag}/clip", "inputs": inputs}
    for path in inputs:
        path.unlink(missing_ok=True)
    # Only this test's folder: other test processes may share the checkout's output dir.
    shutil.rmtree(pins.output_dir() / "aio-test" / tag, ignore_errors=True)


def _wav(names, seconds=1.0) -> str:
    path = pins.input_dir() / f"aio-test-{names['tag']}.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    make_wav(path, seconds=seconds)
    names["inputs"].append(path)
    return path.name


def av_graph(
    audio_name: str,
    prefix: str,
    *,
    fps: float = 8.0,
    frames: int = 8,
    size: int = 64,
    color=0x3366AA,
):
    """images + audio -> CreateVideo -> SaveVideo, with a per-frame progress node between."""
    return {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": size, "height": size, "batch_size": frames, "color": color},
            "_meta": {"title": "Frames"},
        },
        "2": {
            "class_type": "EmptyImage",
            "inputs": {"width": size, "height": size, "batch_size": 1, "color": 0xCC8833},
            "_meta": {"title": "Reference"},
        },
        "3": {
            "class_type": "ColorTransfer",
            "inputs": {
                "image_target": ["1", 0],
                "image_ref": ["2", 0],
                "method": "histogram",
                "source_stats": "per_frame",
                "strength": 1.0,
            },
            "_meta": {"title": "Grade"},
        },
        "4": {
            "class_type": "LoadAudio",
            "inputs": {"audio": audio_name},
            "_meta": {"title": "Audio"},
        },
        "5": {
            "class_type": "CreateVideo",
            "inputs": {"images": ["3", 0], "fps": fps, "audio": ["4", 0]},
            "_meta": {"title": "Video"},
        },
        "6": {
            "class_type": "SaveVideo",
            "inputs": {
                "video": ["5", 0],
                "filename_prefix": prefix,
                "format": "mp4",
                "codec": "h264",
            },
            "_meta": {"title": "Save"},
        },
    }


def test_weight_free_graph_writes_mp4_with_audio(names):
    import av

    result = backend.run(av_graph(_wav(names), names["prefix"]))
    assert pickle.loads(pickle.dumps(result)) == result  # crosses ZeroGPU's process boundary
    video = Path(result["video"])
    assert video.is_file() and video.suffix == ".mp4"
    assert video.is_relative_to(pins.output_dir().resolve())
    with av.open(str(video)) as container:
        kinds = sorted(stream.type for stream in container.streams)
        frames = container.streams.video[0].frames
    assert kinds == ["audio", "video"]
    assert frames == 8


def test_progress_reports_steps_per_node(names):
    events: list[tuple[float | None, str]] = []
    backend.run(
        av_graph(_wav(names), names["prefix"], frames=12),
        progress=lambda f, d: events.append((f, d)),
    )
    steps = [d for f, d in events if " · step " in d]
    assert any(" · step 12/12 · " in d for d in steps), events
    assert len(steps) >= 2
    # the stage of each node class: the file's encoding after the steps
    assert {"Preparing the inputs", "Encoding the file"} <= {d.split(" · ")[0] for _, d in events}
    fractions = [f for f, _ in events]
    assert all(0.0 <= f <= 1.0 for f in fractions) and fractions == sorted(fractions)


def test_cancel_mid_run_interrupts_and_engine_stays_usable(engine, names):
    audio = _wav(names)
    slow = av_graph(audio, names["prefix"], frames=400, size=256)
    cancelled = threading.Event()

    def cancel_on_first_step(fraction, desc):
        if " · step " in desc and not cancelled.is_set():
            cancelled.set()
            threading.Thread(target=backend.cancel).start()

    with pytest.raises(AppError) as info:
        backend.run(slow, progress=cancel_on_first_step)
    assert info.value.kind == "interrupted"
    assert cancelled.is_set()
    assert "6" not in engine.executed  # Save never ran
    result = backend.run(av_graph(audio, names["prefix"] + "-after"))
    assert Path(result["video"]).is_file()


def test_cancel_from_another_process_through_the_jobs_marker(engine, names):
    # On ZeroGPU the job runs in a forked worker: only the marker file reaches it.
    audio = _wav(names)
    slow = av_graph(audio, names["prefix"], frames=400, size=256)
    job = f"job-{names['tag']}"

    def mark_on_first_step(fraction, desc):
        if " · step " in desc:
            comfy_engine.cancel_marker(job).parent.mkdir(parents=True, exist_ok=True)
            comfy_engine.cancel_marker(job).write_text("cancel")

    with pytest.raises(AppError) as info:
        backend.run(slow, progress=mark_on_first_step, job_id=job)
    assert info.value.kind == "interrupted"
    assert "6" not in engine.executed
    assert not comfy_engine.cancel_marker(job).exists()  # spent
    assert Path(backend.run(av_graph(audio, names["prefix"] + "-after"))["video"]).is_file()


def test_a_job_cancelled_before_it_reaches_the_engine_never_runs(engine, names):
    job = f"job-{names['tag']}"
    backend.cancel(job)
    with pytest.raises(AppError) as info:
        backend.run(av_graph(_wav(names), names["prefix"]), job_id=job)
    assert info.value.kind == "interrupted" and engine.executed == []


def test_another_jobs_cancel_does_not_stop_this_one(engine, names):
    other = f"other-{names['tag']}"
    backend.cancel(other)
    try:
        result = backend.run(av_graph(_wav(names), names["prefix"]), job_id=f"job-{names['tag']}")
        assert Path(result["video"]).is_file()
        assert comfy_engine.cancel_marker(other).exists()  # kept for its own job
    finally:
        comfy_engine.cancel_marker(other).unlink(missing_ok=True)


def test_node_exception_is_reported_and_next_run_succeeds(names):
    broken = pins.input_dir() / f"aio-test-{names['tag']}-broken.wav"
    make_text(broken, "this is not audio")
    names["inputs"].append(broken)
    with pytest.raises(AppError) as info:
        backend.run(av_graph(broken.name, names["prefix"]))
    assert info.value.kind == "node_failed"
    assert info.value.where == "Audio"
    assert info.value.message
    result = backend.run(av_graph(_wav(names), names["prefix"]))
    assert Path(result["video"]).is_file()


def test_fps_only_change_reexecutes_only_downstream(engine, names):
    audio = _wav(names)
    color = int(names["tag"][:6], 16)  # unlike any earlier graph, so nothing starts cached
    backend.run(av_graph(audio, names["prefix"], fps=8.0, color=color))
    first = list(engine.executed)
    backend.run(av_graph(audio, names["prefix"], fps=12.0, color=color))
    assert {"1", "3", "4"} <= set(first)
    assert sorted(engine.executed) == ["5", "6"]


@pytest.mark.parametrize(
    ("mutate", "kind", "where"),
    [
        (lambda g: g["3"].update(class_type="NoSuchNode"), "unavailable", "Grade"),
        (lambda g: g["5"]["inputs"].update(images=["4", 0]), "invalid_graph", "Video.images"),
        (lambda g: g["4"]["inputs"].update(audio="missing-file.wav"), "bad_input", "Audio.audio"),
        (lambda g: g["5"]["inputs"].update(fps=1000.0), "invalid_graph", "Video.fps"),
    ],
    ids=["unknown-node", "wrong-type", "missing-file", "out-of-range"],
)
def test_bad_graphs_get_classified_errors_and_engine_keeps_serving(names, mutate, kind, where):
    audio = _wav(names)
    graph = av_graph(audio, names["prefix"])
    mutate(graph)
    with pytest.raises(AppError) as info:
        backend.run(graph)
    assert (info.value.kind, info.value.where) == (kind, where)
    assert Path(backend.run(av_graph(audio, names["prefix"]))["video"]).is_file()


def test_every_node_class_of_the_workflows_is_registered(engine):
    import nodes

    missing = pins.workflow_class_types() - set(nodes.NODE_CLASS_MAPPINGS)
    assert not missing
