"""Write workflows/<mode>.json (ComfyUI API format) for every mode.

The graphs follow Lightricks' official LTX-2.3 ComfyUI workflows (ComfyUI-LTXVideo
example_workflows/2.3): dev checkpoint + distilled LoRA at 0.5, the local Gemma text encoder
branch (the GemmaAPITextEncode cloud branch is dropped), half-resolution stage 1 with the 8-step
distilled ManualSigmas, x2 latent upsampler, 3-step stage-2 refine, tiled VAE decode. Editor-only
nodes (Note, Primitive*) are folded into plain values. Every node carries a stable title, because
modes.py patches nodes by title, never by id.

Only ComfyUI's core nodes (v0.33.0) and comfyui_controlnet_aux's preprocessors are used, as
Comfy's own LTX-2.3 templates do: the frozen audio latent is SolidMask(0) -> SetLatentNoiseMask
(the pack's LTXVSetAudioRefTokens output 2 did the same), first-frame conditioning is
LTXVImgToVideoInplace (the pack's ConditionOnly also wrote the frame into the latent), the IC-LoRA
is LoraLoaderModelOnly + GetICLoRAParameters + LTXVAddGuide, and the decode is VAEDecodeTiled
(patches.py sets its tiles from decode_plan.py, to fit the memory a job may use). Which sampler
each pass runs per preset is recipes.py's (the json holds the balanced preset's).

Run `python tools/build_workflows.py` after changing a graph, then `python -m pytest`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import patches  # noqa: E402  (the keyframe slots the patch fills)
import recipes  # noqa: E402  (which sampler each pass runs; patched per preset)

# Published file names (see README "Model files"): loaders reference them relative to their folder.
CHECKPOINT = "ltx-2.3-22b-dev.safetensors"
DISTILLED_LORA = "ltx-2.3-22b-distilled-lora-384-1.1.safetensors"
UPSCALER = "ltx-2.3-spatial-upscaler-x2-1.1.safetensors"
GEMMA = "gemma_3_12B_it.safetensors"
UNION_CONTROL_LORA = "ltx-2.3-22b-ic-lora-union-control-ref0.5.safetensors"
# The depth model of Comfy's IC-LoRA template (video_ltx2_3_ic_lora), Comfy-Org/MoGe.
MOGE = "moge_2_vitl_normal_fp16.safetensors"

# LTX-2.5, as Comfy's official video_ltx2_5_* templates load it (Lightricks/LTX-2.5, gated).
TRANSFORMER_25 = "ltx-2.5-22b-distilled-transformer-comfy-int8-convrot.safetensors"
GEMMA4_25 = "gemma4-12b-with-proj-ltx-2.5-comfy-int8-convrot.safetensors"
VIDEO_VAE_25 = "ltx-2.5-video-vae-bf16.safetensors"
AUDIO_VAE_25 = "ltx-2.5-audio-vae-bf16.safetensors"
UPSCALER_25 = "ltx-2.5-latent-spatial-upscaler-x2-bf16-1.0.safetensors"
DURATION_HEAD_25 = "ltx-2.5-duration-head-bf16.safetensors"

# The official graphs' schedules: 8 distilled steps for stage 1, a short refine for stage 2
# (LTX-2.5's templates use the same two).
SIGMAS_STAGE1 = "1.0, 0.99375, 0.9875, 0.98125, 0.975, 0.909375, 0.725, 0.421875, 0.0"
SIGMAS_STAGE2 = "0.85, 0.7250, 0.4219, 0.0"
NEGATIVE = "pc game, console game, video game, cartoon, childish, ugly"
PLACEHOLDER_IMAGE = "example.png"
PLACEHOLDER_AUDIO = "example.wav"
PLACEHOLDER_VIDEO = "example.mp4"
TILE_WHOLE = 4096  # VAEDecodeTiled's largest tile: the whole frame (patches.py sets all four)


class Graph:
    """A tiny API-format builder: add() returns the node id; out(title, slot) makes a link."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.nodes: dict[str, dict] = {}
        self.ids: dict[str, str] = {}

    def add(self, title: str, class_type: str, **inputs) -> str:
        if title in self.ids:
            raise ValueError(f"duplicate title {title!r}")
        node_id = str(len(self.nodes) + 1)
        self.ids[title] = node_id
        self.nodes[node_id] = {
            "class_type": class_type,
            "inputs": {k.replace("__", "."): v for k, v in inputs.items()},
            "_meta": {"title": title},
        }
        return node_id

    def out(self, title: str, slot: int = 0) -> list:
        return [self.ids[title], slot]


