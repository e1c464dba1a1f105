"""Write a random-weight LTX-2.3 model set with the real files' names, formats and key layouts.

    python tools/make_tiny_weights.py [OUT] [--seed N] [--size tiny|real] [--sparse-above NUMEL]

OUT (default `.tiny-weights/` in the repo) becomes a models folder, as LTX_AIO_MODELS_DIR takes:
  <folder>/<file>                 every weight file the graphs load, named as the graphs name
                                  them; the fp8 variant's names are links to the same files
  loras/my-<family>-lora.safetensors, loras/hf/<repo>/<file>
                                  LoRAs a job may add, per model family: one of "your own"
                                  and each known one (loras.py), at that family's widths
  controlnet_aux/<repo>/<file>    the pose and depth annotators
  geometry_estimation/<file>      the other depth model (MoGe-2: LTX_AIO_STYLE_DEPTH=moge)
  .aio-tiny-weights.json          the marker: each file's size and sha256, and the text-encoder
                                  dimensions the one seam needs (tinyset.py)
Run the app or the tests on it with `LTX_AIO_MODELS_DIR=OUT LTX_AIO_TINY_WEIGHTS=1`.

Shapes are not written down here: each model is built from ComfyUI's own classes (on the meta
device, so the real size costs no memory) with the config the real file carries in its metadata,
and its state_dict is written one tensor at a time. The same seed writes the same bytes.

`--size real` writes the published sizes (about 88 GB; with `--sparse-above 1000000` the large
tensors are file holes that read as zeros, so the set takes seconds and almost no disk). It needs
no seam, only a GPU to time kernels on: values do not change their speed.

Needs the pinned ComfyUI checkout (`python bootstrap.py`) and requirements.txt.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import os
import random
import re
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(Path(__file__).resolve().parent))

import ltx_configs  # noqa: E402

import loras  # noqa: E402
import modes  # noqa: E402
import pins  # noqa: E402
import recipes  # noqa: E402
import tinyset  # noqa: E402
from model_manifest import VARIANTS  # noqa: E402

# What the prompt enhancer may generate on the tiny set: random weights rarely say their stop
# token, and the official caps (600, 2048 tokens) would take minutes of noise on a CPU.
TINY_ENHANCE_TOKENS = 12
# Bump when what a seed writes changes: a kept set with another version is written again.
VERSION = 7
DEFAULT_OUT = ROOT / ".tiny-weights"
WEIGHT_SUFFIXES = (".safetensors", ".gguf", ".ckpt", ".pt", ".pth", ".bin", ".onnx")
IC_LORA_METADATA = {"reference_downscale_factor": "2"}  # "ref0.5": the reference at half size

Entry = tuple[str, tuple[int, ...], object, Callable[[], object]]  # name, shape, dtype, make
LTX25, LTX23 = recipes.LTX25, recipes.LTX23
TRANSFORMERS = {LTX23: "transformer", LTX25: "transformer_25"}  # each family's config in cfg
# LoRAs a job may add (loras.py), per family: one of the user's own in the LoRA folder besides
# every known one (at the path a Hub LoRA is linked to), so jobs with two LoRAs run on the set.
OWN_LORAS = {family: f"my-{family}-lora.safetensors" for family in TRANSFORMERS}


# -- ComfyUI


def comfy_setup(comfy: Path) -> None:
    """Import ComfyUI from the pinned checkout, on the CPU (nothing here needs a GPU)."""
    if not (comfy / "comfy").is_dir():
        raise SystemExit(f"no ComfyUI checkout at {comfy}: run `python bootstrap.py` first")
    if str(comfy) not in sys.path:
        sys.path.insert(0, str(comfy))
    sys.modules.pop("app", None)  # ComfyUI has its own top-level `app` package
    from comfy.cli_args import args

    args.cpu = True


# -- safetensors, streamed


def _dtype_code(dtype) -> str:
    import torch

    return {
        torch.bfloat16: "BF16", torch.float32: "F32", torch.float16: "F16", torch.uint8: "U8",
        torch.int64: "I64", torch.int32: "I32", torch.bool: "BOOL",
    }[dtype]  # fmt: skip


def write_safetensors(path: Path, entries: list[Entry], metadata: dict | None = None) -> int:
    """Write one tensor at a time (constant memory: a 46 GB file needs no 46 GB of RAM). A maker
    that returns None leaves its bytes as a file hole, which reads back as zeros."""
    import torch

    header: dict = {}
    offset = 0
    for name, shape, dtype, _ in entries:
        size = math.prod(shape) * torch.empty((), dtype=dtype).element_size()
        header[name] = {"dtype": _dtype_code(dtype), "shape": list(shape),
                        "data_offsets": [offset, offset + size]}  # fmt: skip
        offset += size
    if metadata:
        header["__metadata__"] = {key: str(value) for key, value in metadata.items()}
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    with part.open("wb") as f:
        f.write(len(head).to_bytes(8, "little"))
        f.write(head)
        start = f.tell()
        for name, shape, dtype, make in entries:
            tensor = make()
            if tensor is None:
                f.seek(start + header[name]["data_offsets"][1])
                continue
            if tuple(tensor.shape) != tuple(shape) or tensor.dtype != dtype:
                raise ValueError(f"{name}: made {tuple(tensor.shape)} {tensor.dtype}, not {shape}")
            f.write(tensor.contiguous().view(torch.uint8).numpy().tobytes())
        f.truncate(start + offset)
    part.replace(path)
    return path.stat().st_size


# -- random values that keep a random network finite


class Values:
    """N(0, 1/fan_in) matrices, unit norms, zero biases, identity latent statistics. Large tensors
    are cut from one seeded pool of normal values, so a real-size set takes minutes, not hours."""

    POOL = 1 << 24

    def __init__(self, seed: int, sparse_above: int | None = None) -> None:
        import torch

        self.torch = torch
        self.generator = torch.Generator().manual_seed(seed)
        self.pool = torch.randn(self.POOL, generator=self.generator)
        self.sparse_above = sparse_above

    def normal(self, shape: tuple[int, ...], std: float, dtype):
        torch = self.torch
        count = math.prod(shape)
        out = torch.empty(count, dtype=dtype)
        for begin in range(0, count, self.POOL):
            n = min(self.POOL, count - begin)
            at = int(torch.randint(0, self.POOL - n + 1, (1,), generator=self.generator))
            out[begin : begin + n] = self.pool[at : at + n] * std
        return out.reshape(shape)

    def make(self, name: str, shape: tuple[int, ...], dtype, zero_norms: bool = False):
        """The value of state-dict entry `name`; None (a hole) for a large one when sparse."""
        torch = self.torch
        leaf = name.rsplit(".", 1)[-1]
        if leaf == "std-of-means":
            return torch.ones(shape, dtype=dtype)
        if self.sparse_above is not None and math.prod(shape) > self.sparse_above:
            return None
        if leaf in ("mean-of-means", "alpha", "beta") or not shape:  # SnakeBeta: log-scale
            return torch.zeros(shape, dtype=dtype)
        if len(shape) == 1 and leaf == "weight":  # norms; Gemma's RMSNorm adds 1 itself
            return (torch.zeros if zero_norms else torch.ones)(shape, dtype=dtype)
        if len(shape) == 1 and leaf == "bias":
            return torch.zeros(shape, dtype=dtype)
        if len(shape) == 1 or "scale_shift_table" in name or "learnable_registers" in name:
            return self.normal(shape, 0.02, dtype)
        return self.normal(shape, 1.0 / math.sqrt(max(1, math.prod(shape[1:]))), dtype)


def module_entries(
    module, prefix: str, values: Values, dtype, zero_norms: bool = False
) -> list[Entry]:
    entries: list[Entry] = []
    for key, tensor in module.state_dict().items():
        shape = tuple(tensor.shape)
        if not tensor.dtype.is_floating_point:
            kind = tensor.dtype
            entries.append((prefix + key, shape, kind, lambda s=shape, k=kind: _zeros(s, k)))
            continue
        entries.append(
            (prefix + key, shape, dtype,
             lambda k=key, s=shape: values.make(k, s, dtype, zero_norms))
        )  # fmt: skip
    return entries


def _zeros(shape, dtype):
    import torch

    return torch.zeros(shape, dtype=dtype)


# -- the LTX-2.3 files


def _transformer(config: dict):
    import comfy.ops
    import torch
    from comfy.ldm.lightricks.av_model import LTXAVModel

    with torch.device("meta"):
        return LTXAVModel(**config, image_model="ltxav", dtype=torch.bfloat16, device="meta",
                          operations=comfy.ops.disable_weight_init)  # fmt: skip


def write_checkpoint(path: Path, cfg: dict, values: Values) -> int:
    """Transformer + video VAE + audio VAE + vocoder + text projection, as the real checkpoint."""
    import comfy.ops
    import torch
    from comfy.ldm.lightricks.vae.audio_vae import AudioVAE
    from comfy.ldm.lightricks.vae.causal_video_autoencoder import VideoVAE
    from comfy.text_encoders.lt import DualLinearProjection

    config = {key: cfg[key] for key in ("transformer", "vae", "audio_vae", "vocoder")}
    bf16 = torch.bfloat16
    entries = module_entries(
        _transformer(cfg["transformer"]), "model.diffusion_model.", values, bf16
    )
    with torch.device("meta"):
        video_vae = VideoVAE(config=cfg["vae"])
        audio_vae = AudioVAE(metadata={"config": json.dumps(config)})
        projection = DualLinearProjection(
            *ltx_configs.projection_dims(cfg["gemma"], cfg["transformer"]),
            dtype=bf16, device="meta", operations=comfy.ops.disable_weight_init,
        )  # fmt: skip
    entries += module_entries(video_vae, "vae.", values, bf16)
    for name, shape, dtype, make in module_entries(audio_vae, "", values, bf16):
        if name.startswith("autoencoder."):  # the file's prefix for what AudioVAE calls this
            name = "audio_vae." + name.removeprefix("autoencoder.")
        entries.append((name, shape, dtype, make))
    entries += module_entries(projection, "text_embedding_projection.", values, bf16)
    return write_safetensors(path, entries, {"config": json.dumps(config)})


TOKENIZER_TEXT = (
    "a the of and to in is on with for cat dog city street car sky sun rain night day camera "
    "moves slowly person talking walking running smiling music sound voice ocean wave forest "
    "tree light dark red blue green yellow white black video game cartoon childish ugly "
    "console pc scene alive natural continuous motion subject follows smoothly lips moving "
    "clearly naturally every word lively facial expressions shot one smooth from first frame "
    "last system user model you are helpful assistant start_of_turn end_of_turn"
)


def tokenizer_model(vocab_size: int, seed: int) -> bytes:
    """A small SentencePiece model with Gemma's special ids (pad 0, eos 1, bos 2, unk 3) and its
    turn markers, trained on seeded word salad."""
    import sentencepiece

    words = TOKENIZER_TEXT.split()
    rnd = random.Random(seed)
    lines = [" ".join(rnd.choice(words) for _ in range(12)) for _ in range(4000)]
    lines += [
        "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(8)) for _ in range(4000)
    ]
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=model, vocab_size=vocab_size,
        model_type="bpe", pad_id=0, eos_id=1, bos_id=2, unk_id=3, byte_fallback=True,
        character_coverage=1.0, hard_vocab_limit=False, minloglevel=2, num_threads=1,
        user_defined_symbols=["<start_of_turn>", "<end_of_turn>"],
    )  # fmt: skip
    return model.getvalue()


def write_gemma(path: Path, cfg: dict, values: Values, seed: int, tiny: bool) -> int:
    """Gemma 3 12B's file layout (model.*, vision tower, projector, `spiece_model` tokenizer)."""
    import comfy.ops
    import comfy.text_encoders.llama as llama
    import torch

    if tiny:
        tinyset.install_seam({"text_encoder": text_encoder_dims(cfg)})
    with torch.device("meta"):
        gemma = llama.Gemma3_12B({}, torch.bfloat16, "meta", comfy.ops.disable_weight_init)
    entries = module_entries(gemma, "", values, torch.bfloat16, zero_norms=True)
    # The real 262k-piece tokenizer is not public offline; ids of a small one are valid in both.
    pieces = tokenizer_model(ltx_configs.TINY_GEMMA["vocab_size"], seed)
    spiece = torch.frombuffer(bytearray(pieces), dtype=torch.uint8).clone()
    entries.append(("spiece_model", tuple(spiece.shape), torch.uint8, lambda: spiece))
    return write_safetensors(path, entries)


