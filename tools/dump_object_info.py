"""Regenerate the committed node-schema snapshot workflows/schemas/object_info.json.

Source, one of:
  --comfyui DIR   a pinned ComfyUI checkout (run with the Python that has its deps): the nodes are
                  loaded in-process, without a server, and described as GET /object_info would.
  --from FILE     an /object_info JSON already dumped from a pinned install.

The snapshot keeps the node families the app can use (core, LTX core + pack, audio/video/image
helpers, preprocessors, GGUF) plus every class a workflow references, so it stays well under 1 MB.
Model-file combo lists are emptied: they describe one machine's disk, not the pins.

  python tools/dump_object_info.py --comfyui comfyui
  python tools/dump_object_info.py --from object_info.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import workflow  # noqa: E402

KEEP_MODULES = (
    "nodes",
    "comfy_extras.nodes_lt",
    "comfy_extras.nodes_lt_audio",
    "comfy_extras.nodes_lt_upsampler",
    "comfy_extras.nodes_audio",
    "comfy_extras.nodes_video",
    "comfy_extras.nodes_images",
    "comfy_extras.nodes_post_processing",
    "comfy_extras.nodes_custom_sampler",
    "comfy_extras.nodes_mask",
    "comfy_extras.nodes_primitive",
    "comfy_extras.nodes_math",
    "comfy_extras.nodes_canny",
    "comfy_extras.nodes_hunyuan",
    "comfy_extras.nodes_latent",
    "custom_nodes.comfyui_controlnet_aux",
    "custom_nodes.ComfyUI-GGUF",
    "custom_nodes.aio_nodes",  # the app's own (worker_nodes/aio_nodes)
)
DROP_KEYS = ("description", "search_aliases", "output_tooltips", "display_name", "category")


def used_classes() -> set[str]:
    classes: set[str] = set()
    for path in sorted(workflow.WORKFLOWS_DIR.glob("*.json")):
        classes |= {n["class_type"] for n in json.loads(path.read_text()).values()}
    return classes


# Inputs that list files on this machine's disk (checkpoints, LoRAs, configs, ...).
DISK_LIST = re.compile(
    r"^(ckpt|lora|clip|unet|vae|model|control_net|config|style_model|gligen|upscale_model"
    r"|audio_encoder)_name\d*$|^(text_encoder|gemma_path|ltxv_path)$"
)


def _is_disk_list(class_name: str, module: str, input_name: str, spec) -> bool:
    opts = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    if (class_name, input_name) in workflow.MODEL_INPUTS:
        return True
    if any(opts.get(flag) for flag in workflow.UPLOAD_FLAGS):
        return True
    # controlnet_aux lists fixed annotator names it downloads itself: those are real choices.
    return module != "custom_nodes.comfyui_controlnet_aux" and bool(DISK_LIST.match(input_name))


def _empty_file_lists(name: str, info: dict) -> None:
    module = info.get("python_module", "")
    for section in ("required", "optional"):
        for input_name, spec in (info.get("input", {}).get(section) or {}).items():
            if not _is_disk_list(name, module, input_name, spec):
                continue
            if isinstance(spec[0], list):
                spec[0] = []
            elif len(spec) > 1 and isinstance(spec[1], dict) and "options" in spec[1]:
                spec[1]["options"] = []


def _strip_tooltips(value):
    if isinstance(value, dict):
        return {k: _strip_tooltips(v) for k, v in value.items() if k != "tooltip"}
    if isinstance(value, list):
        return [_strip_tooltips(v) for v in value]
    return value


def trim(object_info: dict, keep_classes: set[str]) -> dict:
    out = {}
    for name in sorted(object_info):
        info = object_info[name]
        if name not in keep_classes and info.get("python_module") not in KEEP_MODULES:
            continue
        info = _strip_tooltips(json.loads(json.dumps(info)))
        for key in DROP_KEYS:
            info.pop(key, None)
        _empty_file_lists(name, info)
        out[name] = info
    missing = sorted(keep_classes - set(out))
    if missing:
        raise SystemExit(f"the source lacks classes the workflows use: {', '.join(missing)}")
    return out


def _describe(name: str, cls) -> dict:
    """What /object_info says of one node class (V3 nodes describe themselves)."""
    if hasattr(cls, "GET_NODE_INFO_V1"):
        return cls.GET_NODE_INFO_V1()
    types = cls.INPUT_TYPES()
    outputs = list(cls.RETURN_TYPES)
    return {
        "input": types,
        "input_order": {k: list(v.keys()) for k, v in types.items()},
        "is_input_list": getattr(cls, "INPUT_IS_LIST", False),
        "output": outputs,
        "output_is_list": list(getattr(cls, "OUTPUT_IS_LIST", [False] * len(outputs))),
        "output_name": list(getattr(cls, "RETURN_NAMES", outputs)),
        "name": name,
        "python_module": getattr(cls, "RELATIVE_PYTHON_MODULE", "nodes"),
        "output_node": bool(getattr(cls, "OUTPUT_NODE", False)),
        "has_intermediate_output": bool(getattr(cls, "HAS_INTERMEDIATE_OUTPUT", False)),
        **{flag: True for flag in ("deprecated", "experimental", "dev_only")
           if getattr(cls, flag.upper(), False)},
        **({"api_node": cls.API_NODE} if hasattr(cls, "API_NODE") else {}),
        **({"essentials_category": cls.ESSENTIALS_CATEGORY}
           if hasattr(cls, "ESSENTIALS_CATEGORY") else {}),
    }  # fmt: skip


def live_object_info(comfy_dir: Path) -> dict:
    """Start the app's in-process ComfyUI (comfy_engine.engine: stub server, packs, checks) on
    `comfy_dir` and describe every registered node class."""
    os.environ["LTX_AIO_COMFYUI_DIR"] = str(comfy_dir.resolve())
    import comfy_engine

    comfy_engine.engine()
    import nodes  # ComfyUI's module, importable once the engine put its dir on sys.path

    info = {}
    for name, cls in nodes.NODE_CLASS_MAPPINGS.items():
        try:
            info[name] = _describe(name, cls)
        except Exception as exc:  # a broken pack node must not hide the others
            print(f"skipped {name}: {exc}", file=sys.stderr)
    return json.loads(json.dumps(info, default=str))


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--comfyui", type=Path, help="pinned ComfyUI checkout to load in-process")
    src.add_argument("--from", dest="source", type=Path, help="an /object_info JSON dump")
    ap.add_argument("--out", type=Path, default=workflow.SCHEMAS_PATH)
    args = ap.parse_args(argv)
    full = json.loads(args.source.read_text()) if args.source else live_object_info(args.comfyui)
    snapshot = trim(full, used_classes())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(snapshot, indent=None, separators=(",", ":"), sort_keys=True)
    args.out.write_text(text + "\n")
    print(f"wrote {args.out} ({len(snapshot)} classes, {len(text) // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