def video_vae(g: Graph) -> list:
    """The video VAE: the LTX-2.3 checkpoint's own, or LTX-2.5's separate file."""
    return g.out("Video VAE") if "Video VAE" in g.ids else g.out("Checkpoint", 2)


def prompts(g: Graph) -> None:
    g.add("Positive prompt", "CLIPTextEncode", text="", clip=g.out("Text encoder"))
    g.add("Negative prompt", "CLIPTextEncode", text=NEGATIVE, clip=g.out("Text encoder"))
    g.add(
        "Conditioning",
        "LTXVConditioning",
        positive=g.out("Positive prompt"),
        negative=g.out("Negative prompt"),
        frame_rate=24.0,
    )


def loaders_25(g: Graph) -> str:
    """LTX-2.5's files, as its templates load them: the distilled transformer alone (no LoRA),
    the two VAEs, Gemma 4 with its projection through CLIPLoader."""
    g.add("Transformer", "UNETLoader", unet_name=TRANSFORMER_25, weight_dtype="default")
    g.add("Video VAE", "VAELoader", vae_name=VIDEO_VAE_25)
    g.add("Audio VAE", "VAELoader", vae_name=AUDIO_VAE_25)
    g.add("Text encoder", "CLIPLoader", clip_name=GEMMA4_25, type="ltxv", device="default")
    prompts(g)
    # Automatic length (patches._auto_length links the latents' lengths to it; else pruned).
    g.add("Duration head", "ModelPatchLoader", name=DURATION_HEAD_25)
    g.add(
        "Duration",
        "LTXVDurationPredictor",
        model=g.out("Transformer"),
        positive=g.out("Positive prompt"),
        duration_head=g.out("Duration head"),
        frame_rate=24.0,
        min_seconds=1.0,
        max_seconds=5.0,
    )
    return "Transformer"


def loaders(g: Graph, *, ic_lora: str | None = None) -> str:
    """Models, prompts and LTXV conditioning; returns the title of the MODEL the guiders use."""
    g.add("Checkpoint", "CheckpointLoaderSimple", ckpt_name=CHECKPOINT)
    g.add(
        "Distilled LoRA",
        "LoraLoaderModelOnly",
        model=g.out("Checkpoint"),
        lora_name=DISTILLED_LORA,
        strength_model=0.5,
    )
    model = "Distilled LoRA"
    if ic_lora:
        g.add(
            "IC-LoRA",
            "LoraLoaderModelOnly",
            model=g.out("Distilled LoRA"),
            lora_name=ic_lora,
            strength_model=1.0,
        )
        # The LoRA file's metadata says at what scale it reads its reference (ref0.5: half).
        g.add("IC-LoRA parameters", "GetICLoRAParameters", iclora_model=g.out("IC-LoRA"))
        model = "IC-LoRA"
    g.add(
        "Text encoder",
        "LTXAVTextEncoderLoader",
        text_encoder=GEMMA,
        ckpt_name=CHECKPOINT,
        device="default",
    )
    g.add("Audio VAE", "LTXVAudioVAELoader", ckpt_name=CHECKPOINT)
    prompts(g)
    return model


def image_input(g: Graph, prefix: str = "") -> None:
    """LoadImage -> resize (official: longer side 1536) -> LTXVPreprocess (official: 18)."""
    g.add(f"Load {prefix}image", "LoadImage", image=PLACEHOLDER_IMAGE)
    g.add(
        f"Resize {prefix}image",
        "ResizeImageMaskNode",
        input=g.out(f"Load {prefix}image"),
        resize_type="scale longer dimension",
        resize_type__longer_size=1536,
        scale_method="lanczos",
    )
    g.add(
        f"Preprocess {prefix}image",
        "LTXVPreprocess",
        image=g.out(f"Resize {prefix}image"),
        img_compression=18,
    )


