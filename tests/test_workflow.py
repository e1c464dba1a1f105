"""L1: workflow templates, node lookup by title, model listing and the snapshot validator."""

from __future__ import annotations

import json

import pytest

import workflow

MODES = ("t2v", "i2v", "a2v", "lipsync", "keyframe", "style")
SCHEMAS = workflow.load_schemas()
EDITOR_ONLY = {"Note", "MarkdownNote", "PrimitiveInt", "PrimitiveFloat", "PrimitiveString",
               "PrimitiveBoolean", "Reroute", "PrimitiveNode"}  # fmt: skip

# Every weight file name a graph may reference, with where it is published (see README).
PUBLISHED = {
    ("checkpoints", "ltx-2.3-22b-dev.safetensors"),
    ("loras", "ltx-2.3-22b-distilled-lora-384-1.1.safetensors"),
    ("loras", "ltx-2.3-22b-ic-lora-union-control-ref0.5.safetensors"),
    ("latent_upscale_models", "ltx-2.3-spatial-upscaler-x2-1.1.safetensors"),
    ("text_encoders", "gemma_3_12B_it.safetensors"),
    ("controlnet_aux", "yzd-v/DWPose/yolox_l.onnx"),
    ("controlnet_aux", "hr16/DWPose-TorchScript-BatchSize5/dw-ll_ucoco_384_bs5.torchscript.pt"),
    ("controlnet_aux", "depth-anything/Depth-Anything-V2-Small/depth_anything_v2_vits.pth"),
    ("geometry_estimation", "moge_2_vitl_normal_fp16.safetensors"),
}


def test_snapshot_is_small_and_covers_every_template_class():
    assert workflow.SCHEMAS_PATH.stat().st_size < 1_000_000
    used = {n["class_type"] for m in MODES for n in workflow.load_template(m).values()}
    assert used <= set(SCHEMAS)


@pytest.mark.parametrize("mode", MODES)
def test_template_validates_against_snapshot(mode):
    assert workflow.validate(workflow.load_template(mode), SCHEMAS) == []


@pytest.mark.parametrize("mode", MODES)
def test_template_has_no_editor_only_or_api_nodes(mode):
    classes = {n["class_type"] for n in workflow.load_template(mode).values()}
    assert not classes & EDITOR_ONLY
    assert "GemmaAPITextEncode" not in classes
    assert not any(SCHEMAS[c].get("api_node") for c in classes)


@pytest.mark.parametrize("mode", MODES)
def test_template_titles_are_unique_and_present(mode):
    titles = [n["_meta"]["title"] for n in workflow.load_template(mode).values()]
    assert all(titles) and len(titles) == len(set(titles))


@pytest.mark.parametrize("mode", MODES)
def test_template_references_only_published_model_files(mode):
    refs = workflow.model_files(workflow.load_template(mode))
    assert {(r.folder, r.filename) for r in refs} <= PUBLISHED


def test_load_template_returns_independent_copies():
    a = workflow.load_template("t2v")
    workflow.set_input(a, "Positive prompt", "text", "changed")
    b = workflow.load_template("t2v")
    assert workflow.find_node(b, "Positive prompt")[1]["inputs"]["text"] == ""


def test_load_template_unknown_name_names_the_file():
    with pytest.raises(FileNotFoundError, match="nope.json"):
        workflow.load_template("nope")


def test_find_node_missing_title_names_it():
    with pytest.raises(KeyError, match="Nonexistent"):
        workflow.find_node(workflow.load_template("t2v"), "Nonexistent")


def test_find_node_duplicate_title_is_refused():
    prompt = workflow.load_template("t2v")
    nid, node = workflow.find_node(prompt, "Sampler 1")
    prompt["999"] = json.loads(json.dumps(node))
    with pytest.raises(KeyError, match="unique"):
        workflow.find_node(prompt, "Sampler 1")


def test_model_files_lists_each_file_once_with_folder_and_title():
    refs = workflow.model_files(workflow.load_template("t2v"))
    assert refs[0] == workflow.ModelRef("checkpoints", "ltx-2.3-22b-dev.safetensors", "Checkpoint")
    assert len({(r.folder, r.filename) for r in refs}) == len(refs)
    assert {r.folder for r in refs} == {
        "checkpoints",
        "loras",
        "text_encoders",
        "latent_upscale_models",
    }