def write_upscaler(path: Path, cfg: dict, values: Values) -> int:
    import comfy.ops
    import torch
    from comfy.ldm.lightricks.latent_upsampler import LatentUpsampler

    with torch.device("meta"):
        upsampler = LatentUpsampler.from_config(cfg["upsampler"], comfy.ops.disable_weight_init)
    entries = module_entries(upsampler, "", values, torch.bfloat16)
    return write_safetensors(path, entries, {"config": json.dumps(cfg["upsampler"])})


def write_lora(
    path: Path, cfg: dict, values: Values, metadata: dict | None = None, family: str = LTX23
) -> int:
    """A LoRA over every linear layer of one family's transformer blocks (the real ones cover a
    subset)."""
    import torch

    rank = cfg["lora_rank"]
    entries: list[Entry] = []
    for key, tensor in _transformer(cfg[TRANSFORMERS[family]]).state_dict().items():
        if not (key.startswith("transformer_blocks.") and key.endswith(".weight")):
            continue
        if tensor.ndim != 2:
            continue
        module, (out_dim, in_dim) = key.removesuffix(".weight"), tuple(tensor.shape)
        down, up = (rank, in_dim), (out_dim, rank)
        entries.append(
            (
                f"diffusion_model.{module}.lora_A.weight",
                down,
                torch.bfloat16,
                lambda s=down: values.make("lora_A.weight", s, torch.bfloat16),
            )
        )
        entries.append((f"diffusion_model.{module}.lora_B.weight", up, torch.bfloat16,
                        lambda s=up: _lora_up(values, s)))  # fmt: skip
    return write_safetensors(path, entries, metadata)


