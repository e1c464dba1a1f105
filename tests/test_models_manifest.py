"""The manifest against the real graphs: every file they load resolves, in every variant."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

import downloads
import enhance
import model_manifest
import models
import modes
import workflow
from errors import AppError
from testkit.models_fakehub import FakeHub

TEMPLATES = sorted(p.stem for p in workflow.WORKFLOWS_DIR.glob("*.json"))
# The modes' graphs, whose files are also listed from their refs (required_models): the prompt
# enhancer's (enhance.py) is no mode's, and loads no transformer for the gguf variant to swap.
MODE_TEMPLATES = sorted(set(TEMPLATES) - set(enhance.GRAPHS.values()))
VARIANTS = list(model_manifest.VARIANTS)
FOLDERS = {
    "checkpoints", "loras", "text_encoders", "latent_upscale_models", "unet",
    "diffusion_models", "vae", "model_patches", "geometry_estimation",
}  # fmt: skip


def _refs(prompt: dict) -> list[tuple[str, str, str]]:
    return [tuple(r) for r in workflow.model_files(prompt)]


def test_there_are_workflows_to_check():
    assert set(modes.MODES) <= set(TEMPLATES)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("name", TEMPLATES)
def test_every_model_file_in_the_workflows_resolves_through_the_manifest(name, variant):
    prompt = models.resolve_variant(workflow.load_template(name), variant)
    refs = _refs(prompt)
    assert refs, f"{name} loads no weights at all?"
    for folder, filename, title in refs:
        fact = models.lookup(filename, title)
        assert fact.folder == folder, f"{filename}: loader folder {folder}, manifest {fact.folder}"


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("name", MODE_TEMPLATES)
def test_variant_of_the_refs_matches_the_variant_of_the_graph(name, variant):
    template = workflow.load_template(name)
    from_graph = models.needs_for_prompt(models.resolve_variant(template, variant))
    from_refs = models.needs_for_refs(models.variant_refs(_refs(template), variant))
    assert {(n.folder, n.filename) for n in from_graph} == {
        (n.folder, n.filename) for n in from_refs
    }


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("preset", modes.PRESETS)
@pytest.mark.parametrize("mode", list(modes.MODES))
def test_each_mode_and_preset_needs_only_manifest_files(mode, preset, variant):
    needs = models.needs_for_mode(mode, preset, variant)
    assert needs and all(n.file.name == Path(n.filename).name for n in needs)


def test_fast_preset_does_not_fetch_the_upscaler_the_two_stage_presets_need():
    def names(preset):
        return {n.file.name for n in models.needs_for_mode("t2v", preset, "full")}

    upscaler = "ltx-2.3-spatial-upscaler-x2-1.1.safetensors"
    assert upscaler not in names("fast") and upscaler in names("balanced")


def test_fp8_variant_points_every_loader_at_fp8_files():
    prompt = models.resolve_variant(workflow.load_template("t2v"), "fp8")
    names = {Path(f).name for _, f, _ in _refs(prompt)}
    assert "ltx-2.3-22b-dev-fp8.safetensors" in names
    assert "gemma_3_12B_it_fp8_scaled.safetensors" in names
    assert not names & set(model_manifest.VARIANTS["fp8"])


def test_gguf_variant_moves_only_the_model_output_to_a_gguf_loader():
    template = workflow.load_template("t2v")
    prompt = models.resolve_variant(template, "gguf")
    [(ckpt, _)] = [(k, n) for k, n in prompt.items() if n["class_type"] == "CheckpointLoaderSimple"]
    [(gguf, node)] = [(k, n) for k, n in prompt.items() if n["class_type"] == "UnetLoaderGGUF"]
    links = [v for n in prompt.values() for v in n["inputs"].values() if isinstance(v, list)]
    assert [ckpt, 0] not in links and [gguf, 0] in links
    old = [v for n in template.values() for v in n["inputs"].values() if isinstance(v, list)]
    assert links.count([ckpt, 2]) == old.count([ckpt, 2])  # the VAE still comes from it
    assert node["inputs"]["unet_name"] in model_manifest.FACTS


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("name", TEMPLATES)
def test_variants_keep_the_graph_valid_for_the_pinned_nodes(name, variant):
    template = workflow.load_template(name)
    schemas = workflow.load_schemas()
    before = set(workflow.validate(template, schemas))
    after = set(workflow.validate(models.resolve_variant(template, variant), schemas))
    assert after <= before


def test_unknown_variant_is_bad_input():
    with pytest.raises(AppError) as err:
        models.resolve_variant(workflow.load_template("t2v"), "int3")
    assert err.value.kind == "bad_input" and err.value.where == "variant"


def test_file_not_in_the_manifest_names_file_and_node():
    with pytest.raises(AppError) as err:
        models.lookup("loras/mystery.safetensors", "Style LoRA")
    assert err.value.kind == "missing_model"
    assert "mystery.safetensors" in err.value.message and err.value.where == "Style LoRA"


def test_unknown_mode_and_preset_are_bad_input():
    for args, field in ((("t2x", None), "mode"), (("t2v", "turbo"), "preset")):
        with pytest.raises(AppError) as err:
            models.needs_for_mode(*args)
        assert err.value.kind == "bad_input" and err.value.where == field


@pytest.mark.parametrize(
    "env, expected",
    [
        ({}, "full"),
        ({"SPACES_ZERO_GPU": "true"}, "fp8"),
        ({"LTX_AIO_MODEL_VARIANT": "gguf"}, "gguf"),
    ],
)
def test_default_variant(monkeypatch, env, expected):
    for name in ("SPACES_ZERO_GPU", "LTX_AIO_MODEL_VARIANT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert models.default_variant() == expected


@pytest.mark.parametrize("fact", model_manifest.FACTS.values(), ids=lambda f: f.name)
def test_manifest_entries_are_well_formed(fact):
    assert re.fullmatch(r"[\w.-]+/[\w.-]+", fact.repo)
    assert fact.path.endswith(fact.name) or fact.name.startswith("comfy_")
    assert fact.size > 0 and fact.source and fact.licence
    assert fact.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", fact.sha256)
    assert fact.folder in FOLDERS | {"controlnet_aux"}


def test_every_variant_target_is_in_the_manifest():
    targets = {t for renames in model_manifest.VARIANTS.values() for t in renames.values()}
    targets |= set(model_manifest.GGUF_TRANSFORMERS.values())
    assert targets <= set(model_manifest.FACTS)


@pytest.fixture
def empty_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("LTX_AIO_COMFYUI_DIR", str(tmp_path / "comfyui"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.delenv("AUX_ANNOTATOR_CKPTS_PATH", raising=False)
    return tmp_path


def test_model_status_lists_every_mode_with_sizes(empty_disk):
    status = models.model_status(variant="full")
    assert list(status["modes"]) == list(modes.MODES)
    t2v = status["modes"]["t2v"]
    assert {r["state"] for r in t2v["files"]} == {"missing"} and not t2v["ready"]
    assert t2v["missing_gb"] == t2v["total_gb"] > 30
    assert status["total_gb"] >= t2v["total_gb"]


def test_a_modes_figures_are_its_default_models_and_each_model_has_its_own(empty_disk):
    t2v = models.model_status("t2v", variant="full")["modes"]["t2v"]
    assert t2v["model"] == "ltx-2.5" and set(t2v["by_model"]) == {"ltx-2.5", "ltx-2.3"}
    for family, totals in t2v["by_model"].items():
        sizes = {
            n.file.path: n.file.size for n in models.needs_for_mode("t2v", None, "full", family)
        }
        assert totals["missing_gb"] == pytest.approx(sum(sizes.values()) / 1e9, abs=0.01)
    assert t2v["missing_gb"] == t2v["by_model"]["ltx-2.5"]["missing_gb"]
    everything = sum({(r["repo"], r["path"]): r["size_bytes"] for r in t2v["files"]}.values())
    assert t2v["missing_gb"] < everything / 1e9 - 1  # never both models added up


def test_model_status_counts_a_file_that_is_there(empty_disk):
    need = models.needs_for_mode("t2v", "fast", "full")[0]
    need.link.parent.mkdir(parents=True)
    with open(need.link, "wb") as fh:
        fh.truncate(need.file.size)  # sparse: the right size without the bytes
    t2v = models.model_status("t2v", variant="full")["modes"]["t2v"]
    [row] = [r for r in t2v["files"] if r["filename"] == need.filename]
    assert row["state"] == "present"
    assert t2v["missing_gb"] == pytest.approx(t2v["total_gb"] - need.file.size / 1e9, abs=0.01)


def test_ensure_models_for_mode_fetches_exactly_what_the_preset_loads(empty_disk, monkeypatch):
    hub = FakeHub().start()
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    try:
        for need in models.needs_for_mode("t2v", None, "full"):  # every preset's files
            f = need.file
            small = model_manifest.ModelFile(f.name, f.folder, f.repo, f.path, 1000, "test")
            hub.add(f.repo, f.path, os.urandom(1000))
            monkeypatch.setitem(model_manifest.FACTS, f.name, small)
        paths = downloads.ensure_models_for_mode("t2v", "fast", variant="full")
    finally:
        hub.stop()
    expected = {n.link for n in models.needs_for_mode("t2v", "fast", "full")}
    assert set(paths) == expected and all(p.is_file() for p in paths)
    assert {r.path for r in hub.gets()} == {
        n.file.path for n in models.needs_for_mode("t2v", "fast", "full")
    }


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_style_depth_setting_changes_the_files_style_needs(variant, monkeypatch):
    """LTX_AIO_STYLE_DEPTH=moge: Comfy's IC-LoRA template's MoGe-2 from Comfy-Org/MoGe into
    ComfyUI's geometry_estimation folder, in every variant, instead of Depth Anything V2."""

    def needs():
        return {n.file.name: n for n in models.needs_for_mode("style", None, variant)}

    monkeypatch.delenv("LTX_AIO_STYLE_DEPTH", raising=False)
    default = needs()
    assert "depth_anything_v2_vits.pth" in default
    assert "moge_2_vitl_normal_fp16.safetensors" not in default
    monkeypatch.setenv("LTX_AIO_STYLE_DEPTH", "moge")
    moge = needs()
    need = moge["moge_2_vitl_normal_fp16.safetensors"]
    assert need.folder == "geometry_estimation" and need.filename == need.file.name
    assert (need.file.repo, need.file.path) == (
        "Comfy-Org/MoGe", "geometry_estimation/moge_2_vitl_normal_fp16.safetensors"
    )  # fmt: skip
    assert need.link.parent.name == "geometry_estimation"
    assert set(moge) - set(default) == {need.file.name}
    assert set(default) - set(moge) == {"depth_anything_v2_vits.pth"}  # DWPose stays for pose


def test_an_unknown_style_depth_model_is_said_in_the_models_view(empty_disk, monkeypatch):
    monkeypatch.setenv("LTX_AIO_STYLE_DEPTH", "zoedepth")
    status = models.model_status(variant="full")["modes"]
    assert status["style"]["error"]["where"] == "LTX_AIO_STYLE_DEPTH"
    assert status["t2v"]["files"]  # the other modes are listed as ever
