"""Run the real app in-process with the GPU boundary (`backend.generate`) replaced by a double.

The double writes a small real mp4 (video + AAC audio, made by `mediagen`) into ComfyUI's output
folder under the job's own SaveVideo prefix, so the page and the client get a real playable file.
Weight downloads, the engine check and the device and disk probes (a GPU, room for the weights,
unless a test says otherwise) are replaced too; everything else (field checks, media
checks, staging, the retry flow, Gradio, the browser) is the real code.
"""

from __future__ import annotations

import os
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import pytest  # noqa: E402

import app  # noqa: E402
import backend  # noqa: E402
import downloads  # noqa: E402
import history  # noqa: E402
import modes  # noqa: E402
import pins  # noqa: E402
import readiness  # noqa: E402
import workflow  # noqa: E402
from errors import AppError  # noqa: E402
from testkit import mediagen  # noqa: E402
from testkit.loopback import free_port  # noqa: E402
from testkit.modes_helpers import required_values  # noqa: E402,F401  (this API)

GPU = {"type": "cuda", "source": "test", "name": "Fake GPU"}
ROOMY = {"variant": "full", "need_gb": 79.2, "free_gb": 500.0, "where": "hub", "others_gb": {}}
# Too little disk for the full weights, with room for the fp8 and gguf variants.
SHORT_OF_DISK = {
    "variant": "full",
    "need_gb": 79.2,
    "free_gb": 60.0,
    "where": "~/.cache/huggingface/hub",
    "others_gb": {"fp8": 51.1, "gguf": 62.3},
}


def _patient_url_ok(url: str, within_s: float = 120.0) -> bool:
    """Gradio's own check that the page answers on localhost, waiting as long as it takes.

    Gradio's gives up at its first 3-second timeout, which the first render of this page can
    exceed on a busy 2-core machine; launch() then fails ("a shareable link must be created")."""
    import time

    import httpx

    deadline = time.monotonic() + within_s
    while True:
        try:
            if httpx.head(url, timeout=30).status_code < 400:
                return True
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)


def patch_engine(patch: pytest.MonkeyPatch, engine: FakeEngine) -> None:
    patch.setattr(backend, "generate", engine.generate)
    patch.setattr(backend, "engine_status", engine.engine_status)
    patch.setattr(backend, "cancel", engine.cancel)
    patch.setattr(downloads, "ensure_models_for_prompt", engine.ensure_models)
    patch.setattr(readiness, "probe_device", engine.probe_device)
    patch.setattr(readiness, "probe_weights", engine.probe_weights)


@dataclass
class FakeEngine:
    """Stands in for the GPU task, the weight download and the engine check."""

    ready: bool = True
    problems: list[str] = field(default_factory=list)
    # Exceptions raised by the next generate() calls, one per call, in order.
    fail_with: list[BaseException] = field(default_factory=list)
    ensure_error: BaseException | None = None
    calls: list[dict] = field(default_factory=list)
    ensured: int = 0
    video_path: str | None = None  # when set, generate() returns this instead of a new file
    step_delay: float = 0.0  # seconds per fake sampling step, to watch progress / cancel
    # Report as the engine does (comfy_events.ProgressLines: stages, time left, previews) over
    # the prompt's own nodes, instead of plain fake lines.
    live: bool = False
    seconds: float = 0.5  # how long the videos it writes last (at 8 fps)
    cancelled: threading.Event = field(default_factory=threading.Event)
    cancels: int = 0
    device: dict = field(default_factory=lambda: dict(GPU))
    weights: dict = field(default_factory=lambda: dict(ROOMY))

    def reset(self) -> None:
        self.ready, self.problems, self.ensure_error, self.video_path = True, [], None, None
        self.fail_with.clear()
        self.step_delay, self.seconds, self.live = 0.0, 0.5, False
        self.cancelled.clear()
        self.device, self.weights = dict(GPU), dict(ROOMY)

    def probe_device(self) -> dict:
        return dict(self.device)

    def probe_weights(self) -> dict:
        return dict(self.weights)

    def cancel(self, job_id: str = "") -> None:
        self.cancels += 1
        self.cancelled.set()

    def engine_status(self, wait_s: float = 0.0) -> dict:  # backend.engine_status's
        problems = [] if self.ready else (self.problems or ["the engine is not ready (test)"])
        return {"ready": self.ready, "problems": problems, "pins": {}}

    def ensure_models(self, prompt: dict, progress=None) -> list[Path]:
        self.ensured += 1
        if progress is not None:
            progress(1.0, "model files ready (test double)")
            self.cancelled.wait(self.step_delay)  # a cancel cuts the wait short
        if self.ensure_error is not None:
            raise self.ensure_error
        return []

    def generate(
        self, mode, preset, prompt, frames, duration_multiplier=1.0, progress=None, job_id=""
    ) -> dict:
        self.cancelled.clear()  # before the call is visible: a cancel seen after it counts
        self.calls.append(
            {
                "mode": mode,
                "preset": preset,
                "frames": frames,
                "duration_multiplier": duration_multiplier,
                "prompt": prompt,
                "progress": progress,
                "job_id": job_id,
            }
        )
        if self.fail_with:
            raise self.fail_with.pop(0)
        if mode == backend.ENHANCE_MODE:  # the prompt enhancer's graph: its text, plainly marked
            said = prompt[workflow.find_node(prompt, "Enhance prompt")[0]]["inputs"]["prompt"]
            return {"video": None, "texts": {"Enhanced prompt": f"{ENHANCED_BY_TEST} {said}"}}
        if self.live and progress is not None:
            self._as_the_engine_reports(prompt, progress)
        for step in range(1, 5 if not self.live else 1):
            if self.cancelled.wait(self.step_delay):
                raise AppError("interrupted", "The job was cancelled.")
            if progress is not None:
                progress(step / 4, f"Sampling stage 1, step {step}/4")
        if progress is not None and not self.live:
            progress(1.0, "Decoding video")
        if self.video_path:
            return {"video": self.video_path, "outputs": [self.video_path], "seconds": 0.01}
        prefix = save_prefix(prompt) or f"test/{mode}_{uuid.uuid4().hex}"
        path = pins.output_dir() / f"{prefix}_00001_.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        seconds = self.seconds
        if mode in modes.MODES and modes.MODES[mode].edit is not None:
            seconds = frames / 8  # a video edit joins the frames its graph makes to its source
        mediagen.make_mp4(path, seconds=seconds, width=64, height=64, fps=8, audio=True)
        self.calls[-1]["video"] = str(path)
        return {"video": str(path), "outputs": [str(path)], "seconds": 0.01}

    def _as_the_engine_reports(self, prompt: dict, progress) -> None:
        """ComfyUI's events for each node of `prompt` in turn, four steps and a preview a step
        for each sampler (a colour of its own), read by the engine's own ProgressLines."""
        from comfy_events import ProgressLines

        lines = ProgressLines(prompt, progress)
        for node_id, node in prompt.items():
            if not isinstance(node, dict):
                continue
            lines.feed("executing", {"node": node_id})
            if node.get("class_type") != "SamplerCustomAdvanced":
                continue
            for step in range(1, 5):
                if self.cancelled.wait(self.step_delay):
                    raise AppError("interrupted", "The job was cancelled.")
                state = {"state": "running", "value": step, "max": 4}
                lines.feed("progress_state", {"nodes": {node_id: state}})
                lines.preview(mediagen.png_bytes(64, 36, (40 * step, 90, 255 - 40 * step)))
        lines.feed("executing", {"node": None})