def test_model_files_of_style_include_annotator_weights():
    refs = workflow.model_files(workflow.load_template("style"))
    assert ("controlnet_aux", "yzd-v/DWPose/yolox_l.onnx") in {(r.folder, r.filename) for r in refs}


def test_prune_drops_nodes_no_output_needs():
    prompt = workflow.load_template("t2v")
    workflow.set_input(prompt, "Decode video", "samples", workflow.link(prompt, "Separate AV 1", 0))
    workflow.set_input(prompt, "Decode audio", "samples", workflow.link(prompt, "Separate AV 1", 1))
    dropped = workflow.prune(prompt)
    assert "Upscale model" in dropped and "Sample 2" in dropped
    assert workflow.validate(prompt, SCHEMAS) == []


# --------------------------------------------------------------- the validator catches mistakes


def _broken(title, name, value, mode="t2v"):
    prompt = workflow.load_template(mode)
    workflow.set_input(prompt, title, name, value)
    return workflow.validate(prompt, SCHEMAS)


@pytest.mark.parametrize(
    ("title", "name", "value", "expect"),
    [
        ("Decode video", "overlap", 5000, "above the maximum 4096"),
        ("Video latent", "width", 0, "below the minimum 64"),
        ("Video latent", "width", "wide", "expects an integer"),
        ("Video latent", "length", 12.5, "expects an integer"),
        ("Video latent", "width", True, "expects an integer"),
        ("Conditioning", "frame_rate", float("nan"), "finite"),
        ("Sampler 1", "sampler_name", "warp_drive", "not one of"),
        ("Decode video", "temporal_size", "long", "expects an integer"),
        ("Positive prompt", "text", 42, "expects text"),
        ("Guider 1", "model", ["999", 0], "does not exist"),
        ("Guider 1", "model", ["1", 7], "missing output"),
        ("Guider 1", "positive", ["1", 0], "expects CONDITIONING"),
        ("Guider 1", "model", "not a link", "must be linked"),
    ],
)
def test_validate_reports_bad_input_with_title_and_name(title, name, value, expect):
    problems = _broken(title, name, value)
    assert any(f"'{title}'" in p and f"'{name}'" in p and expect in p for p in problems), problems


def test_validate_reports_a_non_boolean_for_a_boolean_input():
    problems = _broken("Image guide 1", "bypass", "yes", mode="i2v")
    assert any("'bypass'" in p and "true/false" in p for p in problems), problems


def test_validate_reports_missing_required_input():
    prompt = workflow.load_template("t2v")
    del workflow.find_node(prompt, "Video latent")[1]["inputs"]["height"]
    assert any(
        "'height': required input is missing" in p for p in workflow.validate(prompt, SCHEMAS)
    )


def test_validate_reports_unknown_input_name():
    problems = _broken("Noise 1", "seed", 3)
    assert any("'seed': no such input on RandomNoise" in p for p in problems)


def test_validate_reports_unknown_class():
    prompt = workflow.load_template("t2v")
    workflow.find_node(prompt, "Sampler 1")[1]["class_type"] = "GemmaAPITextEncodeX"
    assert any("unknown node class" in p for p in workflow.validate(prompt, SCHEMAS))


def test_validate_checks_dynamic_combo_sub_inputs():
    problems = _broken("Resize image", "resize_type.longer_size", -5, mode="i2v")
    assert any("resize_type.longer_size" in p and "minimum" in p for p in problems)


def test_validate_reports_missing_dynamic_sub_input():
    prompt = workflow.load_template("i2v")
    workflow.set_input(prompt, "Resize image", "resize_type", "scale dimensions")
    problems = workflow.validate(prompt, SCHEMAS)
    assert any("'resize_type.width': required input is missing" in p for p in problems)


def test_validate_accepts_any_file_name_for_model_combos():
    assert _broken("Checkpoint", "ckpt_name", "some-other.safetensors") == []


def test_validate_rejects_empty_prompt_object():
    assert workflow.validate({}, SCHEMAS)


def test_validate_requires_an_output_node():
    prompt = workflow.load_template("t2v")
    del prompt[workflow.find_node(prompt, "Save video")[0]]
    assert any("no output node" in p for p in workflow.validate(prompt, SCHEMAS))
