"""L1: the Models view (models_ui) over real model_status figures on a throwaway disk, and its
download button through the real download code against a fake Hub on loopback."""

from __future__ import annotations

import os
import re

import pytest
from models_fakehub import FakeHub

import jobs
import model_manifest
import models
import models_ui
import modes
from errors import AppError

MESSAGE, SUMMARY, OVERVIEW, FILES, BUTTON = range(5)


@pytest.fixture
def disk(tmp_path, monkeypatch):
    monkeypatch.setenv("LTX_AIO_COMFYUI_DIR", str(tmp_path / "comfyui"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    for name in ("AUX_ANNOTATOR_CKPTS_PATH", "LTX_AIO_MODEL_VARIANT", "SPACES_ZERO_GPU"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


GATED = " · gated: needs HF_TOKEN and the licence accepted on its Hub page"


def file_rows(table: str) -> dict[str, str]:
    """filename -> its State cell, without the note a gated repo's missing file carries."""
    row = (
        r'<tr data-state="\w+"><td data-label="File"><code>(.*?)</code>.*?'
        r'<td data-label="State">([^<]*)</td></tr>'
    )
    return {name: state.removesuffix(GATED) for name, state in re.findall(row, table)}


def test_each_file_says_which_model_loads_it_and_gated_ones_say_what_they_need(disk):
    out = models_ui.on_refresh("t2v")[FILES]
    cells = dict(re.findall(r'<code>(.*?)</code></td><td data-label="Model">([^<]*)', out))
    assert cells["ltx-2.5-video-vae-bf16.safetensors"] == "LTX-2.5"
    assert cells["ltx-2.3-22b-dev.safetensors"] == "LTX-2.3"
    assert GATED in out  # LTX-2.5's repository is gated


def test_empty_disk_lists_every_mode_and_every_file_missing(disk):
    out = models_ui.on_refresh("t2v")
    assert out[MESSAGE]["visible"] is False
    assert re.findall(r'data-mode="(\w+)"', out[OVERVIEW]) == list(modes.MODES)
    needs = models.needs_for_mode("t2v", None, "full")
    assert file_rows(out[FILES]) == dict.fromkeys((n.filename for n in needs), "missing")
    missing = sum(n.file.size for n in needs) / 1e9
    assert out[BUTTON]["visible"] is True
    assert out[BUTTON]["value"] == f"Download {missing:.1f} GB for Text to video"
    assert "Weights: **full**" in out[SUMMARY] and str(disk / "hub") in out[SUMMARY]


def test_style_lists_each_control_preprocessor_file(disk):
    names = set(file_rows(models_ui.on_refresh("style")[FILES]))
    needs = models.needs_for_mode("style", None, "full")
    assert names == {n.filename for n in needs}
    aux = {n.filename.rsplit("/", 1)[-1] for n in needs if n.folder == "controlnet_aux"}
    pose = {"yolox_l.onnx", "dw-ll_ucoco_384_bs5.torchscript.pt"}
    assert aux == pose | {"depth_anything_v2_vits.pth"}


def test_a_file_on_disk_and_one_arriving_are_shown_as_such(disk, monkeypatch):
    there, arriving = models.needs_for_mode("t2v", "fast", "full", "ltx-2.3")[:2]
    there.link.parent.mkdir(parents=True)
    with open(there.link, "wb") as fh:
        fh.truncate(there.file.size)  # sparse: the right size without the bytes
    key = (arriving.file.repo, arriving.file.path)
    monkeypatch.setitem(models._active, key, (arriving.file.size // 4, arriving.file.size))
    out = models_ui.on_refresh("t2v")
    states = file_rows(out[FILES])
    assert states[there.filename] == "on disk"
    assert states[arriving.filename].startswith("downloading 25%")
    t2v = re.search(r'<tr data-mode="t2v">(.*?)</tr>', out[OVERVIEW]).group(1)
    cells = re.findall(r'<td data-label="([^"]+)"[^>]*>([^<]*)</td>', t2v)
    total = len(models.needs_for_mode("t2v", None, "full"))
    assert cells[:3] == [
        ("Mode", "Text to video"),
        ("State", "LTX-2.5 needs downloads; LTX-2.3 needs downloads"),
        ("Files on disk", f"1 of {total}"),
    ]


def test_an_unknown_variant_is_a_message_not_a_traceback(disk, monkeypatch):
    monkeypatch.setenv("LTX_AIO_MODEL_VARIANT", "int3")
    out = models_ui.on_refresh("t2v")
    assert out[MESSAGE]["visible"] is True and "int3" in out[MESSAGE]["value"]
    assert out[BUTTON]["visible"] is False


def test_download_failure_is_shown_and_the_table_stays(disk, monkeypatch):
    def fail(mode, preset, progress=None, model=None):
        raise AppError("download_failed", "Could not reach the Hugging Face Hub.", hint="Retry.")

    monkeypatch.setattr(jobs.models, "ensure_models_for_mode", fail)
    out = models_ui.on_download("i2v", progress=None)
    assert "Could not reach the Hugging Face Hub." in out[MESSAGE]["value"]
    assert set(file_rows(out[FILES]).values()) == {"missing"}


def test_download_fetches_every_file_of_the_mode_from_the_hub(disk, monkeypatch):
    hub = FakeHub().start()
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    needs = models.needs_for_mode("keyframe", None, "full")  # every preset's files
    try:
        for need in needs:
            f = need.file
            small = model_manifest.ModelFile(f.name, f.folder, f.repo, f.path, 1000, "test")
            hub.add(f.repo, f.path, os.urandom(1000))
            monkeypatch.setitem(model_manifest.FACTS, f.name, small)
        seen = []
        out = models_ui.on_download("keyframe", progress=lambda *a, **k: seen.append(a))
    finally:
        hub.stop()
    assert "Models ready" in out[MESSAGE]["value"]
    assert set(file_rows(out[FILES]).values()) == {"on disk"}
    assert out[BUTTON]["visible"] is False
    assert {r.path for r in hub.gets()} == {n.file.path for n in needs}
    assert seen and seen[-1][0] == 1.0


def test_with_remote_workers_the_view_says_whose_files_it_lists(disk, monkeypatch):
    monkeypatch.setattr(jobs.backend, "local_weights", lambda: True)
    assert models_ui.on_refresh("t2v")[MESSAGE]["visible"] is False
    monkeypatch.setattr(jobs.backend, "local_weights", lambda: False)
    said = models_ui.on_refresh("t2v")[MESSAGE]
    assert said["visible"] is True and "own models folder" in said["value"]
