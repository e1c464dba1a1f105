"""A first video in minutes anywhere: where ComfyUI runs on the CPU (or the tiny test set), the
panels start on the fast preset, the fewest frames and a small width, and say why; on a GPU, or
with remote workers, they start on the declared defaults. The API's defaults never move."""

from __future__ import annotations

import gradio as gr
import pytest

# At collection, before any test starts the engine (ComfyUI has a top-level `app` package too).
import app
import modes
import quick_start
import readiness


@pytest.fixture
def on(monkeypatch):
    def machine(device: str, *, tiny: bool = False, workers: bool = False) -> None:
        monkeypatch.setattr(readiness, "probe_device", lambda: {"type": device})
        monkeypatch.setattr(quick_start.tinyset, "requested", lambda: tiny)
        monkeypatch.setattr(quick_start.worker_settings, "configured", lambda: workers)

    return machine


@pytest.mark.parametrize(
    ("device", "tiny", "workers", "quick"),
    [
        ("cpu", False, False, True),
        ("cuda", False, False, False),
        ("mps", False, False, False),
        ("zerogpu", False, False, False),
        ("cuda", True, False, True),  # the tiny set: videos are noise, so make them quickly
        ("cpu", False, True, False),  # remote workers bring their own GPUs
    ],
)
def test_who_starts_on_quick_settings(on, device, tiny, workers, quick):
    on(device, tiny=tiny, workers=workers)
    assert (quick_start.reason() is not None) is quick


def test_a_cpu_only_torch_beside_an_nvidia_gpu_runs_on_the_cpu(monkeypatch, on):
    on("cuda")
    monkeypatch.setattr(readiness, "probe_device", lambda: {"type": "cuda", "torch_build": "cpu"})
    assert "CPU-only" in quick_start.reason()


def test_each_mode_starts_fast_short_and_small_within_its_own_fields():
    for mode in modes.MODES.values():
        chosen = quick_start.values(mode)
        fields = {f.name: f for f in mode.fields}
        assert chosen["preset"] == "fast" and chosen["width"] == 384
        assert ("frames" in chosen) == ("frames" in fields)
        if "frames" in chosen:
            assert chosen["frames"] == fields["frames"].min == 9
        for name, value in chosen.items():
            assert value != fields[name].default  # each is a change worth saying


def test_the_note_says_what_and_why():
    said = quick_start.note(modes.MODES["t2v"], "no GPU was found, so ComfyUI runs on the CPU")
    assert said.startswith("No GPU was found")
    assert "the fast preset, 9 frames and 384 px wide" in said
    # a2v takes its length from the audio: no frames are promised there.
    assert "frames" not in quick_start.note(modes.MODES["a2v"], "x")


def test_the_page_starts_quick_but_the_api_defaults_are_the_declared_ones(on):
    on("cpu")
    demo = app.build_app()
    info = demo.get_api_info()["named_endpoints"]["/t2v"]["parameters"]
    defaults = {p["parameter_name"]: p.get("parameter_default") for p in info}
    declared = {f.name: f.default for f in modes.MODES["t2v"].fields}
    assert defaults["preset"] == declared["preset"] == "balanced"
    assert defaults["frames"] == declared["frames"] == 121
    panel = {"aio-t2v-preset", "aio-t2v-frames", "aio-t2v-width"}
    [start] = [
        fn
        for fn in demo.fns.values()
        if any(t[1] == "load" for t in fn.targets)
        and panel <= {getattr(c, "elem_id", None) for c in fn.outputs}
    ]
    starting = {c.elem_id: v for c, v in start.fn().items()}
    assert starting["aio-t2v-preset"] == "fast" and starting["aio-t2v-frames"] == 9
    assert starting["aio-t2v-width"] == 384 and starting["aio-a2v-preset"] == "fast"
    assert isinstance(demo, gr.Blocks)