def _lora_up(values: Values, shape):
    import torch

    if values.make("lora_B.weight", shape, torch.bfloat16) is None:
        return None
    return values.normal(shape, 0.01, torch.bfloat16)


# -- the LTX-2.5 files: separate transformer, VAEs, Gemma 4 with its projection


def write_transformer_25(path: Path, cfg: dict, values: Values) -> int:
    """The transformer alone (UNETLoader), bare keys, its config in the metadata."""
    import torch

    config = cfg[TRANSFORMERS[LTX25]]
    entries = module_entries(_transformer(config), "", values, torch.bfloat16)
    return write_safetensors(path, entries, {"config": json.dumps({"transformer": config})})


def write_audio_vae_25(path: Path, cfg: dict, values: Values) -> int:
    """Audio VAE + vocoder in a file of their own (VAELoader tells it by the vocoder keys)."""
    import torch
    from comfy.ldm.lightricks.vae.audio_vae import AudioVAE

    config = {"audio_vae": cfg["audio_vae"], "vocoder": cfg["vocoder"]}
    with torch.device("meta"):
        audio_vae = AudioVAE(metadata={"config": json.dumps(config)})
    entries = []
    for name, shape, dtype, make in module_entries(audio_vae, "", values, torch.bfloat16):
        if name.startswith("autoencoder."):
            name = "audio_vae." + name.removeprefix("autoencoder.")
        entries.append((name, shape, dtype, make))
    return write_safetensors(path, entries, {"config": json.dumps(config)})


