"""Facts about every weight file the graphs may load: Hugging Face repo, path, size, licence.

This is looked-up data, not a list of what to download: WHICH files a mode needs comes from walking
its graph (`workflow.model_files`). Each entry cites where its repo, path and size were confirmed;
`size_exact=False` marks a published, rounded figure, and `gated=None` a repo whose access rules
were not confirmed (the download then finds out and says what to do).
"""

from __future__ import annotations

from dataclasses import dataclass

LTX = "LTX-2 Community License (huggingface.co/Lightricks/LTX-2.3/blob/main/LICENSE)"
GEMMA = "Gemma Terms of Use (ai.google.dev/gemma/terms)"
APACHE = "Apache-2.0"


@dataclass(frozen=True)
class ModelFile:
    name: str  # the basename graphs use for it
    folder: str  # ComfyUI folder type of the loader that reads it
    repo: str
    path: str  # path inside the repo
    size: int  # bytes; a published, rounded figure when not size_exact
    source: str  # where repo, path and size were confirmed
    size_exact: bool = True
    sha256: str | None = None
    gated: bool | None = False
    licence: str = LTX
    note: str = ""
    revision: str = "main"

    @property
    def page(self) -> str:
        return f"https://huggingface.co/{self.repo}"


PACK = "ComfyUI-LTXVideo@aceeae9 README 'Required Models' (repo, file, folder)"
UPLOAD = "Hub upload commit Lightricks/LTX-2.3@76730e6 LFS pointer (size, sha256)"
CATALOG = "size/sha256 as recorded from the Hub by third-party model catalogs"
TEMPLATES_25 = (
    "Comfy's official video_ltx2_5_t2v/i2v/flf2v templates (comfyui-workflow-templates-json "
    "0.1.123): repo, path and folder from their model URLs"
)
LTX25_SIZES = "sizes as published with the LTX-2.5 release (rounded; the Hub is asked at download)"
AUX = "comfyui_controlnet_aux@e8b689a (repo, file)"
IC_LORA_TEMPLATE = (
    "Comfy's official video_ltx2_3_ic_lora template (comfyui-workflow-templates-json 0.1.123): "
    "repo, path and folder from its model URL"
)

