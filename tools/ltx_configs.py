"""LTX-2.3 model configurations: the real ones, and the tiny ones the test weight set is made at.

The real configs are what the published checkpoints carry in their safetensors metadata
("config": transformer, vae, audio_vae, vocoder; the upscaler's own "config"), so files written
with them make ComfyUI build the real architectures. The tiny ones turn sizes down and keep every
interface ComfyUI hard-codes: 128 video latent channels (sd.py VAE), 8 x 16 audio latent
(av_model.LTXAVModel), 64 mel bins (vocoder), 8x32x32 VAE compression, Gemma's 48 layers
(lt.py tells the text encoder by its key `model.layers.47...`, and 49 hidden states feed the
projection).
"""

from __future__ import annotations

import copy

# fmt: off
REAL_TRANSFORMER = {
    "_class_name": "AVTransformer3DModel", "activation_fn": "gelu-approximate",
    "attention_bias": True, "attention_head_dim": 128, "attention_type": "default",
    "caption_channels": 3840, "cross_attention_dim": 4096, "double_self_attention": False,
    "dropout": 0.0, "in_channels": 128, "norm_elementwise_affine": False, "norm_eps": 1e-06,
    "norm_num_groups": 32, "num_attention_heads": 32, "num_embeds_ada_norm": 1000,
    "num_layers": 48, "num_vector_embeds": None, "only_cross_attention": False,
    "cross_attention_norm": True, "out_channels": 128, "upcast_attention": False,
    "use_linear_projection": False, "qk_norm": "rms_norm", "standardization_norm": "rms_norm",
    "positional_embedding_type": "rope", "positional_embedding_theta": 10000.0,
    "positional_embedding_max_pos": [20, 2048, 2048], "timestep_scale_multiplier": 1000,
    "av_ca_timestep_scale_multiplier": 1000.0, "causal_temporal_positioning": True,
    "audio_num_attention_heads": 32, "audio_attention_head_dim": 64,
    "use_audio_video_cross_attention": True, "share_ff": False, "audio_out_channels": 128,
    "audio_cross_attention_dim": 2048, "audio_positional_embedding_max_pos": [20],
    "av_cross_ada_norm": True, "use_embeddings_connector": True,
    "connector_attention_head_dim": 128, "connector_num_attention_heads": 32,
    "connector_num_layers": 8, "connector_positional_embedding_max_pos": [4096],
    "connector_num_learnable_registers": 128, "connector_norm_output": True,
    "use_middle_indices_grid": True, "apply_gated_attention": True,
    "connector_apply_gated_attention": True, "caption_projection_first_linear": False,
    "caption_projection_second_linear": False, "caption_proj_input_norm": False,
    "connector_learnable_registers_std": 1, "caption_proj_before_connector": True,
    "audio_connector_attention_head_dim": 64, "audio_connector_num_attention_heads": 32,
    "cross_attention_adaln": True, "text_encoder_norm_type": "per_token_rms",
    "rope_type": "split", "frequencies_precision": "float64",
}
REAL_VAE = {
    "_class_name": "CausalVideoAutoencoder", "dims": 3, "in_channels": 3, "out_channels": 3,
    "latent_channels": 128,
    "encoder_blocks": [
        ["res_x", {"num_layers": 4}], ["compress_space_res", {"multiplier": 2}],
        ["res_x", {"num_layers": 6}], ["compress_time_res", {"multiplier": 2}],
        ["res_x", {"num_layers": 4}], ["compress_all_res", {"multiplier": 2}],
        ["res_x", {"num_layers": 2}], ["compress_all_res", {"multiplier": 1}],
        ["res_x", {"num_layers": 2}],
    ],
    "decoder_blocks": [
        ["res_x", {"num_layers": 4}], ["compress_space", {"multiplier": 2}],
        ["res_x", {"num_layers": 6}], ["compress_time", {"multiplier": 2}],
        ["res_x", {"num_layers": 4}], ["compress_all", {"multiplier": 1}],
        ["res_x", {"num_layers": 2}], ["compress_all", {"multiplier": 2}],
        ["res_x", {"num_layers": 2}],
    ],
    "scaling_factor": 1.0, "norm_layer": "pixel_norm", "patch_size": 4,
    "latent_log_var": "uniform", "use_quant_conv": False, "causal_decoder": False,
    "timestep_conditioning": False, "normalize_latent_channels": False,
    "encoder_base_channels": 128, "decoder_base_channels": 128, "spatial_padding_mode": "zeros",
}
REAL_AUDIO_VAE = {
    "model": {"params": {
        "ddconfig": {
            "double_z": True, "mel_bins": 64, "z_channels": 8, "resolution": 256,
            "downsample_time": False, "in_channels": 2, "out_ch": 2, "ch": 128,
            "ch_mult": [1, 2, 4], "num_res_blocks": 2, "attn_resolutions": [], "dropout": 0.0,
            "mid_block_add_attention": False, "norm_type": "pixel", "causality_axis": "height",
        },
        "sampling_rate": 16000,
    }},
    "preprocessing": {
        "stft": {"filter_length": 1024, "hop_length": 160, "win_length": 1024, "causal": True},
        "mel": {"n_mel_channels": 64, "mel_fmin": 0, "mel_fmax": 8000},
    },
}
REAL_VOCODER = {
    "vocoder": {
        "upsample_initial_channel": 1536, "resblock": "AMP1", "upsample_rates": [5, 2, 2, 2, 2, 2],
        "resblock_kernel_sizes": [3, 7, 11], "upsample_kernel_sizes": [11, 4, 4, 4, 4, 4],
        "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]], "stereo": True,
        "use_tanh_at_final": False, "activation": "snakebeta", "use_bias_at_final": False,
    },
    "bwe": {
        "upsample_initial_channel": 512, "resblock": "AMP1", "upsample_rates": [6, 5, 2, 2, 2],
        "resblock_kernel_sizes": [3, 7, 11], "upsample_kernel_sizes": [12, 11, 4, 4, 4],
        "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]], "stereo": True,
        "use_tanh_at_final": False, "activation": "snakebeta", "use_bias_at_final": False,
        "apply_final_activation": False, "input_sampling_rate": 16000,
        "output_sampling_rate": 48000, "hop_length": 80, "n_fft": 512, "win_size": 512,
        "num_mels": 64,
    },
}
# 995,743,560 bytes bf16 = ~498M params: dims 3, mid 1024, 4 blocks per stage, conv2d x4 + shuffle
REAL_UPSAMPLER = {
    "_class_name": "LatentUpsampler", "in_channels": 128, "mid_channels": 1024,
    "num_blocks_per_stage": 4, "dims": 3, "spatial_upsample": True, "temporal_upsample": False,
    "spatial_scale": 2.0, "rational_resampler": False,
}
# comfy/text_encoders/llama.py Gemma3_12B_Config (hard-coded, not read from the file)
REAL_GEMMA = dict(vocab_size=262208, hidden_size=3840, intermediate_size=15360,
                  num_hidden_layers=48, num_attention_heads=16, num_key_value_heads=8,
                  head_dim=256)