def write_video_vae_25(path: Path, cfg: dict, values: Values, tiny: bool) -> int:
    """The new video VAE (CausalDiffusionVAE: a diffusion decoder), sized by its metadata."""
    import torch
    from comfy.ldm.lightricks.vae.na_diffusion_decoder import (
        LTX_24_VAE_CONFIG,
        CausalDiffusionVAE,
    )

    config = ltx_configs.tiny_video_vae_25(LTX_24_VAE_CONFIG) if tiny else LTX_24_VAE_CONFIG
    with torch.device("meta"):
        vae = CausalDiffusionVAE(config=config)
    entries = module_entries(vae, "", values, torch.bfloat16)
    return write_safetensors(path, entries, {"config": json.dumps({"vae": config})})


def write_gemma4(path: Path, cfg: dict, values: Values, tiny: bool) -> int:
    """Gemma 4 12B "with projection" (CLIPLoader type ltxv): the encoder, the text projection
    that ComfyUI sizes from these keys, and the tokenizer as a `tokenizer_json` byte tensor."""
    import comfy.ops
    import comfy.text_encoders.gemma4 as gemma4
    import torch
    from comfy.text_encoders.lt import DualLinearProjection

    dims = text_encoder_dims(cfg)
    if tiny:
        tinyset.install_seam({"text_encoder": dims})
    with torch.device("meta"):
        encoder = gemma4.Gemma4_12B({}, torch.bfloat16, "meta", comfy.ops.disable_weight_init)
        hidden = gemma4.Gemma4_12B_Config.hidden_size
        layers = gemma4.Gemma4_12B_Config.num_hidden_layers
        projection = DualLinearProjection(
            hidden * (layers + 1), cfg[TRANSFORMERS[LTX25]]["cross_attention_dim"],
            cfg[TRANSFORMERS[LTX25]]["audio_cross_attention_dim"],
            dtype=torch.bfloat16, device="meta", operations=comfy.ops.disable_weight_init,
        )  # fmt: skip
    entries = module_entries(encoder, "", values, torch.bfloat16)
    entries += module_entries(projection, "text_embedding_projection.", values, torch.bfloat16)
    tokens = torch.frombuffer(bytearray(tokenizer_json(1024)), dtype=torch.uint8).clone()
    entries.append(("tokenizer_json", tuple(tokens.shape), torch.uint8, lambda: tokens))
    return write_safetensors(path, entries)


