"""Which sampler each pass runs (recipes.py): fast and balanced keep ComfyUI's CFG-1 shortcut on
every mode and family; quality on LTX-2.3 runs Lightricks' cfg-pp pair unless the server says
otherwise; LTX-2.5's refine is deterministic unless the server asks for Comfy's template's; a
setting with an unknown value is refused with the variable named. test_exec_graphs.py counts what
the transformer really evaluates per step."""

from __future__ import annotations

import pytest

import modes
import prepare
import recipes
import workflow
from errors import AppError
from testkit.modes_helpers import cases, make_media

RUNS = [
    (mode, model, preset)
    for mode, spec in modes.MODES.items()
    for model in spec.models
    for preset in modes.PRESETS
]


@pytest.fixture(scope="module")
def params(tmp_path_factory) -> dict:
    """One representative job per mode (the first of modes_helpers' cases)."""
    media = make_media(tmp_path_factory.mktemp("recipes-media"))
    first: dict = {}
    for mode, _name, values in cases(media):
        first.setdefault(mode, values)
    return first


def samplers_of(prompt: dict) -> list[str]:
    """The KSamplerSelect names by pass: "Sampler 1", then "Sampler 2" where the run has two."""
    titled = {n["_meta"]["title"]: n for n in prompt.values()}
    return [
        titled[f"Sampler {stage}"]["inputs"]["sampler_name"]
        for stage in (1, 2)
        if f"Sampler {stage}" in titled
    ]


def prepared_job(params: dict, mode: str, model: str, preset: str, tmp_path) -> prepare.Prepared:
    values = {**params[mode], "model": model, "preset": preset}
    return prepare.job(mode, values, input_dir=tmp_path, job_id="recipes")


@pytest.mark.parametrize(("mode", "model", "preset"), RUNS)
def test_each_pass_runs_the_recipes_sampler_and_history_records_it(
    mode, model, preset, params, tmp_path, monkeypatch
):
    for setting in recipes.SETTINGS:
        monkeypatch.delenv(setting.env, raising=False)
    prepared = prepared_job(params, mode, model, preset, tmp_path)
    ran = samplers_of(prepared.prompt)
    assert len(ran) == prepared.spec.stages
    assert ran == list(prepared.spec.samplers[: len(ran)])
    assert ran == list(recipes.samplers(mode, model, preset))[: len(ran)]
    pays_negative = set(ran) & recipes.UNCOND_EVERY_STEP
    if preset in ("fast", "balanced") or model == modes.LTX25:
        assert not pays_negative, f"{mode} {model} {preset} evaluates the negative prompt: {ran}"
    else:  # LTX-2.3 quality: Lightricks' example graphs' pair, by default
        assert ran == ["euler_ancestral_cfg_pp", "euler_cfg_pp"][: len(ran)]


@pytest.mark.parametrize("mode", [m for m in modes.MODES if modes.LTX23 in modes.MODES[m].models])
def test_quality_on_ltx23_can_drop_the_negative_prompt_pass(mode, params, tmp_path, monkeypatch):
    monkeypatch.setenv(recipes.LTX23_QUALITY.env, "euler")
    ran = samplers_of(prepared_job(params, mode, modes.LTX23, "quality", tmp_path).prompt)
    assert ran and not set(ran) & recipes.UNCOND_EVERY_STEP


def test_ltx25_refine_is_deterministic_unless_the_template_is_asked_for(
    params, tmp_path, monkeypatch
):
    monkeypatch.delenv(recipes.LTX25_REFINE.env, raising=False)
    assert samplers_of(prepared_job(params, "t2v", modes.LTX25, "quality", tmp_path).prompt) == [
        "euler_ancestral", "euler"
    ]  # fmt: skip
    monkeypatch.setenv(recipes.LTX25_REFINE.env, "euler_ancestral")
    assert samplers_of(prepared_job(params, "t2v", modes.LTX25, "quality", tmp_path).prompt) == [
        "euler_ancestral", "euler_ancestral"
    ]  # fmt: skip
    # The first+last frame template's pass is Euler (SamplerEulerAncestral with eta 0).
    assert samplers_of(prepared_job(params, "keyframe", modes.LTX25, "quality", tmp_path).prompt)[
        0
    ] == ("euler")