def audio_input(g: Graph) -> None:
    """The user's audio twice: one copy feeds the model, the other is muxed into the output.

    The copies differ only when media.py stages a faintly noised copy for the model (clean
    speech tends to give frozen lips); the output always carries the original track.
    """
    g.add("Load audio", "LoadAudio", audio=PLACEHOLDER_AUDIO)
    g.add(
        "Trim audio", "TrimAudioDuration", audio=g.out("Load audio"), start_index=0.0, duration=5.0
    )
    g.add("Load output audio", "LoadAudio", audio=PLACEHOLDER_AUDIO)
    g.add(
        "Trim output audio",
        "TrimAudioDuration",
        audio=g.out("Load output audio"),
        start_index=0.0,
        duration=5.0,
    )
    frozen_audio(g, "Encode audio", "Freeze audio", g.out("Trim audio"))


def frozen_audio(g: Graph, encode: str, freeze: str, audio: list) -> None:
    """`audio` encoded; the freeze node's output is that latent with noise_mask 0, kept as-is while
    the video denoises (the official LipDub and ia2v graphs feed both passes the same way)."""
    g.add(encode, "LTXVAudioVAEEncode", audio=audio, audio_vae=g.out("Audio VAE"))
    if "Silence mask" not in g.ids:
        g.add("Silence mask", "SolidMask", value=0.0, width=1, height=1)
    g.add(freeze, "SetLatentNoiseMask", samples=g.out(encode), mask=g.out("Silence mask"))


def sampling(
    g: Graph,
    stage: int,
    model: str,
    video: list,
    audio: list,
    positive: list,
    negative: list,
    latent: list | None = None,
) -> None:
    """One pass: `video` and `audio` joined ("AV latent <stage>") and sampled; `latent`, when
    given, is sampled instead (the joined latent after a step of its own, e.g. a time mask)."""
    ltx25 = "Transformer" in g.ids
    if ltx25:  # the 2.5 templates: a guider per modality
        guider = {"class_type": "LTXVDualCFGGuider", "video_cfg": 1.0, "audio_cfg": 1.0}
    else:
        guider = {"class_type": "CFGGuider", "cfg": 1.0}
    # The balanced preset's; patches.py sets each preset's (recipes.py says why).
    family = recipes.LTX25 if ltx25 else recipes.LTX23
    sampler = recipes.samplers(g.mode, family, "balanced", settings=False)[stage - 1]
    if latent is None:
        g.add(f"AV latent {stage}", "LTXVConcatAVLatent", video_latent=video, audio_latent=audio)
        latent = g.out(f"AV latent {stage}")
    g.add(
        f"Guider {stage}",
        guider.pop("class_type"),
        model=g.out(model),
        positive=positive,
        negative=negative,
        **guider,
    )
    g.add(f"Sampler {stage}", "KSamplerSelect", sampler_name=sampler)
    g.add(f"Sigmas {stage}", "ManualSigmas", sigmas=SIGMAS_STAGE1 if stage == 1 else SIGMAS_STAGE2)
    g.add(f"Noise {stage}", "RandomNoise", noise_seed=42 + stage)
    g.add(
        f"Sample {stage}",
        "SamplerCustomAdvanced",
        noise=g.out(f"Noise {stage}"),
        guider=g.out(f"Guider {stage}"),
        sampler=g.out(f"Sampler {stage}"),
        sigmas=g.out(f"Sigmas {stage}"),
        latent_image=latent,
    )
    g.add(f"Separate AV {stage}", "LTXVSeparateAVLatent", av_latent=g.out(f"Sample {stage}"))


def output(g: Graph, video: list, audio: list, *, fps=24.0) -> None:
    g.add(
        "Decode video",
        "VAEDecodeTiled",
        samples=video,
        vae=video_vae(g),
        tile_size=TILE_WHOLE,
        overlap=64,
        temporal_size=TILE_WHOLE,  # every frame at once, unless decode_plan must cut time
        temporal_overlap=8,
    )
    g.add("Create video", "CreateVideo", images=g.out("Decode video"), audio=audio, fps=fps)
    g.add(
        "Save video",
        "SaveVideo",
        video=g.out("Create video"),
        filename_prefix="ltx-aio/video",
        format="auto",
        codec="auto",
    )