def write_duration_head(path: Path, cfg: dict, values: Values, tiny: bool) -> int:
    """LTX-2.5's duration head (ModelPatchLoader; LTXVDurationPredictor), bare keys."""
    import torch
    from comfy.ldm.lightricks.duration_head import DurationHead

    dims = ltx_configs.duration_head_dims(cfg[TRANSFORMERS[LTX25]], tiny) or {}
    with torch.device("meta"):
        head = DurationHead(**dims)
    return write_safetensors(path, module_entries(head, "", values, torch.bfloat16))


def tokenizer_json(vocab_size: int) -> bytes:
    """A word-level tokenizer in tokenizers' JSON (what Gemma 4's file embeds), ids 0..3 special."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = ["<pad>", "<eos>", "<bos>", "<unk>"] + [f"w{i}" for i in range(vocab_size - 4)]
    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    return tokenizer.to_str().encode()


# -- the style mode's annotators (comfyui_controlnet_aux)


def _varint(n: int) -> bytes:
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _pb(field: int, value) -> bytes:
    """One protobuf field: an int as a varint, bytes or text length-delimited."""
    if isinstance(value, int):
        return _varint(field << 3) + _varint(value)
    if isinstance(value, str):
        value = value.encode()
    return _varint(field << 3 | 2) + _varint(len(value)) + value


def yolox_onnx() -> bytes:
    """An ONNX model with YOLOX-L's interface, images [1,3,640,640] -> output [1,8400,85], that
    always finds one confident person box mid-frame (so DWPose runs its pose stage too). Written
    as protobuf by hand: the `onnx` package is not needed."""
    import numpy as np

    boxes = np.zeros((1, 8400, 85), np.float32)
    cell = 6400 + 1600 + 10 * 20 + 10  # stride-32 grid cell (10, 10)
    boxes[0, cell, 0:2] = 0.5  # centre offset within the cell
    boxes[0, cell, 2:4] = math.log(8.0)  # 8 cells = a 256 px box
    boxes[0, cell, 4] = boxes[0, cell, 5] = 0.95  # objectness, class 0 (person)

    def tensor(name, array):
        dims = b"".join(_pb(1, d) for d in array.shape)
        return dims + _pb(2, 1) + _pb(8, name) + _pb(9, array.tobytes())

    def value_info(name, dims):
        shape = b"".join(_pb(1, _pb(1, d)) for d in dims)
        return _pb(1, name) + _pb(2, _pb(1, _pb(1, 1) + _pb(2, shape)))

    def node(op, inputs, outputs, attributes=b""):
        wires = b"".join(_pb(1, i) for i in inputs) + b"".join(_pb(2, o) for o in outputs)
        return wires + _pb(3, op.lower()) + _pb(4, op) + attributes

    keepdims0 = _pb(5, _pb(1, "keepdims") + _pb(20, 2) + _pb(3, 0))
    graph = (
        _pb(1, node("ReduceMean", ["images"], ["m"], keepdims0))
        + _pb(1, node("Mul", ["m", "zero"], ["z"]))
        + _pb(1, node("Add", ["z", "boxes"], ["output"]))
        + _pb(2, "tiny_yolox")
        + _pb(5, tensor("zero", np.zeros((), np.float32)))
        + _pb(5, tensor("boxes", boxes))
        + _pb(11, value_info("images", [1, 3, 640, 640]))
        + _pb(12, value_info("output", [1, 8400, 85]))
    )
    return _pb(1, 8) + _pb(2, "make_tiny_weights") + _pb(7, graph) + _pb(8, _pb(1, "") + _pb(2, 13))


def write_onnx(path: Path, seed: int) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(yolox_onnx())
    return path.stat().st_size


def write_dwpose(path: Path, seed: int) -> int:
    """TorchScript with DWPose-L 384x288's interface: (N,3,384,288) -> simcc_x (N,133,576),
    simcc_y (N,133,768)."""
    import torch

    class TinyDWPose(torch.nn.Module):
        # Bare parameters, no submodules: a submodule's TorchScript constants are written in
        # hash order, which would make the bytes differ from run to run.
        def __init__(self):
            super().__init__()
            self.patches = torch.nn.Parameter(torch.randn(133, 3, 32, 32) / 32 / math.sqrt(3))
            self.x = torch.nn.Parameter(torch.randn(576, 12 * 9) / math.sqrt(12 * 9))
            self.y = torch.nn.Parameter(torch.randn(768, 12 * 9) / math.sqrt(12 * 9))

        def forward(self, image):
            features = torch.nn.functional.conv2d(image, self.patches, stride=32).flatten(2)
            return features @ self.x.t(), features @ self.y.t()  # N,133,12*9 -> 576, 768

    torch.manual_seed(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.jit.script(TinyDWPose().eval()).save(str(path))
    return path.stat().st_size


def write_depth_anything(path: Path, seed: int, comfy: Path) -> int:
    """depth_anything_v2_vits.pth at its real size (the pack picks the ViT-S config by file name:
    24.8 M parameters), random, fp16."""
    import torch

    aux = comfy / "custom_nodes" / "comfyui_controlnet_aux" / "src"
    if str(aux) not in sys.path:
        sys.path.insert(0, str(aux))
    from custom_controlnet_aux.depth_anything_v2.dpt import DepthAnythingV2

    torch.manual_seed(seed)
    model = DepthAnythingV2(encoder="vits", features=64, out_channels=[48, 96, 192, 384])
    state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, str(path))
    return path.stat().st_size


# -- the style mode's other depth model (ComfyUI core's MoGe nodes)


def _meta_dinov2_key(key: str, toplevel: dict, block_renames: list) -> str:
    """ComfyUI's DINOv2 name of a MoGe key back to the Meta name MoGe ships (ComfyUI's own
    rename table, inverted); query/key/value stay apart here and are fused by the caller."""
    prefix = "encoder.backbone."
    rel = key[len(prefix) :]
    inverse = {new: old for old, new in toplevel.items()}
    if rel in inverse:
        return prefix + inverse[rel]
    if not rel.startswith("encoder.layer."):
        return key
    index, sub = rel.removeprefix("encoder.layer.").split(".", 1)
    for old, new in block_renames:
        sub = sub.replace(new, old)
    return f"{prefix}blocks.{index}.{sub}"


IMAGENET = {"encoder.image_mean": (0.485, 0.456, 0.406),
            "encoder.image_std": (0.229, 0.224, 0.225)}  # fmt: skip


def write_moge(path: Path, cfg: dict, values: Values) -> int:
    """moge_2_vitl_normal_fp16.safetensors: MoGe-2 (DINOv2 encoder, neck, points / mask / normal
    heads, metric-scale MLP) in fp16, its DINOv2 under Meta's key names with fused qkv, as MoGe
    ships them; ComfyUI renames them when it loads (comfy/ldm/moge/model.py _remap_state_dict)
    and reads every size back from the shapes."""
    import comfy.ops
    import torch
    from comfy.ldm.moge import model as moge

    with torch.device("meta"):
        net = moge.MoGeModelV2(**cfg["moge"], dtype=torch.float16, device="meta",
                               operations=comfy.ops.disable_weight_init)  # fmt: skip
    entries: list[Entry] = []
    for name, shape, dtype, make in module_entries(net, "", values, torch.float16):
        if name in IMAGENET:  # the input normalisation buffers: constants, not weights
            value = torch.tensor(IMAGENET[name], dtype=dtype).view(shape)
            make = lambda v=value: v  # noqa: E731
        elif name.startswith("encoder.backbone."):
            name = _meta_dinov2_key(name, moge._DINOV2_TOPLEVEL_RENAMES, moge._DINOV2_BLOCK_RENAMES)
        entries.append((name, shape, dtype, make))
    return write_safetensors(path, _fused_qkv(entries, values))


def _fused_qkv(entries: list[Entry], values: Values) -> list[Entry]:
    """Meta's DINOv2 holds each block's query, key and value as one `attn.qkv` tensor, stacked
    in that order, where the first of the three stood."""
    out: list[Entry] = []
    at: dict[str, int] = {}
    for name, shape, dtype, make in entries:
        part = re.search(r"\.attention\.attention\.(query|key|value)\.", name)
        if part is None:
            out.append((name, shape, dtype, make))
            continue
        qkv = name.replace(part.group(0), ".attn.qkv.")
        if qkv not in at:
            at[qkv] = len(out)
            out.append((qkv, (0, *shape[1:]), dtype, None))
        rows, *rest = out[at[qkv]][1]
        stacked = (rows + shape[0], *rest)
        out[at[qkv]] = (qkv, stacked, dtype,
                        lambda n=qkv, s=stacked, d=dtype: values.make(n, s, d))  # fmt: skip
    return out


# -- the set


def _offers_auto_length(mode: str) -> bool:
    return any(f.name == "auto_length" for f in modes.MODES[mode].fields)


def graph_files() -> list[tuple[str, str]]:
    """(folder, filename) of every weight file any mode x preset x control loads (full variant),
    with each of the style mode's depth models."""
    refs: set[tuple[str, str]] = set()
    for depth in recipes.STYLE_DEPTH.choices:
        refs |= {
            (ref.folder, ref.filename)
            for mode in modes.MODES
            for preset in modes.PRESETS
            for control in modes.CONTROL_NODES
            for model in modes.MODES[mode].models
            for auto in ((False, True) if _offers_auto_length(mode) else (False,))
            for ref in modes.required_models(
                mode, preset, control, model, auto_length=auto, depth_model=depth
            )
        }
    return sorted(refs)


