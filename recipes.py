"""Which sampler each pass runs, per mode, model family and preset, and the server settings for
the choices where the official sources disagree.

ComfyUI skips the unconditional (negative-prompt) pass at CFG 1 unless the sampler asks for it:
the cfg-pp samplers set `disable_cfg1_optimization` (ComfyUI v0.33.0, comfy/k_diffusion/sampling.py,
checked in comfy/samplers.py `sampling_function`), so at CFG 1 they run the transformer on the
negative prompt too: twice the work per step. (LTX-2.5's LTXVDualCFGGuider also evaluates it
whenever its video and audio scales differ; the graphs keep both at 1.) The sources:

- Comfy's LTX-2.3 templates (video_ltx2_3_t2v / i2v / ia2v / flf2v) and Lightricks' own LipDub
  graph: `euler` in both passes (flf2v: SamplerEulerAncestral with eta 0, which is Euler);
  Lightricks' `ltx-pipelines`: deterministic Euler, no unconditional pass.
- Lightricks' other LTX-2.3 example graphs (ComfyUI-LTXVideo example_workflows/2.3):
  `euler_ancestral_cfg_pp`, then `euler_cfg_pp` for the refine: the negative prompt bends each step.
- Comfy's IC-LoRA template: `euler_ancestral`; Lightricks' union-control graph: the cfg-pp one.
- LTX-2.5: Comfy's video_ltx2_5_t2v / i2v templates `euler_ancestral` in both passes, flf2v
  Euler (eta 0); `ltx-pipelines` keeps the refine deterministic, "too short to remove freshly
  injected noise".

So fast and balanced keep ComfyUI's CFG-1 shortcut everywhere; quality on LTX-2.3 runs Lightricks'
cfg-pp pair (LTX_AIO_LTX23_QUALITY_SAMPLERS=cfg_pp, the default) or the same samplers as balanced
(=euler); LTX-2.5's refine is Euler (LTX_AIO_LTX25_REFINE_SAMPLER=euler, the default) or Comfy's
template's `euler_ancestral`. `tools/gpu_timing.py ab` runs both sides of each choice on a GPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from errors import AppError

LTX25, LTX23 = "ltx-2.5", "ltx-2.3"
# The samplers whose ComfyUI implementation evaluates the negative prompt at every step.
UNCOND_EVERY_STEP = frozenset({"euler_cfg_pp", "euler_ancestral_cfg_pp"})


@dataclass(frozen=True)
class Setting:
    """A server setting (an environment variable) choosing between the sources' recipes."""

    env: str
    default: str
    choices: dict  # value -> what it means, with its source

    def value(self) -> str:
        raw = os.environ.get(self.env, "").strip().lower()
        if not raw:
            return self.default
        if raw not in self.choices:
            raise AppError(
                "unavailable",
                f"{self.env}={raw!r} is not a known choice",
                where=self.env,
                hint="Set it to one of: "
                + "; ".join(f"{k} ({v})" for k, v in self.choices.items())
                + f". Unset, it is {self.default}.",
            )
        return raw


LTX23_QUALITY = Setting(
    "LTX_AIO_LTX23_QUALITY_SAMPLERS",
    "cfg_pp",
    {
        "cfg_pp": "Lightricks' example graphs: euler_ancestral_cfg_pp, then euler_cfg_pp; the "
        "negative prompt is evaluated at every step, about twice the transformer work",
        "euler": "as balanced and Comfy's template: euler in both passes, no negative-prompt pass",
    },
)
LTX25_REFINE = Setting(
    "LTX_AIO_LTX25_REFINE_SAMPLER",
    "euler",
    {
        "euler": "ltx-pipelines: a deterministic refine",
        "euler_ancestral": "Comfy's video_ltx2_5 templates: an ancestral refine",
    },
)
# The style mode's depth control, where the official graphs disagree: Lightricks' union-control
# graph runs Video Depth Anything (a pack not pinned here); Comfy's IC-LoRA template
# (video_ltx2_3_ic_lora) runs ComfyUI core's MoGe-2 and guides with its grey `depth` render. The
# default stays Depth Anything V2 until a GPU A/B of the two says otherwise.
STYLE_DEPTH = Setting(
    "LTX_AIO_STYLE_DEPTH",
    "depth_anything_v2",
    {
        "depth_anything_v2": "comfyui_controlnet_aux's Depth Anything V2 (ViT-S), one frame at a "
        "time: it may flicker",
        "moge": "Comfy's IC-LoRA template: ComfyUI core's MoGe-2 (ViT-L), its grey depth render",
    },
)
SETTINGS = (LTX23_QUALITY, LTX25_REFINE, STYLE_DEPTH)


def samplers(mode: str, family: str, preset: str, *, settings: bool = True) -> tuple[str, str]:
    """(first pass, refine pass) KSamplerSelect names; a one-pass graph uses the first.
    `settings=False`: the defaults, whatever this server sets (the committed graphs)."""

    def chosen(setting: Setting) -> str:
        return setting.value() if settings else setting.default

    if family == LTX25:
        first = "euler" if mode == "keyframe" else "euler_ancestral"  # flf2v: Euler (eta 0)
        return first, chosen(LTX25_REFINE)
    if preset == "quality" and chosen(LTX23_QUALITY) == "cfg_pp":
        return "euler_ancestral_cfg_pp", "euler_cfg_pp"
    # Comfy's IC-LoRA template keeps the ancestral first pass of Lightricks' union-control graph.
    return ("euler_ancestral" if mode == "style" else "euler"), "euler"