def guided_sampling(g: Graph, stage: int, model: str, guided: str, audio: list) -> None:
    """A pass whose latent and conditioning come from a guide node; its guides are cropped after."""
    sampling(g, stage, model, g.out(guided, 2), audio, g.out(guided, 0), g.out(guided, 1))
    g.add(
        f"Crop guides {stage}",
        "LTXVCropGuides",
        positive=g.out(guided, 0),
        negative=g.out(guided, 1),
        latent=g.out(f"Separate AV {stage}", 0),
    )


def output_with_audio(g: Graph, video: list, stage: int) -> None:
    """Decode the last pass's audio latent and save it with `video`."""
    g.add(
        "Decode audio",
        "LTXVAudioVAEDecode",
        samples=g.out(f"Separate AV {stage}", 1),
        audio_vae=g.out("Audio VAE"),
    )
    output(g, video, g.out("Decode audio"))


def empty_latents(g: Graph, *, with_audio: bool) -> None:
    g.add("Video latent", "EmptyLTXVLatentVideo", width=640, height=352, length=121, batch_size=1)
    if with_audio:
        g.add(
            "Audio latent",
            "LTXVEmptyLatentAudio",
            frames_number=121,
            frame_rate=24,
            batch_size=1,
            audio_vae=g.out("Audio VAE"),
        )


def upscale(g: Graph, samples: list) -> None:
    upscaler = UPSCALER_25 if "Transformer" in g.ids else UPSCALER
    g.add("Upscale model", "LatentUpscaleModelLoader", model_name=upscaler)
    g.add(
        "Upscale latent",
        "LTXVLatentUpsampler",
        samples=samples,
        upscale_model=g.out("Upscale model"),
        vae=video_vae(g),
    )


def image_guide(g: Graph, title: str, image: str, latent: list, strength: float) -> None:
    g.add(
        title,
        "LTXVImgToVideoInplace",
        vae=video_vae(g),
        image=g.out(image),
        latent=latent,
        strength=strength,
        bypass=False,
    )


def text_or_image_to_video(with_image: bool, ltx25: bool = False) -> dict:
    g = Graph("i2v" if with_image else "t2v")
    model = loaders_25(g) if ltx25 else loaders(g)
    pos, neg = g.out("Conditioning", 0), g.out("Conditioning", 1)
    empty_latents(g, with_audio=True)
    video1 = g.out("Video latent")
    if with_image:
        image_input(g)
        # Official: 0.7 on the preprocessed image in stage 1 keeps motion, 1.0 in stage 2 detail.
        image_guide(g, "Image guide 1", "Preprocess image", video1, 0.7)
        video1 = g.out("Image guide 1")
    sampling(g, 1, model, video1, g.out("Audio latent"), pos, neg)
    upscale(g, g.out("Separate AV 1", 0))
    video2 = g.out("Upscale latent")
    if with_image:
        image_guide(g, "Image guide 2", "Resize image", video2, 1.0)
        video2 = g.out("Image guide 2")
    sampling(g, 2, model, video2, g.out("Separate AV 1", 1), pos, neg)
    output_with_audio(g, g.out("Separate AV 2", 0), 2)
    return g.nodes


def audio_to_video(with_image: bool) -> dict:
    g = Graph("lipsync" if with_image else "a2v")
    model = loaders(g)
    pos, neg = g.out("Conditioning", 0), g.out("Conditioning", 1)
    audio_input(g)
    empty_latents(g, with_audio=False)
    video1 = g.out("Video latent")
    if with_image:
        image_input(g)
        image_guide(g, "Image guide 1", "Preprocess image", video1, 0.7)
        video1 = g.out("Image guide 1")
    frozen = g.out("Freeze audio")
    sampling(g, 1, model, video1, frozen, pos, neg)
    upscale(g, g.out("Separate AV 1", 0))
    video2 = g.out("Upscale latent")
    if with_image:
        image_guide(g, "Image guide 2", "Resize image", video2, 1.0)
        video2 = g.out("Image guide 2")
    # Stage 2 gets the frozen original again: the separated stage-1 audio has lost its mask.
    sampling(g, 2, model, video2, frozen, pos, neg)
    output(g, g.out("Separate AV 2", 0), g.out("Trim output audio"))
    return g.nodes