REAL_LORA_RANK = 384
# fmt: on


def tiny_transformer() -> dict:
    t = copy.deepcopy(REAL_TRANSFORMER)
    t.update(
        num_layers=2,
        num_attention_heads=2, attention_head_dim=32, cross_attention_dim=64,
        audio_num_attention_heads=2, audio_attention_head_dim=16, audio_cross_attention_dim=32,
        connector_num_attention_heads=2, connector_attention_head_dim=32,
        audio_connector_num_attention_heads=2, audio_connector_attention_head_dim=16,
        connector_num_layers=1,
    )  # fmt: skip
    return t


def tiny_transformer_25() -> dict:
    """LTX-2.5's tiny transformer: three video heads where LTX-2.3's has two (and the text
    context and its connector as wide, as ComfyUI's model needs), so that the two families'
    matrices differ in width as the real ones' LoRAs do not fit across families (a LoRA made
    for one is refused on the other: loras.py)."""
    return {**tiny_transformer(), "num_attention_heads": 3, "cross_attention_dim": 96,
            "connector_num_attention_heads": 3}  # fmt: skip


def tiny_vae() -> dict:
    v = copy.deepcopy(REAL_VAE)
    for key in ("encoder_blocks", "decoder_blocks"):
        for name, params in v[key]:
            if name == "res_x":
                params["num_layers"] = 1
    v["encoder_base_channels"] = v["decoder_base_channels"] = 8
    return v


