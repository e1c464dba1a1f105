"""API-format workflow templates: load, find nodes by title, list model files, validate.

A template is ComfyUI's API format: {node_id: {"class_type", "inputs", "_meta": {"title"}}}.
Links are [source_node_id, output_slot]. Patches address nodes by their stable title, never by id.
`validate` checks a prompt against a node-schema snapshot (what ComfyUI's /object_info returns)
without torch or ComfyUI, so CI can check every mode x preset; ComfyUI's own validate_prompt
(`comfy_engine.validate`) is the second, stricter layer where a pinned checkout exists.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent
WORKFLOWS_DIR = ROOT / "workflows"
SCHEMAS_PATH = ROOT / "workflows" / "schemas" / "object_info.json"


class ModelRef(NamedTuple):
    folder: str  # ComfyUI folder type ("checkpoints", "loras", ...) or "controlnet_aux"
    filename: str  # relative to that folder, exactly as the graph references it
    node_title: str


# (class_type, input) -> ComfyUI folder type of the file the input names.
MODEL_INPUTS: dict[tuple[str, str], str] = {
    ("CheckpointLoaderSimple", "ckpt_name"): "checkpoints",
    ("LTXVAudioVAELoader", "ckpt_name"): "checkpoints",
    ("LTXAVTextEncoderLoader", "text_encoder"): "text_encoders",
    ("LTXAVTextEncoderLoader", "ckpt_name"): "checkpoints",
    ("LoraLoaderModelOnly", "lora_name"): "loras",
    ("LTXICLoRALoaderModelOnly", "lora_name"): "loras",
    ("LatentUpscaleModelLoader", "model_name"): "latent_upscale_models",
    ("UNETLoader", "unet_name"): "diffusion_models",
    ("UnetLoaderGGUF", "unet_name"): "unet",
    ("VAELoader", "vae_name"): "vae",
    ("CLIPLoader", "clip_name"): "text_encoders",
    ("ModelPatchLoader", "name"): "model_patches",
    ("LoadMoGeModel", "model_name"): "geometry_estimation",
}

# comfyui_controlnet_aux fetches its annotator weights itself (hf_hub_download into the pack's
# ckpts/<repo>/ dir) instead of using folder_paths; listed so the weights can be preloaded.
AUX_INPUTS: dict[tuple[str, str], str] = {
    ("DWPreprocessor", "bbox_detector"): "yzd-v/DWPose",
    ("DWPreprocessor", "pose_estimator"): "hr16/DWPose-TorchScript-BatchSize5",
    ("DepthAnythingV2Preprocessor", "ckpt_name"): "depth-anything/Depth-Anything-V2-Small",
}

# Inputs whose combo lists are files on disk (they differ per machine, so a snapshot can't judge).
UPLOAD_FLAGS = ("image_upload", "audio_upload", "video_upload")


def _read_template(name: str) -> dict:
    path = WORKFLOWS_DIR / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no workflow template {path.name} in {WORKFLOWS_DIR.name}/")
    return json.loads(path.read_text())


@functools.cache
def _cached_template(name: str) -> str:
    return json.dumps(_read_template(name))


def load_template(name: str) -> dict:
    """A fresh deep copy of workflows/<name>.json, safe to patch."""
    return json.loads(_cached_template(name))


def find_node(prompt: dict, title: str) -> tuple[str, dict]:
    matches = [(nid, n) for nid, n in prompt.items() if _title(n) == title]
    if not matches:
        raise KeyError(f"no node titled {title!r} in this workflow")
    if len(matches) > 1:
        raise KeyError(f"{len(matches)} nodes titled {title!r}; titles must be unique")
    return matches[0]


def has_node(prompt: dict, title: str) -> bool:
    return any(_title(n) == title for n in prompt.values())


def link(prompt: dict, title: str, slot: int = 0) -> list:
    """A link to output `slot` of the node titled `title`."""
    return [find_node(prompt, title)[0], slot]


def set_input(prompt: dict, title: str, name: str, value) -> None:
    _, node = find_node(prompt, title)
    node["inputs"][name] = value


def add_node(prompt: dict, class_type: str, inputs: dict, title: str) -> str:
    """A new node titled `title` (a fresh id after the highest); returns its id."""
    if has_node(prompt, title):
        raise KeyError(f"a node titled {title!r} is already in this workflow")
    new_id = str(max((int(k) for k in prompt if str(k).isdigit()), default=0) + 1)
    prompt[new_id] = {"class_type": class_type, "inputs": inputs, "_meta": {"title": title}}
    return new_id


def relink(prompt: dict, old: list, new: list, keep: set[str] = frozenset()) -> None:
    """Every input linked to output `old` takes `new` instead (nodes in `keep` excepted)."""
    for nid, node in prompt.items():
        if nid in keep:
            continue
        for name, value in node.get("inputs", {}).items():
            if _is_link(value) and [str(value[0]), value[1]] == [str(old[0]), old[1]]:
                node["inputs"][name] = list(new)


def _title(node: dict) -> str:
    return (node.get("_meta") or {}).get("title", "")


def _is_link(value) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    )


def model_files(prompt: dict) -> list[ModelRef]:
    """Every weight file the graph loads, once per (folder, filename), in graph order."""
    seen: dict[tuple[str, str], ModelRef] = {}
    for node in prompt.values():
        cls, inputs, title = node.get("class_type"), node.get("inputs", {}), _title(node)
        for (c, name), folder in MODEL_INPUTS.items():
            if c == cls and isinstance(inputs.get(name), str):
                seen.setdefault((folder, inputs[name]), ModelRef(folder, inputs[name], title))
        for (c, name), repo in AUX_INPUTS.items():
            value = inputs.get(name)
            if c == cls and isinstance(value, str) and value != "None":
                ref = ModelRef("controlnet_aux", f"{repo}/{value}", title)
                seen.setdefault((ref.folder, ref.filename), ref)
    return list(seen.values())


# Output nodes known without a schema snapshot: the videos, and the enhancer's text (PreviewAny).
OUTPUT_CLASSES = ("SaveVideo", "SaveImage", "PreviewAny")


def output_nodes(prompt: dict, schemas: dict | None = None) -> list[str]:
    out = []
    for nid, node in prompt.items():
        info = (schemas or {}).get(node.get("class_type"), {})
        if info.get("output_node") or node.get("class_type") in OUTPUT_CLASSES:
            out.append(nid)
    return out


def prune(prompt: dict, schemas: dict | None = None) -> list[str]:
    """Drop nodes no output depends on (e.g. stage 2 after a single-stage patch); returns titles."""
    keep: set[str] = set()
    stack = output_nodes(prompt, schemas)
    while stack:
        nid = stack.pop()
        if nid in keep or nid not in prompt:
            continue
        keep.add(nid)
        stack.extend(v[0] for v in prompt[nid].get("inputs", {}).values() if _is_link(v))
    dropped = [nid for nid in prompt if nid not in keep]
    titles = [_title(prompt[nid]) for nid in dropped]
    for nid in dropped:
        del prompt[nid]
    return titles


# ---------------------------------------------------------------- validation against a snapshot


@functools.lru_cache(maxsize=4)
def _load_schemas_cached(path: str) -> dict:
    return json.loads(Path(path).read_text())


def load_schemas(path: Path | str | None = None) -> dict:
    """The committed node-schema snapshot (a trimmed /object_info of the pinned ComfyUI + packs).

    Shared and cached: treat it as read-only."""
    return _load_schemas_cached(str(path or SCHEMAS_PATH))


def _spec_options(spec: list) -> dict:
    return spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}


def _input_specs(info: dict, key: str = "input") -> dict[str, tuple[list, bool]]:
    """name -> (spec, required) for the plain (non-hidden) inputs of a schema section."""
    specs: dict[str, tuple[list, bool]] = {}
    for section, required in (("required", True), ("optional", False)):
        for name, spec in ((info.get(key) or {}).get(section) or {}).items():
            specs[name] = (spec, required)
    return specs


def _expand_dynamic(specs: dict, inputs: dict) -> tuple[dict, list[str]]:
    """Resolve V3 dynamic inputs: a DYNAMICCOMBO adds `name.sub` inputs of the chosen option,
    an AUTOGROW accepts `name.<letter>` inputs of its template type."""
    out, problems = {}, []
    for name, (spec, required) in specs.items():
        kind = spec[0] if spec else None
        opts = _spec_options(spec)
        if kind == "COMFY_DYNAMICCOMBO_V3":
            keys = [o["key"] for o in opts.get("options", [])]
            out[name] = (["COMBO", {"options": keys}], required)
            chosen = inputs.get(name)
            for option in opts.get("options", []):
                if option["key"] == chosen:
                    for sub, (subspec, subreq) in _input_specs(option, "inputs").items():
                        out[f"{name}.{sub}"] = (subspec, subreq)
        elif kind == "COMFY_AUTOGROW_V3":
            template = opts.get("template", {})
            tmpl_specs = _input_specs(template)
            names = template.get("names") or []
            minimum = template.get("min", 0)
            for i, letter in enumerate(names):
                for sub_spec, _ in tmpl_specs.values():
                    out[f"{name}.{letter}"] = (sub_spec, i < minimum)
        else:
            out[name] = (spec, required)
    return out, problems


def _types(type_name) -> set[str]:
    if isinstance(type_name, list):
        return {"COMBO"}
    return {t.strip() for t in str(type_name).split(",") if t.strip()}


def _accepts(expected, received: str) -> bool:
    exp, got = _types(expected), _types(received)
    if "*" in exp or "*" in got:
        return True
    return bool(exp & got)


def _expected_type(spec: list) -> object:
    kind = spec[0]
    if kind == "COMFY_MATCHTYPE_V3":
        return _spec_options(spec).get("template", {}).get("allowed_types", "*")
    return kind


def _output_type(prompt: dict, schemas: dict, nid: str, slot: int, depth: int = 0) -> str | None:
    node = prompt.get(nid)
    info = schemas.get(node.get("class_type")) if node else None
    if not info or slot >= len(info.get("output", [])):
        return None
    out = info["output"][slot]
    if isinstance(out, list):
        return "COMBO"
    if out == "COMFY_MATCHTYPE_V3" and depth < 32:
        # A match-type output has the type of whatever feeds its match-type input.
        for name, (spec, _) in _input_specs(info).items():
            value = node["inputs"].get(name)
            if spec and spec[0] == "COMFY_MATCHTYPE_V3" and _is_link(value):
                return _output_type(prompt, schemas, value[0], value[1], depth + 1)
        return "*"
    return out


def _is_file_combo(cls: str, name: str, opts: dict) -> bool:
    return (cls, name) in MODEL_INPUTS or any(opts.get(flag) for flag in UPLOAD_FLAGS)


def _check_value(where: str, cls: str, name: str, spec: list, value) -> list[str]:
    kind, opts = spec[0], _spec_options(spec)
    if isinstance(kind, str) and "," in kind and _types(kind) <= {"INT", "FLOAT"}:
        kind = "FLOAT"  # a number input that takes either (v0.33's LTXVEmptyLatentAudio rate)
    if isinstance(kind, list) or kind == "COMBO":
        options = kind if isinstance(kind, list) else opts.get("options", [])
        # An emptied list is a disk listing the snapshot deliberately leaves out.
        if _is_file_combo(cls, name, opts) or not options:
            return [] if isinstance(value, str) and value else [f"{where}: needs a file name"]
        if value not in options:
            shown = ", ".join(map(str, options[:12])) + (" ..." if len(options) > 12 else "")
            return [f"{where}: {value!r} is not one of: {shown}"]
        return []
    if kind == "INT":
        if isinstance(value, bool) or not isinstance(value, int):
            return [f"{where}: expects an integer, got {type(value).__name__} {value!r}"]
    elif kind == "FLOAT":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return [f"{where}: expects a number, got {type(value).__name__} {value!r}"]
        if not math.isfinite(value):
            return [f"{where}: expects a finite number, got {value!r}"]
    elif kind == "STRING":
        if not isinstance(value, str):
            return [f"{where}: expects text, got {type(value).__name__}"]
        return []
    elif kind == "BOOLEAN":
        if not isinstance(value, bool):
            return [f"{where}: expects true/false, got {value!r}"]
        return []
    else:
        return [f"{where}: a {kind} input must be linked to a node output, got a value {value!r}"]
    lo, hi = opts.get("min"), opts.get("max")
    if lo is not None and value < lo:
        return [f"{where}: {value} is below the minimum {lo} (allowed {lo}..{hi})"]
    if hi is not None and value > hi:
        return [f"{where}: {value} is above the maximum {hi} (allowed {lo}..{hi})"]
    return []


def validate(prompt: dict, schemas: dict) -> list[str]:
    """Problems with `prompt` judged by the node schemas; each names node title + input."""
    if not isinstance(prompt, dict) or not prompt:
        return ["workflow: expected a non-empty API-format prompt {node_id: {class_type, inputs}}"]
    problems: list[str] = []
    for nid, node in prompt.items():
        if not isinstance(node, dict) or "class_type" not in node:
            problems.append(f"node {nid}: not an API-format node (no class_type)")
            continue
        cls = node["class_type"]
        label = f"node '{_title(node) or nid}' ({cls})"
        info = schemas.get(cls)
        if info is None:
            problems.append(f"{label}: unknown node class (not in the pinned node set)")
            continue
        inputs = node.get("inputs")
        if not isinstance(inputs, dict):
            problems.append(f"{label}: inputs must be a mapping")
            continue
        specs, extra = _expand_dynamic(_input_specs(info), inputs)
        problems.extend(f"{label}: {p}" for p in extra)
        for name, (spec, required) in specs.items():
            if name not in inputs:
                if required:
                    problems.append(f"{label} input '{name}': required input is missing")
                continue
            value, where = inputs[name], f"{label} input '{name}'"
            if _is_link(value):
                src = prompt.get(value[0])
                if src is None:
                    problems.append(f"{where}: links to node {value[0]}, which does not exist")
                    continue
                got = _output_type(prompt, schemas, value[0], value[1])
                if got is None:
                    problems.append(
                        f"{where}: links to a missing output {value[1]} of node {value[0]}"
                    )
                elif not _accepts(_expected_type(spec), got):
                    want = _expected_type(spec)
                    problems.append(f"{where}: expects {want}, but the link gives {got}")
            else:
                problems.extend(_check_value(where, cls, name, spec, value))
        for name in inputs:
            if name not in specs:
                problems.append(f"{label} input '{name}': no such input on {cls}")
    if not output_nodes(prompt, schemas):
        problems.append("workflow: has no output node (e.g. SaveVideo), so nothing would run")
    return problems