# The keyframes between the first and the last: slots 2..7 (modes.py's image_2..image_7). A slot
# whose image is not given drops out of the chain (patches.patch_keyframes) and is pruned.
MIDDLE_KEYFRAMES = patches.MIDDLE_KEYFRAMES  # the slots between the first and last frame


def keyframe_guides(g: Graph, stage: int, latent: list, positive: list, negative: list,
                    step: str) -> None:  # fmt: skip
    """Every keyframe as an appended guide (LTX-2's keyframe-interpolation recipe), chained:
    the first frame, the middle slots, the last frame (frame_idx -1: the clip's end), at the
    official first+last templates' strength 0.7 (1.0 freezes the frames). `step` names the
    image each pass reads: "Preprocess" (pass 1) or "Resize" (pass 2). patches.py sets each
    slot's frame and links the chain past the slots that have no image."""
    common = {"vae": video_vae(g), "strength": 0.7}
    chain = [
        ("First frame guide", "first ", 0),
        *((f"Keyframe {k} guide", f"keyframe {k} ", 16 * (k - 1)) for k in MIDDLE_KEYFRAMES),
        ("Last frame guide", "last ", -1),
    ]
    before = None
    for name, prefix, frame in chain:
        g.add(
            f"{name} {stage}",
            "LTXVAddGuide",
            positive=g.out(before, 0) if before else positive,
            negative=g.out(before, 1) if before else negative,
            latent=g.out(before, 2) if before else latent,
            image=g.out(f"{step} {prefix}image"),
            frame_idx=frame,
            **common,
        )
        before = f"{name} {stage}"


def keyframe_first_pass(g: Graph, model) -> None:
    """Every keyframe as a guide on an empty latent, sampled; the guides cropped ("Crop guides
    1")."""
    empty_latents(g, with_audio=True)
    image_input(g, "first ")
    for k in MIDDLE_KEYFRAMES:
        image_input(g, f"keyframe {k} ")
    image_input(g, "last ")
    keyframe_guides(
        g, 1, g.out("Video latent"), g.out("Conditioning", 0), g.out("Conditioning", 1),
        "Preprocess",
    )  # fmt: skip
    guided_sampling(g, 1, model, "Last frame guide 1", g.out("Audio latent"))


def keyframe(ltx25: bool = False) -> dict:
    """The keyframes guide a first pass; the x2 upscaler and a refine guided again follow.
    LTX-2.5's flf2v template is the first pass alone at full size (its one-pass presets:
    patches.py decodes pass 1 directly); its way to 1080p is this half-size pass, the upscaler
    and the refine."""
    g = Graph("keyframe")
    model = loaders_25(g) if ltx25 else loaders(g)
    keyframe_first_pass(g, model)
    upscale(g, g.out("Crop guides 1", 2))
    keyframe_guides(
        g, 2, g.out("Upscale latent"), g.out("Crop guides 1", 0), g.out("Crop guides 1", 1),
        "Resize",
    )  # fmt: skip
    guided_sampling(g, 2, model, "Last frame guide 2", g.out("Separate AV 1", 1))
    output_with_audio(g, g.out("Crop guides 2", 2), 2)
    return g.nodes