def tiny_audio_vae() -> dict:
    a = copy.deepcopy(REAL_AUDIO_VAE)
    ddconfig = a["model"]["params"]["ddconfig"]
    ddconfig["ch"], ddconfig["num_res_blocks"] = 8, 1
    return a


def tiny_vocoder() -> dict:
    v = copy.deepcopy(REAL_VOCODER)
    for part, channels in (("vocoder", 128), ("bwe", 64)):
        v[part]["upsample_initial_channel"] = channels
        v[part]["resblock_kernel_sizes"] = [3]
        v[part]["resblock_dilation_sizes"] = [[1, 3, 5]]
    return v


def tiny_upsampler() -> dict:
    u = copy.deepcopy(REAL_UPSAMPLER)
    u["mid_channels"] = 32  # GroupNorm(32, mid) needs a multiple of 32
    u["num_blocks_per_stage"] = 1
    return u


TINY_GEMMA = dict(vocab_size=1024, hidden_size=32, intermediate_size=64, num_hidden_layers=48,
                  num_attention_heads=2, num_key_value_heads=1, head_dim=16)  # fmt: skip
TINY_GEMMA_VISION = {
    "num_channels": 3, "hidden_act": "gelu_pytorch_tanh", "hidden_size": 16, "image_size": 28,
    "intermediate_size": 32, "model_type": "siglip_vision_model", "num_attention_heads": 2,
    "num_hidden_layers": 1, "patch_size": 14,
}  # fmt: skip
TINY_MM_TOKENS_PER_IMAGE = 4
TINY_LORA_RANK = 4


# -- MoGe-2 (the style mode's depth model with LTX_AIO_STYLE_DEPTH=moge: Comfy's IC-LoRA template
# loads moge_2_vitl_normal_fp16). The file carries no config: ComfyUI v0.33.0 reads every size back
# from the key shapes (comfy/ldm/moge/model.py MoGeModelV2.from_state_dict), with num_heads =
# hidden / 64 and the four read layers evenly spaced. The real sizes are the MoGe repository's
# ViT-L v2 config (microsoft/MoGe configs/train/v2.json), with its normal head.


def _moge_stack(dim_in: list, dims: list, out: int | None, res_blocks: list) -> dict:
    """A MoGe ConvStack's config (comfy/ldm/moge/modules.py ConvStack): 2x up between levels
    (transposed convolutions, then bilinear), no norms, an output conv at the last level."""
    return {
        "dim_in": dim_in, "dim_res_blocks": dims, "dim_out": [None] * (len(dims) - 1) + [out],
        "num_res_blocks": res_blocks,
        "resamplers": ["conv_transpose"] * (len(dims) - 2) + ["bilinear"],
        "res_block_in_norm": "none", "res_block_hidden_norm": "none",
    }  # fmt: skip