class PreviewsSeen:
    """A job's progress that keeps the latent previews it is shown (and drops its lines)."""

    def __init__(self) -> None:
        self.previews: list[bytes] = []

    def __call__(self, fraction, desc) -> None:
        pass

    def show_preview(self, jpeg: bytes) -> None:
        self.previews.append(jpeg)


# What the double's enhancer puts before the prompt it was given.
ENHANCED_BY_TEST = "Enhanced (test double):"


def save_prefix(prompt: dict) -> str | None:
    for node in prompt.values():
        if isinstance(node, dict) and node.get("class_type") == "SaveVideo":
            return node.get("inputs", {}).get("filename_prefix")
    return None


@dataclass
class RunningApp:
    url: str
    engine: FakeEngine
    comfy: Path
    data: Path

    def store(self) -> history.Store:
        return history.open_store(self.data)


@contextmanager
def running_app(root: Path, env: dict | None = None, **launch_overrides):
    """The app served on 127.0.0.1 with a FakeEngine and its own data dir (History) under `root`
    (or `data`), with `env` set (e.g. LTX_AIO_SHARED); closed, History closed and un-patched on
    exit, as a stopped process would be."""
    comfy = root / "comfyui"
    data = Path(launch_overrides.pop("data", root / "data"))
    for sub in ("input", "output"):
        (comfy / sub).mkdir(parents=True, exist_ok=True)
    engine = FakeEngine()
    patch = pytest.MonkeyPatch()
    for name, value in (env or {}).items():
        patch.setenv(name, value)
    patch.setenv("LTX_AIO_COMFYUI_DIR", str(comfy))
    patch.setenv("LTX_AIO_DATA_DIR", str(data))
    history.close_all()
    patch_engine(patch, engine)
    patch.setattr("gradio.networking.url_ok", _patient_url_ok)
    demo = None
    try:
        demo = app.build_app()
        options = {**app.launch_options(), **launch_overrides}
        _, url, _ = demo.launch(
            prevent_thread_lock=True,
            server_name="127.0.0.1",
            server_port=free_port(),
            quiet=True,
            **options,
        )
        yield RunningApp(url=url, engine=engine, comfy=comfy, data=data.resolve())
    finally:
        if demo is not None:
            demo.close()
        history.close_all()
        patch.undo()


def media_inputs(mode: str, folder: Path) -> dict[str, Path]:
    """A real small file for every required media field of `mode`, made by code."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for f in modes.MODES[mode].fields:
        if not f.required:
            continue
        if f.kind == "image":
            color = (40, 120, 200) if "last" in f.name else (200, 120, 40)
            files[f.name] = mediagen.make_png(folder / f"{mode}_{f.name}.png", 96, 64, color)
        elif f.kind == "audio":
            files[f.name] = mediagen.make_wav(folder / f"{mode}_{f.name}.wav", seconds=1.0)
        elif f.kind == "video":
            files[f.name] = mediagen.make_mp4(
                folder / f"{mode}_{f.name}.mp4", seconds=2.0, width=64, height=64, fps=8
            )
    return files


def use_fake_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Fixture body: a throwaway ComfyUI dir and data dir, and the GPU task replaced by a double."""
    comfy = tmp_path / "comfyui"
    for sub in ("input", "output"):
        (comfy / sub).mkdir(parents=True)
    monkeypatch.setenv("LTX_AIO_COMFYUI_DIR", str(comfy))
    monkeypatch.setenv("LTX_AIO_DATA_DIR", str(tmp_path / "data"))
    history.close_all()
    fake = FakeEngine()
    patch_engine(monkeypatch, fake)
    yield fake
    history.close_all()