def style() -> dict:
    """Union-control IC-LoRA (official LTX-2.3_ICLoRA_Union_Control_Distilled, single stage).

    The control image comes from one of the preprocessors (depth: one per depth model of
    LTX_AIO_STYLE_DEPTH); patches.py points "Control guide".image at the chosen one and the
    others are pruned before validation.
    """
    g = Graph("style")
    model = loaders(g, ic_lora=UNION_CONTROL_LORA)
    g.add("Load video", "LoadVideo", file=PLACEHOLDER_VIDEO)
    # Only the span that is restyled is decoded: a long source would not fit in memory.
    g.add(
        "Slice video",
        "Video Slice",
        video=g.out("Load video"),
        start_time=0.0,
        duration=5.0,
        strict_duration=False,
    )
    g.add("Video components", "GetVideoComponents", video=g.out("Slice video"))
    g.add(
        "Trim source audio",
        "TrimAudioDuration",
        audio=g.out("Video components", 1),
        start_index=0.0,
        duration=5.0,
    )
    # keep_audio: the source's sound, frozen as in a2v, so the picture is made against it.
    frozen_audio(g, "Encode source audio", "Freeze source audio", g.out("Trim source audio"))
    g.add(
        "Select frames",
        "ImageFromBatch",
        image=g.out("Video components"),
        batch_index=0,
        length=121,
    )
    g.add(
        "Resize video",
        "ResizeImageMaskNode",
        input=g.out("Select frames"),
        resize_type="scale dimensions",
        resize_type__width=1024,
        resize_type__height=576,
        resize_type__crop="center",
        scale_method="lanczos",
    )
    frames = g.out("Resize video")
    g.add(
        "Pose control",
        "DWPreprocessor",
        image=frames,
        detect_hand="enable",
        detect_body="enable",
        detect_face="enable",
        resolution=512,
        bbox_detector="yolox_l.onnx",
        pose_estimator="dw-ll_ucoco_384_bs5.torchscript.pt",
        scale_stick_for_xinsr_cn="disable",
    )
    g.add(
        "Depth control",
        "DepthAnythingV2Preprocessor",
        image=frames,
        ckpt_name="depth_anything_v2_vits.pth",
        resolution=512,
    )
    # Comfy's IC-LoRA template's depth: ComfyUI core's MoGe-2 at the template's settings (detail
    # level 9, the field of view recovered from the points, 4 frames a batch), its grey render.
    g.add("Depth model (MoGe)", "LoadMoGeModel", model_name=MOGE)
    g.add(
        "Depth geometry (MoGe)",
        "MoGeInference",
        moge_model=g.out("Depth model (MoGe)"),
        image=frames,
        resolution_level=9,
        fov_x_degrees=0.0,
        batch_size=4,
        force_projection=True,
        apply_mask=True,
    )
    g.add(
        "Depth control (MoGe)",
        "MoGeRender",
        moge_geometry=g.out("Depth geometry (MoGe)"),
        output="depth",
    )
    g.add(
        "Canny control",
        "CannyEdgePreprocessor",
        image=frames,
        low_threshold=92,
        high_threshold=200,
        resolution=512,
    )
    g.add("Audio latent", "LTXVEmptyLatentAudio", frames_number=121, frame_rate=24, batch_size=1,
          audio_vae=g.out("Audio VAE"))  # fmt: skip
    g.add("Video latent", "EmptyLTXVLatentVideo", width=1024, height=576, length=121, batch_size=1)
    g.add(
        "Control guide",
        "LTXVAddGuide",
        positive=g.out("Conditioning", 0),
        negative=g.out("Conditioning", 1),
        vae=g.out("Checkpoint", 2),
        latent=g.out("Video latent"),
        image=g.out("Pose control"),
        frame_idx=0,
        strength=1.0,
        iclora_parameters=g.out("IC-LoRA parameters"),
    )
    guided_sampling(g, 1, model, "Control guide", g.out("Audio latent"))
    output_with_audio(g, g.out("Crop guides 1", 2), 1)
    return g.nodes


def source_video(g: Graph) -> None:
    """The staged clip a video edit starts from (prepare stages only the frames it needs): its
    frames and its sound (silent where the source has none: the staged clip always has sound)."""
    g.add("Load video", "LoadVideo", file=PLACEHOLDER_VIDEO)
    g.add("Video components", "GetVideoComponents", video=g.out("Load video"))