def moge_config(hidden: int, layers: int, projected: int, dims: list, scale: list) -> dict:
    """MoGeModelV2's arguments: DINOv2 encoder, neck, points / mask / normal heads, scale MLP."""
    backbone = {
        "hidden_size": hidden, "num_attention_heads": hidden // 64, "num_hidden_layers": layers,
        "layer_norm_eps": 1e-6, "use_swiglu_ffn": False,
    }  # fmt: skip
    head = [0] + [1] * (len(dims) - 2) + [0]
    return {
        "encoder": {"backbone": backbone, "dim_out": projected,
                    "intermediate_layers": [(layers // 4) * (i + 1) - 1 for i in range(4)]},
        "neck": _moge_stack([projected + 2] + [2] * (len(dims) - 1), dims, None,
                            [0] + [2] * (len(dims) - 2) + [0]),
        "points_head": _moge_stack(dims, dims, 3, head),
        "mask_head": _moge_stack(dims, dims, 1, head),
        "normal_head": _moge_stack(dims, dims, 3, head),
        "scale_head": {"dims": [hidden, *scale, 1]},
    }  # fmt: skip


REAL_MOGE = moge_config(1024, 24, 1024, [1024, 256, 128, 64, 32], [1024, 1024])
# DINOv2 needs 64 channels for one head; its position grid stays 37 x 37 (image_size 518).
TINY_MOGE = moge_config(64, 4, 16, [16, 8, 4, 4, 4], [16])


def configs(size: str) -> dict:
    """Every component's config at `size` ("tiny" or "real")."""
    if size == "real":
        return {
            "transformer": REAL_TRANSFORMER, "transformer_25": REAL_TRANSFORMER, "vae": REAL_VAE,
            "audio_vae": REAL_AUDIO_VAE, "vocoder": REAL_VOCODER, "upsampler": REAL_UPSAMPLER,
            "gemma": REAL_GEMMA,
            "lora_rank": REAL_LORA_RANK, "moge": REAL_MOGE,
        }  # fmt: skip
    return {
        "transformer": tiny_transformer(), "transformer_25": tiny_transformer_25(),
        "vae": tiny_vae(), "audio_vae": tiny_audio_vae(),
        "vocoder": tiny_vocoder(), "upsampler": tiny_upsampler(), "gemma": TINY_GEMMA,
        "lora_rank": TINY_LORA_RANK, "moge": TINY_MOGE,
    }  # fmt: skip


def projection_dims(gemma: dict, transformer: dict) -> tuple[int, int, int]:
    """(in, video out, audio out) of the text projection; real: 3840 * 49, 4096, 2048."""
    return (
        gemma["hidden_size"] * (gemma["num_hidden_layers"] + 1),
        transformer["cross_attention_dim"],
        transformer["audio_cross_attention_dim"],
    )


# -- LTX-2.5 (ComfyUI v0.33.0). The real files' configs are not public offline: the transformer,
# audio VAE and upscaler are taken to be LTX-2.3's (same 22B family), the video VAE is ComfyUI's
# own default for the new decoder (LTX_24_VAE_CONFIG), Gemma 4 12B is ComfyUI's hard-coded one.

# comfy/text_encoders/gemma4.py Gemma4_12B_Config, turned down; 48 layers kept (detection reads
# `model.layers.47...`), a global layer every sixth as in the real pattern.
TINY_GEMMA4 = dict(vocab_size=1024, hidden_size=32, intermediate_size=64, num_hidden_layers=48,
                   num_attention_heads=2, num_key_value_heads=1)  # fmt: skip
TINY_GEMMA4_CLASS = {
    "head_dim": 16, "global_head_dim": 16, "num_global_key_value_heads": 1,
    "vision_config": {"model_patch_size": 48, "patch_size": 16, "pooling_kernel_size": 3,
                      "mm_embed_dim": 16, "mm_posemb_size": 8, "output_proj_dims": 16,
                      "rms_norm_eps": 1e-6},
    "audio_config": {"audio_samples_per_token": 640, "output_proj_dims": 16, "rms_norm_eps": 1e-6},
    # The real config keeps two of its 262k token ids from being generated; the tiny vocabulary
    # has no such ids (the prompt enhancer generates on this encoder).
    "suppress_tokens": [],
}  # fmt: skip


def duration_head_dims(transformer: dict, tiny: bool) -> dict | None:
    """DurationHead's dimensions (comfy/ldm/lightricks/duration_head.py): it reads the
    transformer's video and audio caption tokens. ComfyUI builds it with its defaults (the real
    ones, so None: no seam); a tiny set's follow its tiny transformer."""
    if not tiny:
        return None
    return {
        "video_cross_attention_dim": transformer["cross_attention_dim"],
        "audio_cross_attention_dim": transformer["audio_cross_attention_dim"],
        "pooler_hidden_dim": 16, "num_pooler_heads": 2, "mlp_hidden": 16,
    }  # fmt: skip


def tiny_video_vae_25(default: dict) -> dict:
    """ComfyUI's default LTX-2.4/2.5 video VAE config (its CausalDiffusionVAE), turned down."""
    v = copy.deepcopy(default)
    v["encoder"]["blocks"] = [
        [name, {**params, **({"num_layers": 1} if "num_layers" in params else {})}]
        for name, params in v["encoder"]["blocks"]
    ]
    v["encoder"]["base_channels"] = 8
    v["decoder"].update(
        head_dim=8, stage_channels=[64, 32, 16, 16, 8], stage_depths=[1, 1, 1, 1, 1],
        stage_kernels=[[3, 3, 3]] * 5, stage5_kernel=[3, 3, 3], t_emb_dim=16,
    )  # fmt: skip
    return v
