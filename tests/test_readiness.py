"""L1: what the status banner, /healthz and the console say stops or slows generation here."""

from __future__ import annotations

import logging
import sys
import types

import pytest

import banners_ui
import modes
import readiness

READY = {"ready": True, "problems": [], "warnings": []}
GPU = {"type": "cuda", "source": "system", "torch_build": "gpu"}
ROOMY = {"variant": "full", "need_gb": 79.2, "free_gb": 500.0, "where": "/hub", "others_gb": {}}
TIGHT = {
    "variant": "full",
    "need_gb": 79.2,
    "free_gb": 60.0,
    "where": "/hub",
    "others_gb": {"fp8": 51.1, "gguf": 62.3},
}


def test_nothing_to_say_on_a_gpu_machine_with_room():
    assert readiness.lines(READY, GPU, ROOMY) == []
    assert banners_ui.engine_banner([]) == ""


def test_no_gpu_is_a_warning_not_a_problem():
    [line] = readiness.lines(READY, {"type": "cpu"}, ROOMY)
    assert line.level == "warning" and "No GPU" in line.headline and "CPU" in line.headline


@pytest.mark.parametrize("kind", ["mps", "zerogpu"])
def test_apple_mps_and_zerogpu_need_no_word(kind):
    assert readiness.device_line({"type": kind}) is None


def test_a_cpu_only_torch_beside_a_gpu_says_how_to_get_the_cuda_build():
    line = readiness.device_line({"type": "cuda", "torch_build": "cpu"})
    assert "CPU-only" in line.headline and readiness.CUDA_WHEELS in line.detail


def test_too_little_disk_names_both_figures_and_the_variant_that_fits():
    line = readiness.weights_line(TIGHT)
    assert "79.2 GB to download, 60.0 GB free" in line.headline
    assert "`LTX_AIO_MODEL_VARIANT=fp8`" in line.detail and "51.1 GB" in line.detail


def test_too_little_disk_for_every_variant_says_to_free_space():
    line = readiness.weights_line({**TIGHT, "free_gb": 10.0})
    assert "Free 69.2 GB" in line.detail and "LTX_AIO_MODEL_VARIANT" not in line.detail


# Each model family's largest one-mode download: a job loads one family's files, never both.
PER_MODEL = {**TIGHT, "by_model": {"ltx-2.5": 39.8, "ltx-2.3": 79.2}}


def test_the_disk_figure_is_the_family_that_does_not_fit_not_both_added_up():
    line = readiness.weights_line(PER_MODEL)
    assert "79.2 GB to download for LTX-2.3, 60.0 GB free" in line.headline
    assert "LTX-2.5's files (39.8 GB) fit" in line.detail and "119" not in line.headline


def test_when_neither_family_fits_each_is_named_with_its_own_figure():
    line = readiness.weights_line({**PER_MODEL, "free_gb": 30.0})
    assert "79.2 GB to download for LTX-2.3 (39.8 GB for LTX-2.5), 30.0 GB free" in line.headline
    assert "fit" not in line.detail


def test_with_remote_workers_there_is_no_disk_warning(monkeypatch):
    monkeypatch.setenv("LTX_AIO_WORKERS", "http://127.0.0.1:8188")
    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    weights = readiness.probe_weights()
    assert weights["local"] is False and "need_gb" not in weights
    assert readiness.weights_line({**TIGHT, **weights}) is None


@pytest.fixture
def empty_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("LTX_AIO_COMFYUI_DIR", str(tmp_path / "comfyui"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    for name in ("AUX_ANNOTATOR_CKPTS_PATH", "LTX_AIO_MODEL_VARIANT", "LTX_AIO_WORKERS",
                 "SPACES_ZERO_GPU", "LTX_AIO_TINY_WEIGHTS"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)


def test_the_probe_counts_each_family_on_its_own(empty_disk):
    import models

    weights = readiness.probe_weights()
    full = {
        family: max(
            models.model_status(variant="full")["modes"][mode]["by_model"][family]["missing_gb"]
            for mode, spec in modes.MODES.items()
            if family in spec.models
        )
        for family in modes.MODEL_TITLES
    }
    assert weights["by_model"] == {family: round(gb, 1) for family, gb in full.items()}
    assert weights["need_gb"] == max(weights["by_model"].values())
    files = models.model_status("t2v", variant="full")["modes"]["t2v"]["files"]
    both = sum({(r["repo"], r["path"]): r["size_bytes"] for r in files}.values()) / 1e9
    assert weights["need_gb"] < round(both, 1)  # t2v's two families are not one download


def test_an_engine_problem_is_split_into_headline_and_what_to_do():
    engine = {"ready": False, "problems": ["ComfyUI is not installed at /x. Run `bootstrap`."]}
    [line] = readiness.lines(engine, GPU, ROOMY)
    assert (line.level, line.headline, line.detail) == (
        "problem",
        "ComfyUI is not installed at /x.",
        "Run `bootstrap`.",
    )


def test_banner_says_each_thing_once_briefly_with_details_behind_a_disclosure():
    engine = {"ready": False, "problems": ["ComfyUI is not installed at /x. Run `bootstrap`."]}
    said = banners_ui.engine_banner(readiness.lines(engine, {"type": "cpu"}, TIGHT))
    assert "Generation is unavailable" in said
    assert said.count("ComfyUI is not installed") == 1
    summary, details = said.split("<details>")
    assert "Run" not in summary and "<code>bootstrap</code>" in details
    assert "`" not in said  # commands show as code, not as raw backticks


def test_banner_with_warnings_only_does_not_say_unavailable():
    said = banners_ui.engine_banner(readiness.lines(READY, {"type": "cpu"}, ROOMY))
    assert "Before you generate" in said and "unavailable" not in said


def test_system_probe_never_imports_torch(monkeypatch):
    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    found = readiness.probe_device()
    assert found["source"] == "system" and "torch" not in sys.modules


def test_a_loaded_torch_is_asked(monkeypatch):
    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    cuda = types.SimpleNamespace(is_available=lambda: True, get_device_name=lambda: "Fake GPU")
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=cuda))
    assert readiness.probe_device() == {"type": "cuda", "source": "torch", "name": "Fake GPU"}


def test_the_console_says_what_the_banner_says(monkeypatch, caplog):
    monkeypatch.setattr(readiness, "probe_device", lambda: {"type": "cpu"})
    monkeypatch.setattr(readiness, "probe_weights", lambda: TIGHT)
    monkeypatch.setattr(readiness, "_engine", lambda: READY)
    with caplog.at_level(logging.WARNING, logger="ltx_aio.readiness"):
        readiness.log_lines()
    said = caplog.text
    assert "No GPU" in said and "LTX_AIO_MODEL_VARIANT=fp8" in said