def extend(ltx25: bool = False) -> dict:
    """Continue a clip: a new clip whose first frames and sound are the source's last ones, kept
    (the rest is generated after them), made in the usual passes; the app joins it to the source.

    Core nodes only: LTXVImgToVideoInplace at strength 1.0 writes the context frames at the start
    of the empty video latent with noise mask 0; the context sound, encoded with mask 0, replaces
    the empty audio latent of the joined latent ("Timeline 1" is already audio+video, so
    LTXVConcatAVLatent's fit_audio zero-pads it to the clip's length with mask 1: generated).
    The refine keeps the context frames again at full size and the first pass's sound whole.
    """
    g = Graph("extend")
    model = loaders_25(g) if ltx25 else loaders(g)
    pos, neg = g.out("Conditioning", 0), g.out("Conditioning", 1)
    source_video(g)
    frozen_audio(g, "Encode context audio", "Freeze context audio", g.out("Video components", 1))
    empty_latents(g, with_audio=True)
    # The context at the latent's exact size, stretched as the app stretches the made frames
    # back (splice.py), so the node's own centre crop cuts nothing and the seam does not jump.
    for stage in (1, 2):
        g.add(f"Resize context {stage}", "ResizeImageMaskNode", input=g.out("Video components"),
              resize_type="scale dimensions", resize_type__width=640, resize_type__height=352,
              resize_type__crop="disabled", scale_method="lanczos")  # fmt: skip
    g.add("Context guide 1", "LTXVImgToVideoInplace", vae=video_vae(g),
          image=g.out("Resize context 1"), latent=g.out("Video latent"), strength=1.0,
          bypass=False)  # fmt: skip
    g.add("Timeline 1", "LTXVConcatAVLatent", video_latent=g.out("Context guide 1"),
          audio_latent=g.out("Audio latent"))  # fmt: skip
    sampling(g, 1, model, g.out("Timeline 1"), g.out("Freeze context audio"), pos, neg)
    upscale(g, g.out("Separate AV 1", 0))
    g.add("Context guide 2", "LTXVImgToVideoInplace", vae=video_vae(g),
          image=g.out("Resize context 2"), latent=g.out("Upscale latent"), strength=1.0,
          bypass=False)  # fmt: skip
    g.add("Freeze audio 2", "SetLatentNoiseMask", samples=g.out("Separate AV 1", 1),
          mask=g.out("Silence mask"))  # fmt: skip
    sampling(g, 2, model, g.out("Context guide 2"), g.out("Freeze audio 2"), pos, neg)
    output_with_audio(g, g.out("Separate AV 2", 0), 2)
    return g.nodes


def retake(ltx25: bool = False) -> dict:
    """Regenerate a time range of a clip: the staged window around it encoded (picture and
    sound), `AIOAVNoiseMaskByTime` (the app's own node, worker_nodes/aio_nodes) masks the range
    for denoising and keeps the rest; after the x2 upscaler the same mask again for the refine.
    The app puts the new range back into the source, which keeps every frame outside it."""
    g = Graph("retake")
    model = loaders_25(g) if ltx25 else loaders(g)
    pos, neg = g.out("Conditioning", 0), g.out("Conditioning", 1)
    source_video(g)
    # Stretched, not cropped: the app stretches the made frames back to the source's size.
    g.add("Resize video", "ResizeImageMaskNode", input=g.out("Video components", 0),
          resize_type="scale dimensions", resize_type__width=640, resize_type__height=352,
          resize_type__crop="disabled", scale_method="lanczos")  # fmt: skip
    g.add("Encode video", "VAEEncode", pixels=g.out("Resize video"), vae=video_vae(g))
    g.add("Encode source audio", "LTXVAudioVAEEncode", audio=g.out("Video components", 1),
          audio_vae=g.out("Audio VAE"))  # fmt: skip
    mask = {"start_s": 1.0, "end_s": 2.0, "frame_rate": 24.0, "audio_vae": g.out("Audio VAE")}
    g.add("AV latent 1", "LTXVConcatAVLatent", video_latent=g.out("Encode video"),
          audio_latent=g.out("Encode source audio"))  # fmt: skip
    g.add("Retake mask 1", "AIOAVNoiseMaskByTime", av_latent=g.out("AV latent 1"), **mask)
    sampling(g, 1, model, [], [], pos, neg, latent=g.out("Retake mask 1"))
    upscale(g, g.out("Separate AV 1", 0))
    g.add("AV latent 2", "LTXVConcatAVLatent", video_latent=g.out("Upscale latent"),
          audio_latent=g.out("Separate AV 1", 1))  # fmt: skip
    g.add("Retake mask 2", "AIOAVNoiseMaskByTime", av_latent=g.out("AV latent 2"), **mask)
    sampling(g, 2, model, [], [], pos, neg, latent=g.out("Retake mask 2"))
    output_with_audio(g, g.out("Separate AV 2", 0), 2)
    return g.nodes