_FILES = (
    ModelFile(
        "ltx-2.3-22b-dev.safetensors", "checkpoints", "Lightricks/LTX-2.3",
        "ltx-2.3-22b-dev.safetensors", 46_149_344_974, f"{PACK}; {CATALOG}",
        sha256="7ab7225325bc403448ea84b6db2269811a880e5118cd2ee2b6282a93d585016f",
    ),
    ModelFile(
        "ltx-2.3-22b-distilled-1.1.safetensors", "checkpoints", "Lightricks/LTX-2.3",
        "ltx-2.3-22b-distilled-1.1.safetensors", 46_149_345_334, f"{PACK}; {UPLOAD}",
        sha256="b33b7fe4bbfe084f484be4aaf90b0f1d95dca20d403ac4c0e037eb8c4f0af7cc",
    ),
    ModelFile(
        "ltx-2.3-22b-distilled-lora-384-1.1.safetensors", "loras", "Lightricks/LTX-2.3",
        "ltx-2.3-22b-distilled-lora-384-1.1.safetensors", 7_605_507_256, f"{PACK}; {UPLOAD}",
        sha256="f5d4953f3386197a4b4f5abdb17616ff256171e8075c111d6e7d2dfa6e823b3a",
    ),
    ModelFile(
        "ltx-2.3-spatial-upscaler-x2-1.1.safetensors", "latent_upscale_models",
        "Lightricks/LTX-2.3", "ltx-2.3-spatial-upscaler-x2-1.1.safetensors", 995_743_560,
        f"{PACK}; {CATALOG} (at revision 76730e6)",
        sha256="5f416311fa8172b65af67530758964708d29a317b830d689a51143b7f91913ed",
    ),
    ModelFile(
        "gemma_3_12B_it.safetensors", "text_encoders", "Comfy-Org/ltx-2",
        "split_files/text_encoders/gemma_3_12B_it.safetensors", 24_379_468_890,
        f"Comfy-Org/ltx-2 file listing; {CATALOG}",
        sha256="56eaa964a0d9325d2dc9ecaf7759bfaf0fac78ae36c789bed6e03e275a3729ec", licence=GEMMA,
    ),
    # Lightricks' example workflows call the same encoder comfy_gemma_3_12B_it; no repo publishes
    # that name, so it is the Comfy-Org file under a local name.
    ModelFile(
        "comfy_gemma_3_12B_it.safetensors", "text_encoders", "Comfy-Org/ltx-2",
        "split_files/text_encoders/gemma_3_12B_it.safetensors", 24_379_468_890,
        f"name: Lightricks example workflows; file: Comfy-Org/ltx-2 listing; {CATALOG}",
        sha256="56eaa964a0d9325d2dc9ecaf7759bfaf0fac78ae36c789bed6e03e275a3729ec", licence=GEMMA,
    ),
    ModelFile(
        "gemma_3_12B_it_fp4_mixed.safetensors", "text_encoders", "Comfy-Org/ltx-2",
        "split_files/text_encoders/gemma_3_12B_it_fp4_mixed.safetensors", 9_447_702_218,
        f"Hub file page Comfy-Org/ltx-2 (9.45 GB, sha256); bytes: {CATALOG}",
        sha256="aaca463d11e6d8d2a4bdb0d6299214c15ef78a3f73e0ef8113d5a9d0219b3f6d", licence=GEMMA,
    ),
    ModelFile(
        "gemma_3_12B_it_fp8_scaled.safetensors", "text_encoders", "Comfy-Org/ltx-2",
        "split_files/text_encoders/gemma_3_12B_it_fp8_scaled.safetensors", 13_200_000_000,
        "Comfy-Org/ltx-2 links in public setup scripts and listings (~13.2 GB)",
        size_exact=False, licence=GEMMA,
    ),
    ModelFile(
        "ltx-2.3-22b-dev-fp8.safetensors", "checkpoints", "Lightricks/LTX-2.3-fp8",
        "ltx-2.3-22b-dev-fp8.safetensors", 29_145_431_166,
        f"repo: Lightricks LTX-2.3 collection; {CATALOG}",
        sha256="28606c5b5a06ce56f896d4dfcb20f212739e07a68fbe48e53638188449d26450",
    ),
    ModelFile(
        "ltx-2.3-22b-distilled-fp8.safetensors", "checkpoints", "Lightricks/LTX-2.3-fp8",
        "ltx-2.3-22b-distilled-fp8.safetensors", 29_531_884_062,
        f"repo: Lightricks LTX-2.3 collection; {CATALOG}",
        sha256="d9646b6f2d5c42d337b23671634c43bfeece6989644f51b4a3aa088465ccd3b2",
        note="distilled 1.0 weights: no full fp8 checkpoint of distilled 1.1 was found",
    ),
    ModelFile(
        "ltx-2.3-22b-dev-Q4_K_M.gguf", "unet", "unsloth/LTX-2.3-GGUF",
        "ltx-2.3-22b-dev-Q4_K_M.gguf", 15_000_000_000,
        "repo + path from several public download scripts; size not confirmed (~15 GB)",
        size_exact=False, note="transformer only; the VAEs and text projection stay fp8",
    ),
    ModelFile(
        "ltx-2.3-22b-ic-lora-union-control-ref0.5.safetensors", "loras",
        "Lightricks/LTX-2.3-22b-IC-LoRA-Union-Control",
        "ltx-2.3-22b-ic-lora-union-control-ref0.5.safetensors", 654_465_352,
        f"{PACK}; size/sha256 from a public mirror's LFS pointer",
        sha256="149e34b148e15f6fea8b0a86e949264f6ed47183a073b30683b5e851a6b9d3f1", gated=None,
        note="sibling Lightricks IC-LoRA repos ask to 'Agree and Access'",
    ),
    # LTX-2.5 (2026-08-11). The repo is gated: accept its licence on the Hub and set HF_TOKEN.
    ModelFile(
        "ltx-2.5-22b-distilled-transformer-comfy-int8-convrot.safetensors", "diffusion_models",
        "Lightricks/LTX-2.5",
        "diffusion_models/ltx-2.5-22b-distilled-transformer-comfy-int8-convrot.safetensors",
        21_500_000_000, f"{TEMPLATES_25}; {LTX25_SIZES} (21.5 GB)", size_exact=False,
        gated=True, note="int8 'convrot' weights: need comfy-kitchen 0.2.26 or newer",
    ),
    ModelFile(
        "gemma4-12b-with-proj-ltx-2.5-comfy-int8-convrot.safetensors", "text_encoders",
        "Lightricks/LTX-2.5",
        "text_encoders/gemma4-12b-with-proj-ltx-2.5-comfy-int8-convrot.safetensors",
        15_400_000_000, f"{TEMPLATES_25}; {LTX25_SIZES} (15.4 GB)", size_exact=False,
        gated=True, licence=f"{LTX}; {GEMMA}",
    ),
    ModelFile(
        "ltx-2.5-video-vae-bf16.safetensors", "vae", "Lightricks/LTX-2.5",
        "vae/ltx-2.5-video-vae-bf16.safetensors", 1_470_000_000,
        f"{TEMPLATES_25}; {LTX25_SIZES} (1.47 GB)", size_exact=False, gated=True,
    ),
    ModelFile(
        "ltx-2.5-audio-vae-bf16.safetensors", "vae", "Lightricks/LTX-2.5",
        "vae/ltx-2.5-audio-vae-bf16.safetensors", 400_000_000,
        f"{TEMPLATES_25}; size not published (about 0.4 GB: the Hub is asked at download)",
        size_exact=False, gated=True,
    ),
    ModelFile(
        "ltx-2.5-latent-spatial-upscaler-x2-bf16-1.0.safetensors", "latent_upscale_models",
        "Lightricks/LTX-2.5",
        "latent_upscale_models/ltx-2.5-latent-spatial-upscaler-x2-bf16-1.0.safetensors",
        1_000_000_000,
        f"{TEMPLATES_25}; size not published (about 1 GB, as LTX-2.3's bf16 upscaler)",
        size_exact=False, gated=True,
    ),
    ModelFile(
        "ltx-2.5-duration-head-bf16.safetensors", "model_patches", "Lightricks/LTX-2.5",
        "model_patches/ltx-2.5-duration-head-bf16.safetensors", 3_806_722,
        "the LTX-2.5 release's file list (optional duration head, for automatic length); size "
        "from ComfyUI v0.33.0's DurationHead at its fixed dimensions, in bf16",
        size_exact=False, gated=True, note="only for Automatic length",
    ),
    ModelFile(
        "yolox_l.onnx", "controlnet_aux", "yzd-v/DWPose", "yolox_l.onnx", 216_746_733,
        f"{AUX}; size/sha256 from a mirror whose other file matches yzd-v/DWPose@f7c16a3",
        sha256="7860ae79de6c89a3c1eb72ae9a2756c0ccfbe04b7791bb5880afabd97855a411",
        licence=APACHE,
    ),
    ModelFile(
        "dw-ll_ucoco_384_bs5.torchscript.pt", "controlnet_aux",
        "hr16/DWPose-TorchScript-BatchSize5", "dw-ll_ucoco_384_bs5.torchscript.pt", 135_000_000,
        f"{AUX}; file history page of the repo; size not confirmed (~135 MB)",
        size_exact=False, licence=APACHE,
    ),
    ModelFile(
        "depth_anything_v2_vits.pth", "controlnet_aux", "depth-anything/Depth-Anything-V2-Small",
        "depth_anything_v2_vits.pth", 99_218_434,
        f"{AUX}; Hub upload commit 65ae6e3 LFS pointer",
        sha256="715fade13be8f229f8a70cc02066f656f2423a59effd0579197bbf57860e1378",
        licence=APACHE,
    ),
    # The style mode's depth model with LTX_AIO_STYLE_DEPTH=moge (ComfyUI core's MoGe nodes).
    ModelFile(
        "moge_2_vitl_normal_fp16.safetensors", "geometry_estimation", "Comfy-Org/MoGe",
        "geometry_estimation/moge_2_vitl_normal_fp16.safetensors", 661_861_171,
        f"{IC_LORA_TEMPLATE}; size: its note's 631.2 MB (MiB, as its other figures: the "
        "IC-LoRA's 624.1 is 654,465,352 bytes), which MoGe-2 ViT-L with normals in fp16 matches "
        "(661,803,100 bytes of tensors at microsoft/MoGe's v2 config)",
        size_exact=False, gated=None,
        licence="MIT (microsoft/MoGe); not confirmed on the Comfy-Org/MoGe page",
        note="only for the style mode's depth control with LTX_AIO_STYLE_DEPTH=moge",
    ),
)  # fmt: skip

