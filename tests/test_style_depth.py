"""The style mode's depth model is a server setting (recipes.STYLE_DEPTH, LTX_AIO_STYLE_DEPTH):
Depth Anything V2 (comfyui_controlnet_aux) or Comfy's IC-LoRA template's MoGe-2 (ComfyUI core).
The chosen one guides, the other is pruned, History records which, the weights listed follow it,
and an unknown value is refused naming the variable. L1 and L2 (the snapshot; ComfyUI's own
validate_prompt where the checkout exists); test_exec_style_depth.py runs the MoGe graph."""

from __future__ import annotations

import uuid

import pytest

import comfy_engine
import modes
import patches
import pins
import prepare
import recipes
import workflow
from errors import AppError
from testkit.mediagen import make_mp4

SCHEMAS = workflow.load_schemas()
DEPTH_MODELS = list(recipes.STYLE_DEPTH.choices)
MOGE_FILE = ("geometry_estimation", "moge_2_vitl_normal_fp16.safetensors")
DEPTH_ANYTHING_FILE = (
    "controlnet_aux",
    "depth-anything/Depth-Anything-V2-Small/depth_anything_v2_vits.pth",
)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_mp4(tmp_path_factory.mktemp("depth-media") / "clip.mp4", seconds=1.0,
                    width=160, height=96, fps=24)  # fmt: skip


@pytest.fixture
def depth_model(monkeypatch):
    """Set LTX_AIO_STYLE_DEPTH for one test (None: unset)."""

    def choose(value: str | None) -> None:
        if value is None:
            monkeypatch.delenv(recipes.STYLE_DEPTH.env, raising=False)
        else:
            monkeypatch.setenv(recipes.STYLE_DEPTH.env, value)

    return choose


def prepared_job(clip, input_dir, control="depth", preset="fast", job="depth"):
    params = {"prompt": "clay", "video": str(clip), "control": control, "preset": preset}
    return prepare.job("style", params, input_dir=input_dir, job_id=job)


def depth_titles() -> set[str]:
    """Every node of either depth branch (the loader and inference of MoGe too)."""
    template = workflow.load_template("style")
    titles = {n["_meta"]["title"] for n in template.values()}
    return {t for t in titles if t.startswith("Depth ")}


def test_the_default_is_depth_anything_v2_until_a_gpu_ab_says_otherwise(
    clip, tmp_path, depth_model
):
    depth_model(None)
    assert recipes.STYLE_DEPTH.default == "depth_anything_v2"
    prepared = prepared_job(clip, tmp_path)
    guide = workflow.find_node(prepared.prompt, "Control guide")[1]["inputs"]["image"]
    assert guide == workflow.link(prepared.prompt, "Depth control")
    assert prepared.spec.depth_model == "depth_anything_v2"


@pytest.mark.parametrize("choice", DEPTH_MODELS)
@pytest.mark.parametrize("preset", modes.PRESETS)
def test_the_chosen_depth_model_guides_and_the_other_is_pruned(
    choice, preset, clip, tmp_path, depth_model
):
    depth_model(choice)
    prepared = prepared_job(clip, tmp_path, preset=preset)
    chosen = patches.DEPTH_NODES[choice]
    guide = workflow.find_node(prepared.prompt, "Control guide")[1]["inputs"]["image"]
    assert guide == workflow.link(prepared.prompt, chosen)
    kept = {t for t in depth_titles() if workflow.has_node(prepared.prompt, t)}
    others = set(patches.DEPTH_NODES.values()) - {chosen}
    assert chosen in kept and not kept & others
    assert not any(workflow.has_node(prepared.prompt, t) for t in ("Pose control", "Canny control"))
    assert prepared.spec.depth_model == choice  # History shows it with the job
    assert workflow.validate(prepared.prompt, SCHEMAS) == []


def test_moge_runs_at_comfys_ic_lora_template_settings_on_the_restyled_frames(
    clip, tmp_path, depth_model
):
    """video_ltx2_3_ic_lora's "Video Depth Estimation (MoGe)": MoGeInference [9, 0, 4, True,
    True], and the grey `depth` render (not `depth_colored`) is what LTXVAddGuide gets."""
    depth_model("moge")
    prompt = prepared_job(clip, tmp_path).prompt
    loader = workflow.find_node(prompt, "Depth model (MoGe)")[1]
    inference = workflow.find_node(prompt, "Depth geometry (MoGe)")[1]["inputs"]
    render = workflow.find_node(prompt, "Depth control (MoGe)")[1]["inputs"]
    assert loader["class_type"] == "LoadMoGeModel"
    assert loader["inputs"]["model_name"] == MOGE_FILE[1]
    settings = ("resolution_level", "fov_x_degrees", "batch_size", "force_projection",
                "apply_mask")  # fmt: skip
    assert [inference[k] for k in settings] == [9, 0.0, 4, True, True]
    # The frames the guide sees: cropped and resized to the output, as the other controls get.
    assert inference["image"] == workflow.link(prompt, "Resize video")
    assert render["output"] == "depth"
    assert render["moge_geometry"] == workflow.link(prompt, "Depth geometry (MoGe)")


@pytest.mark.parametrize("control", ["pose", "canny"])
@pytest.mark.parametrize("choice", DEPTH_MODELS)
def test_other_controls_load_no_depth_model_and_record_none(
    control, choice, clip, tmp_path, depth_model
):
    depth_model(choice)
    prepared = prepared_job(clip, tmp_path, control=control)
    assert not any(workflow.has_node(prepared.prompt, t) for t in depth_titles())
    assert "depth_model" not in prepared.spec.record()


def test_an_unknown_depth_model_is_refused_naming_the_variable_and_the_choices(
    clip, tmp_path, depth_model
):
    depth_model("zoedepth")
    with pytest.raises(AppError) as caught:
        prepared_job(clip, tmp_path)
    assert caught.value.where == "LTX_AIO_STYLE_DEPTH"
    assert "LTX_AIO_STYLE_DEPTH='zoedepth'" in caught.value.message
    assert all(choice in caught.value.hint for choice in DEPTH_MODELS)
    # A job that loads no depth model does not care.
    assert prepared_job(clip, tmp_path, control="canny").spec.inputs["control"] == "canny"


@pytest.mark.parametrize("preset", modes.PRESETS)
def test_required_models_follow_the_setting(preset, depth_model):
    def files(control="depth"):
        return {(r.folder, r.filename) for r in modes.required_models("style", preset, control)}

    depth_model(None)
    assert DEPTH_ANYTHING_FILE in files() and MOGE_FILE not in files()
    depth_model("moge")
    assert MOGE_FILE in files()
    assert not {folder for folder, _ in files()} & {"controlnet_aux"}  # no aux pack weights
    assert MOGE_FILE not in files("pose") | files("canny")


# ------------------------------------------------------------- ComfyUI's own validate_prompt


@pytest.mark.comfy
@pytest.mark.parametrize("choice", DEPTH_MODELS)
def test_each_depth_model_passes_comfyui_validate_prompt(choice, clip, real_engine, depth_model):
    """On the engine started on the tiny set, which holds both depth models' files."""
    depth_model(choice)
    job = f"depth-{uuid.uuid4().hex[:8]}"
    try:
        for preset in modes.PRESETS:
            prepared = prepared_job(clip, pins.input_dir(), preset=preset, job=job)
            assert comfy_engine.validate(prepared.prompt) == []
    finally:
        for path in pins.input_dir().glob(f"{job}_*"):
            path.unlink()