def test_an_unknown_setting_is_refused_naming_the_variable_and_the_choices(
    params, tmp_path, monkeypatch
):
    monkeypatch.setenv(recipes.LTX23_QUALITY.env, "cfg++")
    with pytest.raises(AppError) as caught:
        prepared_job(params, "t2v", modes.LTX23, "quality", tmp_path)
    assert caught.value.where == recipes.LTX23_QUALITY.env
    assert "'cfg++'" in caught.value.message
    assert "cfg_pp" in caught.value.hint and "euler" in caught.value.hint


def test_every_sampler_a_recipe_names_is_one_comfyui_offers():
    """The schema snapshot (workflows/schemas, ComfyUI v0.33.0) lists KSamplerSelect's names."""
    info = workflow.load_schemas()
    offered = info["KSamplerSelect"]["input"]["required"]["sampler_name"][1]["options"]
    named = {
        name for _mode, model, preset in RUNS for name in recipes.samplers(_mode, model, preset)
    }
    named |= recipes.UNCOND_EVERY_STEP | set(recipes.LTX25_REFINE.choices)
    assert named <= set(offered)


def test_keyframe_on_ltx25_reaches_1080p_through_the_upscaler(params, tmp_path):
    """Quality: a half-size guided pass, the x2 upscaler and a guided refine; balanced stays the
    template's one full-size pass."""
    quality = prepared_job(params, "keyframe", modes.LTX25, "quality", tmp_path)
    titles = {n["_meta"]["title"]: n for n in quality.prompt.values()}
    assert {"Upscale latent", "Sample 2", "Last frame guide 2"} <= set(titles)
    assert titles["Video latent"]["inputs"]["width"] * 2 == quality.spec.width
    assert quality.spec.width * quality.spec.height <= 1920 * 1088 * 1.05
    balanced = prepared_job(params, "keyframe", modes.LTX25, "balanced", tmp_path)
    titles = {n["_meta"]["title"]: n for n in balanced.prompt.values()}
    assert "Upscale latent" not in titles and "Sample 2" not in titles
    assert titles["Video latent"]["inputs"]["width"] == balanced.spec.width
    # LTX-2.3's balanced keeps its two passes.
    other = prepared_job(params, "keyframe", modes.LTX23, "balanced", tmp_path)
    assert other.spec.stages == 2


@pytest.mark.parametrize("model", modes.MODES["keyframe"].models)
def test_keyframe_guides_default_to_the_official_strength(model, params, tmp_path):
    prepared = prepared_job(params, "keyframe", model, "quality", tmp_path)
    strengths = {
        n["_meta"]["title"]: n["inputs"]["strength"]
        for n in prepared.prompt.values()
        if n["class_type"] == "LTXVAddGuide"
    }
    assert strengths and set(strengths.values()) == {0.7}
    field = modes.MODES["keyframe"].field("first_strength")
    assert (field.default, field.min, field.max) == (0.7, 0.1, 1.0)


def test_the_committed_graphs_hold_the_defaults_whatever_this_server_sets(monkeypatch):
    monkeypatch.setenv(recipes.LTX25_REFINE.env, "euler_ancestral")
    monkeypatch.setenv(recipes.LTX23_QUALITY.env, "euler")
    assert recipes.samplers("t2v", modes.LTX25, "balanced", settings=False) == (
        "euler_ancestral", "euler"
    )  # fmt: skip
    assert recipes.samplers("t2v", modes.LTX23, "quality", settings=False)[0] == (
        "euler_ancestral_cfg_pp"
    )