FACTS: dict[str, ModelFile] = {f.name: f for f in _FILES}

# fp8 fits ZeroGPU's 48 GB slice. gguf swaps only the transformer (for small local GPUs) and keeps
# the fp8 checkpoint for the VAEs and text projection, so just one loader changes class.
VARIANTS: dict[str, dict[str, str]] = {
    "full": {},
    "fp8": {
        "ltx-2.3-22b-dev.safetensors": "ltx-2.3-22b-dev-fp8.safetensors",
        "ltx-2.3-22b-distilled-1.1.safetensors": "ltx-2.3-22b-distilled-fp8.safetensors",
        "comfy_gemma_3_12B_it.safetensors": "gemma_3_12B_it_fp8_scaled.safetensors",
        "gemma_3_12B_it.safetensors": "gemma_3_12B_it_fp8_scaled.safetensors",
    },
    "gguf": {
        "ltx-2.3-22b-dev.safetensors": "ltx-2.3-22b-dev-fp8.safetensors",
        "comfy_gemma_3_12B_it.safetensors": "gemma_3_12B_it_fp4_mixed.safetensors",
        "gemma_3_12B_it.safetensors": "gemma_3_12B_it_fp4_mixed.safetensors",
    },
}
GGUF_TRANSFORMERS = {"ltx-2.3-22b-dev-fp8.safetensors": "ltx-2.3-22b-dev-Q4_K_M.gguf"}