def lora_files() -> list[tuple[str, str]]:
    """(family, filename in loras/) of each LoRA a job may add that the set holds."""
    out = []
    for family, own in OWN_LORAS.items():
        out.append((family, own))
        out += [(family, loras.parse("lora", k.name, family).filename) for k in loras.known(family)]
    return out


def writer_for(folder: str, filename: str, cfg: dict, values: Values, args) -> Callable:
    name = Path(filename).name
    tiny = args.size == "tiny"
    if folder == "diffusion_models":
        return lambda p: write_transformer_25(p, cfg, values)
    if folder == "vae":
        if "audio" in name:
            return lambda p: write_audio_vae_25(p, cfg, values)
        return lambda p: write_video_vae_25(p, cfg, values, tiny)
    if folder == "text_encoders" and name.startswith("gemma4"):
        return lambda p: write_gemma4(p, cfg, values, tiny)
    if folder == "model_patches" and "duration-head" in name:
        return lambda p: write_duration_head(p, cfg, values, tiny)
    writers = {
        "checkpoints": lambda p: write_checkpoint(p, cfg, values),
        "text_encoders": lambda p: write_gemma(p, cfg, values, args.seed, tiny),
        "latent_upscale_models": lambda p: write_upscaler(p, cfg, values),
    }
    if folder in writers:
        return writers[folder]
    if folder == "loras":
        metadata = IC_LORA_METADATA if "ic-lora" in name else None
        family = next((f for f, n in lora_files() if n == filename), LTX23)
        return lambda p: write_lora(p, cfg, values, metadata, family)
    if folder == "controlnet_aux" and name.endswith(".onnx"):
        return lambda p: write_onnx(p, args.seed)
    if folder == "controlnet_aux" and name.endswith(".torchscript.pt"):
        return lambda p: write_dwpose(p, args.seed)
    if folder == "controlnet_aux" and name.startswith("depth_anything_v2_vits"):
        return lambda p: write_depth_anything(p, args.seed, args.comfyui)
    if folder == "geometry_estimation" and name.startswith("moge_2"):
        return lambda p: write_moge(p, cfg, values)
    raise SystemExit(f"no writer for {folder}/{filename}: teach make_tiny_weights.py its layout")


