"""L1: the Models view (models_ui) over real model_status figures on a throwaway disk, and its
download button through the real download code against a fake Hub on loopback."""

from __future__ import annotations

import os
import re

import pytest

import jobs
import model_manifest
import models
import models_ui
import modes
from errors import AppError
from testkit.models_fakehub import FakeHub


@pytest.fixture(scope="module")
def view() -> models_ui.ModelsView:
    """The view's components, in a page of their own: its handlers answer keyed by them."""
    import gradio as gr

    with gr.Blocks():
        return models_ui.build()


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


def test_each_file_says_which_model_loads_it_and_gated_ones_say_what_they_need(disk, view):
    out = view.on_refresh("t2v")[view.files]
    cells = dict(re.findall(r'<code>(.*?)</code></td><td data-label="Model">([^<]*)', out))
    assert cells["ltx-2.5-video-vae-bf16.safetensors"] == "LTX-2.5"
    assert cells["ltx-2.3-22b-dev.safetensors"] == "LTX-2.3"
    assert GATED in out  # LTX-2.5's repository is gated


def gb(needs) -> str:
    """The GB of `needs` as the view writes it, each stored file once."""
    sizes = {(n.file.repo, n.file.path): n.file.size for n in needs}
    return f"{sum(sizes.values()) / 1e9:.1f} GB"


def overview_cells(table: str, mode: str) -> dict[str, str]:
    row = re.search(rf'<tr data-mode="{mode}">(.*?)</tr>', table).group(1)
    return dict(re.findall(r'<td data-label="([^"]+)"[^>]*>(.*?)</td>', row))


def test_empty_disk_lists_every_mode_and_every_file_missing(disk, view):
    out = view.on_refresh("t2v")
    assert out[view.message]["visible"] is False
    assert re.findall(r'data-mode="(\w+)"', out[view.overview]) == list(modes.MODES)
    needs = models.needs_for_mode("t2v", None, "full")
    assert file_rows(out[view.files]) == dict.fromkeys((n.filename for n in needs), "missing")
    assert out[view.download]["visible"] is True
    assert "Weights: **full**" in out[view.summary] and str(disk / "hub") in out[view.summary]


def test_a_mode_with_a_model_choice_offers_its_default_models_download_not_both(disk, view):
    button = view.on_refresh("t2v")[view.download]["value"]
    ltx25 = models.needs_for_mode("t2v", None, "full", "ltx-2.5")
    assert button == f"Download {gb(ltx25)} for Text to video (LTX-2.5)"
    assert gb(ltx25) != gb(models.needs_for_mode("t2v", None, "full"))  # both added up


def test_the_overview_gives_each_models_figure_apart(disk, view):
    cells = overview_cells(view.on_refresh("t2v")[view.overview], "t2v")
    ltx25, ltx23 = (models.needs_for_mode("t2v", None, "full", m) for m in ("ltx-2.5", "ltx-2.3"))
    assert cells["To fetch"] == f"LTX-2.5 {gb(ltx25)}<br>LTX-2.3 {gb(ltx23)}"
    assert overview_cells(view.on_refresh("a2v")[view.overview], "a2v")["To fetch"] == gb(
        models.needs_for_mode("a2v", None, "full")
    )


def test_a_single_model_modes_button_names_no_model(disk, view):
    needs = models.needs_for_mode("a2v", None, "full")
    assert (
        view.on_refresh("a2v")[view.download]["value"] == f"Download {gb(needs)} for Audio to video"
    )


def test_style_lists_each_control_preprocessor_file(disk, view):
    names = set(file_rows(view.on_refresh("style")[view.files]))
    needs = models.needs_for_mode("style", None, "full")
    assert names == {n.filename for n in needs}
    aux = {n.filename.rsplit("/", 1)[-1] for n in needs if n.folder == "controlnet_aux"}
    pose = {"yolox_l.onnx", "dw-ll_ucoco_384_bs5.torchscript.pt"}
    assert aux == pose | {"depth_anything_v2_vits.pth"}


