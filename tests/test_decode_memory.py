"""L1: the one figure for the memory a job's decode may use (backend.decode_memory), where it comes
from on each kind of machine, how a job hands it to its graph, and the duration estimate's decode
term, read from the graph's own "Decode video" node."""

from __future__ import annotations

import sys
import types

import pytest

import backend
import decode_plan
import jobs
import modes
import readiness
import worker_pool
import worker_settings
import workflow
from testkit.app_helpers import use_fake_engine
from testkit.modes_helpers import graph_spec

engine = pytest.fixture(use_fake_engine, name="engine")


@pytest.fixture(autouse=True)
def plain_machine(monkeypatch):
    """No setting, not ZeroGPU, no workers: each test says what differs."""
    for name in (backend.MEMORY_ENV, "SPACES_ZERO_GPU", worker_settings.WORKERS_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(backend, "_warm_modes", set())


def fake_torch(cuda=False, mps=False, recommended=None, bf16=True):
    def boom():
        raise AssertionError("CUDA was touched")

    cuda_ns = types.SimpleNamespace(
        is_available=(lambda: cuda) if cuda is not None else boom,
        mem_get_info=lambda: (10e9, 80e9),
        memory_reserved=lambda: 6e9,
        is_bf16_supported=lambda: bf16,
    )
    torch = types.SimpleNamespace(
        cuda=cuda_ns,
        backends=types.SimpleNamespace(mps=types.SimpleNamespace(is_available=lambda: mps)),
    )
    if recommended is not None:
        torch.mps = types.SimpleNamespace(recommended_max_memory=lambda: recommended)
    return torch


def test_the_setting_wins_everywhere(monkeypatch):
    monkeypatch.setenv(backend.MEMORY_ENV, "24")
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    assert backend.decode_memory() == {
        "memory_gb": 24.0, "budget_gb": 12.0, "source": backend.MEMORY_ENV, "dtype_bytes": 2,
    }  # fmt: skip


def test_a_setting_that_is_no_size_is_ignored_and_said(monkeypatch):
    monkeypatch.setenv(backend.MEMORY_ENV, "lots")
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    figure = backend.decode_memory()
    assert figure["memory_gb"] == backend.ZEROGPU_MEMORY_GB
    assert "'lots' is not a number of GB" in figure["source"]


def test_zerogpu_is_its_large_slice_without_touching_cuda(monkeypatch):
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    monkeypatch.setitem(sys.modules, "torch", fake_torch(cuda=None))
    figure = backend.decode_memory()
    assert (figure["memory_gb"], figure["budget_gb"]) == (48.0, 24.0)
    assert "ZeroGPU" in figure["source"]


def _rows(*workers):
    return [{"state": state, "device": {"vram_total_gb": gb}} for state, gb in workers]


def test_with_workers_the_smallest_gpu_of_those_up(monkeypatch):
    rows = _rows(("up", 80.0), ("up", 24.0), ("down", 16.0), ("up", None))
    monkeypatch.setattr(worker_settings, "configured", lambda: True)
    monkeypatch.setattr(
        backend,
        "executor",
        lambda: types.SimpleNamespace(status=lambda wait_s: {"workers": rows}),
    )
    figure = backend.decode_memory()
    assert figure["memory_gb"] == 24.0 and "2 worker(s) up" in figure["source"]
    assert backend.decode_memory(_rows(("up", 40.0)))["memory_gb"] == 40.0


def test_real_workers_report_their_gpu_through_the_pool(tmp_path, monkeypatch):
    pytest.importorskip("aiohttp", reason="the worker pool speaks HTTP with aiohttp")
    from testkit.fake_worker import fake_workers  # reports a 24 GB GPU from /system_stats

    with fake_workers(tmp_path, ()) as [fake]:
        monkeypatch.setenv(worker_settings.WORKERS_ENV, fake.url)
        try:
            figure = backend.engine_status()["decode_memory"]
        finally:
            worker_pool.shutdown()
    assert figure["memory_gb"] == 24.0 and "1 worker(s) up" in figure["source"]


def test_with_no_worker_up_the_default():
    figure = backend.decode_memory(_rows(("down", 80.0)))
    assert figure["memory_gb"] == decode_plan.DEFAULT_MEMORY_GB
    assert figure["source"].startswith("default")


def test_in_process_cuda_is_what_is_free_plus_what_this_process_holds(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", fake_torch(cuda=True))
    assert backend.decode_memory()["memory_gb"] == 16.0


def test_mps_is_its_recommended_maximum(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", fake_torch(mps=True, recommended=20e9))
    assert backend.decode_memory()["memory_gb"] == 20.0


def test_mps_without_that_figure_and_the_cpu_are_the_ram_available(monkeypatch):
    monkeypatch.setattr(backend, "_ram_available_bytes", lambda: 12e9)
    for torch in (fake_torch(mps=True), fake_torch()):
        monkeypatch.setitem(sys.modules, "torch", torch)
        assert backend.decode_memory()["memory_gb"] == 12.0


def test_without_torch_loaded_ram_or_the_default_and_torch_stays_unloaded(monkeypatch):
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    monkeypatch.setattr(backend, "_ram_available_bytes", lambda: 8e9)
    monkeypatch.setattr(readiness, "probe_device", lambda: {"type": "cpu"})
    assert backend.decode_memory()["memory_gb"] == 8.0
    monkeypatch.setattr(readiness, "probe_device", lambda: {"type": "cuda"})
    monkeypatch.setattr(backend, "_nvidia_smi_gb", lambda: None)  # no nvidia-smi to ask
    figure = backend.decode_memory()
    assert figure["memory_gb"] == decode_plan.DEFAULT_MEMORY_GB and "first job" in figure["source"]
    assert "torch" not in sys.modules


def test_before_torch_loads_nvidia_smi_says_what_the_gpu_has_free(monkeypatch):
    import subprocess

    monkeypatch.delitem(sys.modules, "torch", raising=False)
    monkeypatch.setattr(readiness, "probe_device", lambda: {"type": "cuda"})
    asked = []

    def smi(args, **kwargs):
        asked.append(args)
        cap = "7.5" if "--id=3" in args else "8.9"
        return types.SimpleNamespace(stdout=f"15258, {cap}\n")

    monkeypatch.setattr(subprocess, "run", smi)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    figure = backend.decode_memory()
    assert figure["memory_gb"] == 16.0 and "nvidia-smi" in figure["source"]
    assert figure["dtype_bytes"] == 2 and "--id=0" in asked[-1]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,1")  # the first visible GPU; no bf16 there
    figure = backend.decode_memory()
    assert "--id=3" in asked[-1] and figure["dtype_bytes"] == 4
    assert "torch" not in sys.modules


def test_where_comfyui_decodes_in_fp32_the_plan_counts_four_bytes(monkeypatch):
    monkeypatch.setattr(backend, "_ram_available_bytes", lambda: 12e9)
    monkeypatch.setitem(sys.modules, "torch", fake_torch())
    assert backend.decode_memory()["dtype_bytes"] == 4  # the CPU
    monkeypatch.setitem(sys.modules, "torch", fake_torch(cuda=True, bf16=False))
    assert backend.decode_memory()["dtype_bytes"] == 4  # a GPU without bf16 (T4, V100, ...)
    monkeypatch.setitem(sys.modules, "torch", fake_torch(cuda=True))
    assert backend.decode_memory()["dtype_bytes"] == 2
    bf16 = decode_plan.plan(decode_plan.LTX23, 1280, 704, 121, 48e9)
    fp32 = decode_plan.plan(decode_plan.LTX23, 1280, 704, 121, 48e9, dtype_size=4)
    assert fp32.peak_bytes <= fp32.budget_bytes and fp32.peak_bytes > bf16.peak_bytes / 2


def test_the_engine_status_carries_the_figure(monkeypatch):
    monkeypatch.setenv(backend.MEMORY_ENV, "80")
    assert backend.engine_status()["decode_memory"]["memory_gb"] == 80.0


# -------------------------------------------------------------------------------- the job's use


def test_a_job_plans_its_decode_for_the_figure(engine, monkeypatch):
    monkeypatch.setattr(backend, "decode_memory", lambda: {"memory_gb": 24.0})
    result = jobs.run("t2v", {"prompt": "a cat", "preset": "quality", "seed": 1})
    used = result.spec.record()
    plan = decode_plan.plan(
        decode_plan.LTX25, used["width"], used["height"], used["frames"], 24 * 1e9
    )
    decode = workflow.find_node(engine.calls[-1]["prompt"], "Decode video")[1]["inputs"]
    assert {name: decode[name] for name in plan.inputs} == plan.inputs
    assert used["memory_gb"] == 24.0 and used["decode"] == plan.describe()


def test_a_job_whose_decode_cannot_fit_says_so(engine, monkeypatch):
    monkeypatch.setattr(backend, "decode_memory", lambda: {"memory_gb": 0.2})
    result = jobs.run("t2v", {"prompt": "a cat", "preset": "quality", "seed": 1})
    said = [note for note in result.notes if "GB it may use here" in note]
    assert said == [result.spec.decode_note]  # said once, among the notes
    stored = jobs.open_history().get(result.job_id).used
    assert "decode_note" not in stored and stored["notes"] == result.notes


# --------------------------------------------------------------------------- the time estimate


def _prompt(mode="t2v", preset="balanced", family=None, memory_gb=48.0, frames=121):
    p = modes.MODES[mode].presets[preset]
    used = graph_spec(mode, preset, family, (p.width, p.height, frames), memory_gb=memory_gb)
    return modes.MODES[mode].parameterize(used), used


@pytest.mark.parametrize(
    ("mode", "preset", "family"),
    [(m, p, f) for m in modes.MODES for f in modes.MODES[m].models for p in modes.PRESETS],
)
def test_the_decode_term_is_what_the_graphs_decode_node_decodes(mode, preset, family):
    prompt, used = _prompt(mode, preset, family)
    node = workflow.find_node(prompt, "Decode video")[1]["inputs"]
    inputs = {name: node[name] for name in decode_plan.Plan.INPUTS}
    volume = decode_plan.decoded_volume(used.width, used.height, used.frames, inputs)
    assert backend.decode_seconds(prompt, used.frames) == pytest.approx(
        backend.DECODE_S_PER_MEGAPIXEL_FRAME * volume / 1e6
    )


def test_more_tiles_cost_more_time():
    prompt, used = _prompt("t2v", "balanced")
    whole = backend.estimate_duration("t2v", "balanced", prompt, used.frames)
    workflow.set_input(prompt, "Decode video", "tile_size", decode_plan.MIN_TILE_PX)
    assert backend.estimate_duration("t2v", "balanced", prompt, used.frames) > whole


def test_a_prompt_without_a_decode_node_is_estimated_per_frame():
    assert backend.decode_seconds({}, 100) == pytest.approx(backend.DECODE_S_PER_FRAME * 100)


def test_the_estimate_keeps_its_bounds():
    prompt, used = _prompt("style", "quality")
    assert backend.estimate_duration("style", "quality", prompt, 241) == backend.MAX_DURATION_S
    prompt, used = _prompt("t2v", "fast", frames=9)
    backend._warm_modes.add(("t2v", backend.family(prompt)))
    assert backend.estimate_duration("t2v", "fast", prompt, 9, 0.1) >= backend.MIN_DURATION_S