def text_encoder_dims(cfg: dict) -> dict:
    """What tinyset.install_seam gives ComfyUI's hard-coded Gemma 3 12B and Gemma 4 12B."""
    return {
        "gemma": dict(cfg["gemma"]),
        "vision": ltx_configs.TINY_GEMMA_VISION,
        "mm_tokens_per_image": ltx_configs.TINY_MM_TOKENS_PER_IMAGE,
        "projection": list(ltx_configs.projection_dims(cfg["gemma"], cfg["transformer"])),
        "gemma4": {**ltx_configs.TINY_GEMMA4, **ltx_configs.TINY_GEMMA4_CLASS},
    }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def _identity(args) -> dict:
    return {"version": VERSION, "seed": args.seed, "size": args.size,
            "sparse_above": args.sparse_above,
            "skipped": sorted(getattr(args, "skip", None) or [])}  # fmt: skip


def is_current(out: Path, args) -> bool:
    """A set made by this version with these settings, every file still whole."""
    marker = tinyset.read_marker(out)
    if not marker or any(
        marker.get(k) != v for k, v in {**_identity(args), "complete": True}.items()
    ):
        return False
    return all(
        (out / name).is_file() and (out / name).stat().st_size == info["size"]
        for name, info in marker["files"].items()
    )


def foreign_weights(out: Path) -> list[Path]:
    """Weight files in `out` that no marker of this tool lists: real weights, never overwritten."""
    marker = tinyset.read_marker(out, complete=False) or {"files": {}}
    ours = {out / name for name in marker["files"]}
    return [
        path
        for path in (out.rglob("*") if out.is_dir() else ())
        if path.is_file() and path.name.endswith(WEIGHT_SUFFIXES) and path not in ours
    ]