def test_a_file_on_disk_and_one_arriving_are_shown_as_such(disk, monkeypatch, view):
    there, arriving = models.needs_for_mode("t2v", "fast", "full", "ltx-2.3")[:2]
    there.link.parent.mkdir(parents=True)
    with open(there.link, "wb") as fh:
        fh.truncate(there.file.size)  # sparse: the right size without the bytes
    key = (arriving.file.repo, arriving.file.path)
    monkeypatch.setitem(models.in_flight, key, (arriving.file.size // 4, arriving.file.size))
    out = view.on_refresh("t2v")
    states = file_rows(out[view.files])
    assert states[there.filename] == "on disk"
    assert states[arriving.filename].startswith("downloading 25%")
    t2v = re.search(r'<tr data-mode="t2v">(.*?)</tr>', out[view.overview]).group(1)
    cells = re.findall(r'<td data-label="([^"]+)"[^>]*>([^<]*)</td>', t2v)
    total = len(models.needs_for_mode("t2v", None, "full"))
    assert cells[:3] == [
        ("Mode", "Text to video"),
        ("State", "LTX-2.5 needs downloads; LTX-2.3 needs downloads"),
        ("Files on disk", f"1 of {total}"),
    ]


def test_an_unknown_variant_is_a_message_not_a_traceback(disk, monkeypatch, view):
    monkeypatch.setenv("LTX_AIO_MODEL_VARIANT", "int3")
    out = view.on_refresh("t2v")
    assert out[view.message]["visible"] is True and "int3" in out[view.message]["value"]
    assert out[view.download]["visible"] is False


def test_download_failure_is_shown_and_the_table_stays(disk, monkeypatch, view):
    def fail(mode, preset, progress=None, model=None):
        raise AppError("download_failed", "Could not reach the Hugging Face Hub.", hint="Retry.")

    monkeypatch.setattr(jobs.downloads, "ensure_models_for_mode", fail)
    out = view.on_download("i2v", progress=None)
    assert "Could not reach the Hugging Face Hub." in out[view.message]["value"]
    assert set(file_rows(out[view.files]).values()) == {"missing"}


def test_download_fetches_the_default_models_files_of_the_mode_from_the_hub(
    disk, monkeypatch, view
):
    hub = FakeHub().start()
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    every = models.needs_for_mode("keyframe", None, "full")  # every preset's, both models'
    default = models.needs_for_mode("keyframe", None, "full", "ltx-2.5")
    try:
        for need in every:
            f = need.file
            small = model_manifest.ModelFile(f.name, f.folder, f.repo, f.path, 1000, "test")
            hub.add(f.repo, f.path, os.urandom(1000))
            monkeypatch.setitem(model_manifest.FACTS, f.name, small)
        seen = []
        out = view.on_download("keyframe", progress=lambda *a, **k: seen.append(a))
    finally:
        hub.stop()
    assert (
        "Models ready" in out[view.message]["value"] and "on LTX-2.5" in out[view.message]["value"]
    )
    states = file_rows(out[view.files])
    assert {states[n.filename] for n in default} == {"on disk"}
    assert "missing" in states.values()  # LTX-2.3's: fetched at its first job
    assert out[view.download]["visible"] is False
    assert {r.path for r in hub.gets()} == {n.file.path for n in default}
    assert seen and seen[-1][0] == 1.0


def test_with_remote_workers_the_view_says_whose_files_it_lists(disk, monkeypatch, view):
    monkeypatch.setattr(jobs.backend, "local_weights", lambda: True)
    assert view.on_refresh("t2v")[view.message]["visible"] is False
    monkeypatch.setattr(jobs.backend, "local_weights", lambda: False)
    said = view.on_refresh("t2v")[view.message]
    assert said["visible"] is True and "own models folder" in said["value"]


def test_with_remote_workers_nothing_is_offered_or_fetched_here(disk, monkeypatch, view):
    monkeypatch.setattr(jobs.backend, "local_weights", lambda: False)
    fetched = []
    monkeypatch.setattr(jobs, "download_models", lambda *a, **k: fetched.append(a))
    out = view.on_refresh("t2v")
    assert out[view.download]["visible"] is False
    assert "nothing is downloaded to this machine" in out[view.summary]
    assert "free at" not in out[view.summary]
    out = view.on_download("t2v", progress=None)
    assert fetched == [] and "Nothing is downloaded to this machine" in out[view.message]["value"]


def test_the_known_loras_are_shown_by_model_and_say_when_they_are_on_disk(disk, view):
    import loras

    def rows() -> dict:
        table = view.on_refresh("t2v")[view.loras]
        found = re.findall(
            r'<tr data-state="(\w+)" data-model="([^"]+)"><td data-label="LoRA"><code>(.*?)'
            r"</code>.*?<td data-label=\"From\">([^<]*)</td>", table
        )  # fmt: skip
        return {(model, name): (state, source) for state, model, name, source in found}

    shown = rows()
    assert set(shown) == {(k.family, k.name) for k in loras.KNOWN}
    slow = next(k for k in loras.KNOWN if k.name == "slow-motion")
    assert shown[(modes.LTX25, "slow-motion")] == ("missing", f"{slow.repo}/{slow.path}")
    link = models.pins.models_dir() / "loras" / loras.parse("l", slow.name, slow.family).filename
    link.parent.mkdir(parents=True)
    link.write_bytes(b"tiny")
    assert rows()[(modes.LTX25, "slow-motion")][0] == "present"