# The prompt enhancer (ComfyUI core's TextGenerateLTX2Prompt, Lightricks' system prompts), at the
# official templates' sampling: video_ltx2_3_t2v/i2v 2048 tokens, repetition penalty 1.05;
# video_ltx2_5_t2v/i2v 600 tokens, 1.15; both temperature 0.7, top-k 64, top-p 0.95, min-p 0.05,
# seed 0. enhance.py sets the prompt, the image and (on the tiny set) the token cap.
ENHANCE_SAMPLING = {
    "ltx-2.3": {"max_length": 2048, "repetition_penalty": 1.05},
    "ltx-2.5": {"max_length": 600, "repetition_penalty": 1.15},
}


def enhancer(ltx25: bool = False) -> dict:
    """The family's own text encoder, loaded by the same node with the same inputs as its
    generation graphs (so the engine's cache holds one copy for both), rewriting the prompt; with
    the mode's image (resized as the i2v graph resizes it) where it has one, else the image
    branch is pruned. Comfy's templates differ in two ways, left out here: LTX-2.3's puts an
    abliterated Gemma LoRA on the encoder, LTX-2.5's loads a separate small Gemma 4
    (gemma4_e2b_it) for the enhancer alone."""
    g = Graph("enhance")
    if ltx25:
        g.add("Text encoder", "CLIPLoader", clip_name=GEMMA4_25, type="ltxv", device="default")
    else:
        g.add("Text encoder", "LTXAVTextEncoderLoader", text_encoder=GEMMA, ckpt_name=CHECKPOINT,
              device="default")  # fmt: skip
    g.add("Load image", "LoadImage", image=PLACEHOLDER_IMAGE)
    g.add("Resize image", "ResizeImageMaskNode", input=g.out("Load image"),
          resize_type="scale longer dimension", resize_type__longer_size=1536,
          scale_method="lanczos")  # fmt: skip
    sampling = ENHANCE_SAMPLING["ltx-2.5" if ltx25 else "ltx-2.3"]
    g.add(
        "Enhance prompt",
        "TextGenerateLTX2Prompt",
        clip=g.out("Text encoder"),
        prompt="",
        image=g.out("Resize image"),
        max_length=sampling["max_length"],
        sampling_mode="on",
        sampling_mode__temperature=0.7,
        sampling_mode__top_k=64,
        sampling_mode__top_p=0.95,
        sampling_mode__min_p=0.05,
        sampling_mode__repetition_penalty=sampling["repetition_penalty"],
        sampling_mode__seed=0,
        sampling_mode__presence_penalty=0.0,
        thinking=False,
        use_default_template=True,
    )
    g.add("Enhanced prompt", "PreviewAny", source=g.out("Enhance prompt"))
    return g.nodes


def build() -> dict[str, dict]:
    return {
        "enhance": enhancer(),
        "enhance_ltx25": enhancer(ltx25=True),
        "t2v": text_or_image_to_video(with_image=False),
        "i2v": text_or_image_to_video(with_image=True),
        "a2v": audio_to_video(with_image=False),
        "lipsync": audio_to_video(with_image=True),
        "keyframe": keyframe(),
        "style": style(),
        "t2v_ltx25": text_or_image_to_video(with_image=False, ltx25=True),
        "i2v_ltx25": text_or_image_to_video(with_image=True, ltx25=True),
        "keyframe_ltx25": keyframe(ltx25=True),
        "extend": extend(),
        "extend_ltx25": extend(ltx25=True),
        "retake": retake(),
        "retake_ltx25": retake(ltx25=True),
    }


def main(argv: list[str]) -> int:
    out_dir = ROOT / "workflows"
    out_dir.mkdir(exist_ok=True)
    for name, nodes in build().items():
        path = out_dir / f"{name}.json"
        path.write_text(json.dumps(nodes, indent=1, ensure_ascii=False) + "\n")
        print(f"wrote {path.relative_to(ROOT)} ({len(nodes)} nodes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