def _alias(source: Path, alias: Path) -> None:
    alias.parent.mkdir(parents=True, exist_ok=True)
    alias.unlink(missing_ok=True)
    try:
        os.link(source, alias)
    except OSError:  # no hard links on this file system
        shutil.copyfile(source, alias)


def _write_marker(out: Path, marker: dict) -> None:
    part = out / (tinyset.MARKER + ".part")
    part.write_text(json.dumps(marker, indent=1) + "\n")
    part.replace(out / tinyset.MARKER)


def make_set(args) -> dict:
    import torch

    out: Path = args.out
    foreign = foreign_weights(out)
    if foreign:
        raise SystemExit(
            f"{out} holds weight files this tool did not write ({foreign[0]}, ...): choose an "
            "empty folder; real weights are never overwritten"
        )
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    cfg = ltx_configs.configs(args.size)
    values = Values(args.seed, args.sparse_above)
    # Listed before it is written (and what an earlier run wrote stays listed until this one
    # ends), so a run cut short leaves only files a rerun knows as its own; only a complete
    # marker makes a usable set.
    earlier = (tinyset.read_marker(out, complete=False) or {}).get("files", {})
    marker = {
        **_identity(args),
        "complete": False,
        "note": "random weights for tests and timing: they make noise, not video",
        # The real sizes need no seam: ComfyUI's hard-coded encoders are those sizes.
        "text_encoder": text_encoder_dims(cfg) if args.size == "tiny" else None,
        "duration_head": ltx_configs.duration_head_dims(
            cfg[TRANSFORMERS[LTX25]], args.size == "tiny"
        ),
        "enhance_max_tokens": TINY_ENHANCE_TOKENS if args.size == "tiny" else None,
        "files": {name: {"size": None, "earlier": True} for name in earlier},
    }
    files = marker["files"]
    out.mkdir(parents=True, exist_ok=True)
    for folder, filename in graph_files() + [("loras", name) for _, name in lora_files()]:
        if folder in args.skip:
            continue
        key = f"{folder}/{filename}"
        files[key] = {"size": None}  # written by this run: no longer an earlier one's
        _write_marker(out, marker)
        started = time.perf_counter()
        files[key]["size"] = writer_for(folder, filename, cfg, values, args)(out / key)
        print(f"{files[key]['size']:>15,d} B {time.perf_counter() - started:6.1f} s  {key}")
    for real, fp8 in VARIANTS["fp8"].items():
        for key in [k for k in list(files) if Path(k).name == real]:
            alias = Path(key).with_name(fp8).as_posix()
            files[alias] = {"size": files[key]["size"], "alias_of": key}
            _write_marker(out, marker)
            _alias(out / key, out / alias)
    for name in [n for n, info in files.items() if info.get("earlier")]:
        (out / name).unlink(missing_ok=True)  # an earlier layout's file this one does not have
        del files[name]
    if not args.sparse_above:
        for name, info in files.items():
            info["sha256"] = _sha256(out / name)
    marker["complete"] = True
    _write_marker(out, marker)
    return marker


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=DEFAULT_OUT, help="models folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", choices=("tiny", "real"), default="tiny")
    parser.add_argument(
        "--sparse-above",
        type=int,
        default=None,
        metavar="NUMEL",
        help="leave tensors with more elements than this as zero-reading holes",
    )
    parser.add_argument("--comfyui", type=Path, default=None, help="pinned ComfyUI checkout")
    parser.add_argument(
        "--skip", action="append", default=[], metavar="FOLDER",
        help="leave this models folder out (e.g. controlnet_aux where the pack is not installed: "
        "the modes that need it cannot run on the set)",
    )  # fmt: skip
    parser.add_argument("--force", action="store_true", help="write even if a current set is there")
    args = parser.parse_args(argv)  # fmt: skip
    args.out = args.out.expanduser().resolve()
    args.comfyui = (args.comfyui or pins.comfy_dir()).expanduser().resolve()
    if not args.force and is_current(args.out, args):
        print(f"kept the current tiny set in {args.out}")
        return 0
    comfy_setup(args.comfyui)
    started = time.perf_counter()
    marker = make_set(args)
    total = sum(info["size"] for info in marker["files"].values() if "alias_of" not in info)
    print(f"{total:>15,d} B {time.perf_counter() - started:6.1f} s  in {args.out}")
    print(f"use it: LTX_AIO_MODELS_DIR={args.out} {tinyset.ENV}=1")
    return 0


if __name__ == "__main__":
    sys.exit(main())
