"""The LoRAs a job adds to its model: what a LoRA field's value names, the known LoRAs of each
model family, and whether a LoRA file fits the model it is put on.

A LoRA field takes one of:
- a known LoRA's short name (`KNOWN`: Lightricks' own, per family; a name means the LoRA of the
  job's family, and one that family has none of is refused);
- `hf:Owner/Repo/path/file.safetensors`, a file on the Hugging Face Hub: downloaded with progress
  into the same cache as every other weight file, and seen by ComfyUI as
  loras/hf/Owner/Repo/path/file.safetensors (so two repos' files of one name never meet);
- the name of a file in the local LoRA folder, <models>/loras (a sub-folder is fine; nothing
  outside it is).

Whether a LoRA fits is read from the safetensors headers alone (8 bytes of length, then JSON):
every layer it changes must be a layer of the model with the LoRA's widths, or ComfyUI would
skip it and the job would run with a LoRA that does nothing. A file is never read whole here.
Official LoRAs do not load across families (a 2.5 checkpoint cannot use 2.3 LoRAs and the
reverse: LTX-2 README, see model_manifest.py), and their shapes say so.
"""

from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import owners
import pins
import recipes
from errors import bad_input
from model_manifest import LTX, ModelFile

SLOTS = (1, 2, 3, 4)  # lora_1 .. lora_4, each with its lora_k_strength
HUB_PREFIX = "hf:"
HUB_FOLDER = "hf"  # loras/hf/<owner>/<repo>/<path>: where a Hub LoRA is linked
# On a deployment others reach (owners.shared), the Hub repos a visitor may name besides the
# known LoRAs' (comma- or space-separated Owner/Repo; `*`: any): each one names downloads the
# operator's disk, bandwidth and token pay for, while the visitor's job holds its GPU turn.
HUB_ENV = "LTX_AIO_HUB_LORAS"
SUFFIX = ".safetensors"
# A LoRA's header holds a few thousand tensor entries (~100 bytes each); a model's, about as
# many. A bigger one is no file this app should parse.
MAX_HEADER = 8 * 1024 * 1024
FAMILY_TITLES = {recipes.LTX25: "LTX-2.5", recipes.LTX23: "LTX-2.3"}


@dataclass(frozen=True)
class Known:
    """A published LoRA of one model family, by the short name a LoRA field takes."""

    name: str
    family: str
    repo: str
    path: str
    does: str
    source: str
    gated: bool | None = None
    note: str = ""

    @property
    def ref(self) -> str:
        return f"{HUB_PREFIX}{self.repo}/{self.path}"


# Only LoRAs whose repo and file were found in a published source (the URL beside each). Lightricks'
# camera-control LoRAs (dolly, jib, static) are for LTX-2 19B, neither family here, so they are
# not listed; IC-LoRAs need a reference video and a loader of their own, so they are not either.
KNOWN: tuple[Known, ...] = (
    # https://huggingface.co/Lightricks/LTX-2.3-22b-LoRA-Cinemagraph (model card: "Model Files")
    Known(
        "cinemagraph", recipes.LTX23, "Lightricks/LTX-2.3-22b-LoRA-Cinemagraph",
        "ltx-2.3-22b-lora-cinemagraph-0.9.safetensors",
        "a still becomes a loop where one thing moves; start the prompt with CINEMAGRAPH_MOTION",
        "huggingface.co/Lightricks/LTX-2.3-22b-LoRA-Cinemagraph model card", gated=True,
    ),
    # https://huggingface.co/Lightricks/LTX-2.5-22b-LoRA-Cinemagraph; the file name from public
    # download scripts (…/resolve/main/ltx-2.5-22b-lora-cinemagraph-0.9.safetensors)
    Known(
        "cinemagraph", recipes.LTX25, "Lightricks/LTX-2.5-22b-LoRA-Cinemagraph",
        "ltx-2.5-22b-lora-cinemagraph-0.9.safetensors",
        "a still becomes a loop where one thing moves; start the prompt with CINEMAGRAPH_MOTION",
        "huggingface.co/Lightricks/LTX-2.5-22b-LoRA-Cinemagraph; file: its resolve URL in "
        "public download scripts", gated=None,
    ),
    # https://huggingface.co/Lightricks/LTX-2.5-22b-LoRA-Slow-Motion-Control; the file name from
    # public download scripts and LoRA guides
    Known(
        "slow-motion", recipes.LTX25, "Lightricks/LTX-2.5-22b-LoRA-Slow-Motion-Control",
        "ltx-2.5-22b-lora-slow-motion-control-1.0.safetensors",
        "slower physical motion at the same frame rate",
        "huggingface.co/Lightricks/LTX-2.5-22b-LoRA-Slow-Motion-Control; file: its resolve URL "
        "in public download scripts", gated=None,
        note="its speed knob needs the repo's own speed-control graph; a plain loader, as here, "
        "applies it at its trained default",
    ),
)  # fmt: skip


def known(family: str) -> tuple[Known, ...]:
    return tuple(k for k in KNOWN if k.family == family)


def title(family: str | None) -> str:
    return FAMILY_TITLES.get(family or "", family or "this model")


# -- what a field's value names


@dataclass(frozen=True)
class Ref:
    """One LoRA a job names: `filename` is what ComfyUI's loader is given (relative to loras/)."""

    text: str  # as the field has it
    filename: str
    repo: str | None = None  # a Hub LoRA's
    path: str | None = None
    known: Known | None = None

    @property
    def hub(self) -> bool:
        return self.repo is not None


_OWNER_REPO = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._ +()\[\]-]{0,199}")


def _safe_parts(field: str, text: str, parts: list[str], what: str) -> None:
    for part in parts:
        if part in ("", ".", "..") or not _PART.fullmatch(part):
            raise bad_input(
                field, f"{text!r} is not a {what}: {part!r} is not a plain file or folder name",
                hint="Letters, digits, spaces and . _ - + ( ) [ ] only; no '..', no absolute "
                "path. Put the file in the LoRA folder and give its name.",
            )  # fmt: skip


def hub_repo_allowed(repo: str) -> bool:
    """Whether a job may name a Hub LoRA of `repo` that is not a known one: always on a
    single-user install; on a shared deployment only the repos HUB_ENV lists."""
    if not owners.shared():
        return True
    allowed = set(re.split(r"[\s,]+", os.environ.get(HUB_ENV, "").strip())) - {""}
    return "*" in allowed or repo in allowed


def parse(field: str, text: str, family: str | None) -> Ref:
    """The LoRA a field's value names, for a job on `family`; a value that cannot be one is
    refused naming the field. Reads nothing from disk."""
    text = text.strip()
    family = family or recipes.LTX23
    by_name = {k.name: k for k in known(family)}
    if text in by_name:
        k = by_name[text]
        return Ref(text, _hub_filename(k.repo, k.path), k.repo, k.path, k)
    elsewhere = [k for k in KNOWN if k.name == text]
    if elsewhere:
        others = ", ".join(title(k.family) for k in elsewhere)
        raise bad_input(
            field, f"{text} is a LoRA for {others}; {title(family)} cannot use it",
            hint=f"Choose {' or '.join(sorted(by_name)) or 'another LoRA'}, or switch the model.",
        )  # fmt: skip
    if text.startswith(HUB_PREFIX):
        parts = text[len(HUB_PREFIX) :].split("/")
        if len(parts) < 3 or not all(_OWNER_REPO.fullmatch(p) for p in parts[:2]):
            raise bad_input(
                field, f"{text!r} is not a Hub LoRA reference",
                hint="Write hf:Owner/Repo/path/in/repo/file.safetensors.",
            )  # fmt: skip
        _safe_parts(field, text, parts[2:], "Hub LoRA reference")
        _suffix(field, text)
        repo, path = "/".join(parts[:2]), "/".join(parts[2:])
        match = next((k for k in KNOWN if (k.repo, k.path) == (repo, path)), None)
        if match is None and not hub_repo_allowed(repo):
            raise bad_input(
                field, f"this server takes LoRAs from the Hub only from the repos its operator "
                f"allows, and {repo} is not one",
                hint=f"Choose a known LoRA ({', '.join(sorted(by_name)) or 'none for this model'}"
                f"), or ask the operator to add {repo} to {HUB_ENV}.",
            )  # fmt: skip
        if match is not None and match.family != family:
            raise bad_input(
                field, f"{text} is the {title(match.family)} {match.name} LoRA; "
                f"{title(family)} cannot use it",
                hint=f"Choose a LoRA made for {title(family)}, or switch the model.",
            )  # fmt: skip
        return Ref(text, _hub_filename(repo, path), repo, path, match)
    parts = text.replace("\\", "/").split("/")
    _safe_parts(field, text, parts, "LoRA file name")
    _suffix(field, text)
    if parts[0] == HUB_FOLDER:
        raise bad_input(
            field, f"{text!r}: the LoRA folder's {HUB_FOLDER}/ holds downloaded Hub LoRAs",
            hint=f"Name a Hub LoRA as {HUB_PREFIX}Owner/Repo/file.safetensors.",
        )  # fmt: skip
    return Ref(text, "/".join(parts))


def _suffix(field: str, text: str) -> None:
    if not text.lower().endswith(SUFFIX):
        raise bad_input(
            field, f"{text!r} is not a .safetensors file",
            hint="LoRAs are read as .safetensors files only (a .ckpt or .pt can run code).",
        )  # fmt: skip


def _hub_filename(repo: str, path: str) -> str:
    return f"{HUB_FOLDER}/{repo}/{path}"


def local_dir() -> Path:
    return pins.models_dir() / "loras"


def of_spec(spec) -> list[tuple[int, Ref, float]]:
    """(slot, LoRA, strength) of each LoRA field a checked job fills, in slot order."""
    out = []
    for k in SLOTS:
        text = spec.inputs.get(f"lora_{k}")
        if text:
            strength = spec.inputs.get(f"lora_{k}_strength")
            out.append(
                (k, parse(f"lora_{k}", text, spec.model), 1.0 if strength is None else strength)
            )
    return out


def check_refs(spec) -> None:
    """Each LoRA a job names can be had: a local one is a file in the LoRA folder (a Hub one is
    downloaded with the other weights, and checked when it is there)."""
    for k, ref, _ in of_spec(spec):
        if ref.hub:
            continue
        path = local_dir() / ref.filename
        if not path.is_file():
            names = sorted({x.name for x in known(spec.model or recipes.LTX23)})
            raise bad_input(
                f"lora_{k}", f"no LoRA file {ref.text!r} in the LoRA folder",
                hint=f"Put it in {local_dir().name}/ of the models folder, or name a known LoRA "
                f"({', '.join(names) or 'none for this model'}) or a Hub one "
                f"({HUB_PREFIX}Owner/Repo/file.safetensors).",
            )  # fmt: skip


# -- the facts a download needs


def fact(filename: str) -> ModelFile | None:
    """What models.py needs to fetch or show a LoRA file the graph names that is in no manifest:
    a Hub LoRA's repo and path; a local one's own size. None: no such LoRA file."""
    parts = filename.split("/")
    name = parts[-1]
    if parts[0] == HUB_FOLDER and len(parts) >= 4:
        repo, path = "/".join(parts[1:3]), "/".join(parts[3:])
        k = next((k for k in KNOWN if (k.repo, k.path) == (repo, path)), None)
        return ModelFile(
            name, "loras", repo, path, 0,
            k.source if k else "a Hub LoRA a job named (its size is asked of the Hub)",
            size_exact=False, gated=k.gated if k else None,
            licence=LTX if k else "the LoRA's own (see its Hub page)", note=k.note if k else "",
        )  # fmt: skip
    path = local_dir() / filename
    if path.is_file():
        return ModelFile(name, "loras", "", filename, path.stat().st_size,
                         "your LoRA folder", licence="your file's own")  # fmt: skip
    return None


# -- the safetensors headers


def read_header(path: Path) -> dict:
    """A safetensors file's header: {tensor name: {"dtype", "shape", ...}} (and __metadata__),
    read without the tensors."""
    name, size = Path(path).name, Path(path).stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        length = int.from_bytes(head, "little") if len(head) == 8 else -1
        if length < 2 or length > min(MAX_HEADER, size - 8):
            raise ValueError(
                f"{name} is no safetensors file (its header claims {length} bytes; "
                f"the limit is {MAX_HEADER} and the file has {size})"
            )
        raw = f.read(length)
    try:
        header = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"{name}'s safetensors header is not JSON ({exc})") from None
    if not isinstance(header, dict):
        raise ValueError(f"{name}'s safetensors header is not a table of tensors")
    return header


@functools.lru_cache(maxsize=16)
def _layers_on_disk(path: str, _size: int, _mtime: int, of) -> dict:
    """`of`(the file's header), read once per file version: a transformer's header is megabytes
    of JSON and every job with a LoRA asks for its widths again; only the widths are kept."""
    return of(read_header(Path(path)))


# ComfyUI's LoRA formats whose widths are read here (comfy/lora.py, comfy/weight_adapter/lora.py):
# (down, up) suffixes; the down matrix is [rank, in], the up matrix [out, rank].
PAIRS = ((".lora_A.weight", ".lora_B.weight"), (".lora_down.weight", ".lora_up.weight"))
# Key prefixes LoRA trainers put before the model's own module names.
LORA_PREFIXES = ("diffusion_model.", "transformer.", "model.diffusion_model.", "lora_unet_")


def lora_layers(header: dict) -> dict[str, tuple[int, int]]:
    """Module -> (in, out) widths of each layer a LoRA changes."""
    out: dict[str, tuple[int, int]] = {}
    for key, info in header.items():
        for down, up in PAIRS:
            if not key.endswith(down) or not isinstance(info, dict):
                continue
            module = key[: -len(down)]
            other = header.get(module + up)
            a, b = info.get("shape") or [], (other or {}).get("shape") or []
            if len(a) == 2 and len(b) == 2:
                for prefix in LORA_PREFIXES:
                    if module.startswith(prefix):
                        module = module[len(prefix) :]
                        break
                out[module] = (int(a[1]), int(b[0]))
    return out


# Dtypes whose stored shape is the matrix's own; a packed or integer-quantized weight (NVFP4,
# int8 "convrot") may store another, so only its presence is checked.
PLAIN_DTYPES = {"F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2"}


def model_layers(header: dict) -> dict[str, tuple[int, int] | None]:
    """Module -> (in, out) of each matrix of a transformer file (a checkpoint's
    model.diffusion_model.* or a bare transformer's own keys); None: stored quantized, its
    widths not read."""
    prefix = "model.diffusion_model."
    keys = [k for k in header if k.startswith(prefix)]
    out: dict[str, tuple[int, int] | None] = {}
    for key in keys or list(header):
        info = header[key]
        if not key.endswith(".weight") or not isinstance(info, dict):
            continue
        shape = info.get("shape") or []
        if len(shape) == 2:
            module = key[: -len(".weight")].removeprefix(prefix)
            plain = info.get("dtype") in PLAIN_DTYPES
            out[module] = (int(shape[1]), int(shape[0])) if plain else None
    return out


def misfit(lora: dict, model: dict) -> str | None:
    """Why a LoRA's layers do not fit a model's, or None when every one does."""
    if not lora:
        return "it holds no LoRA layers this app can read (lora_A/lora_B or lora_down/lora_up)"
    absent = [m for m in lora if m not in model]
    wrong = [m for m in lora if model.get(m) is not None and lora[m] != model[m]]
    if not absent and not wrong:
        return None
    said = []
    if wrong:
        m = wrong[0]
        said.append(
            f"{len(wrong)} of its {len(lora)} layers have other widths (e.g. {m}: the LoRA's "
            f"{lora[m][0]}->{lora[m][1]}, the model's {model[m][0]}->{model[m][1]})"
        )
    if absent:
        said.append(
            f"{len(absent)} of its {len(lora)} layers are not in the model (e.g. {absent[0]})"
        )
    return "; ".join(said)


# The loaders whose file holds the transformer the LoRAs change (workflow.MODEL_INPUTS).
BASE_LOADERS = {"CheckpointLoaderSimple": "checkpoints", "UNETLoader": "diffusion_models"}


def base_model(prompt: dict, title: str) -> tuple[str, str] | None:
    """(folder, filename) of the model the LoRA node `title` is put on: up its model links,
    past other LoRAs, to the loader; None where the graph has no such node or loader."""
    node = next((n for n in prompt.values() if (n.get("_meta") or {}).get("title") == title), None)
    for _ in range(64):
        if node is None:
            return None
        cls, inputs = node.get("class_type"), node.get("inputs", {})
        if cls in BASE_LOADERS:
            name = inputs.get("ckpt_name") or inputs.get("unet_name")
            return (BASE_LOADERS[cls], name) if isinstance(name, str) else None
        source = inputs.get("model")
        node = prompt.get(source[0]) if isinstance(source, list) and source else None
    return None


def check_fit(spec, prompt: dict, *, models_dir: Path | None = None, elsewhere=None) -> None:
    """Refuse a LoRA whose layers do not fit the model the job puts it on, naming it and its
    field. Files on disk are read; `elsewhere(folder, filename)` gives the header of one that is
    not (jobs.py passes downloads.hub_header before the downloads, so a Hub LoRA is judged from
    its header alone; None: that file is judged once it is on disk)."""
    root = models_dir or pins.models_dir()

    def layers(folder: str, filename: str, of) -> dict | None:
        path = root / folder / filename
        if path.is_file():
            stat = path.stat()
            return _layers_on_disk(str(path), stat.st_size, stat.st_mtime_ns, of)
        header = elsewhere(folder, filename) if elsewhere is not None else None
        return None if header is None else of(header)

    for k, ref, _ in of_spec(spec):
        field = f"lora_{k}"
        base = base_model(prompt, lora_title(k))
        if base is None or not base[1].endswith(SUFFIX):  # a GGUF transformer: no header to read
            continue
        try:
            lora = layers("loras", ref.filename, lora_layers)
        except (OSError, ValueError) as exc:
            raise bad_input(field, f"{ref.text} cannot be read as a LoRA: {exc}",
                            hint="Choose a LoRA .safetensors file.") from None  # fmt: skip
        try:
            model = layers(*base, model_layers) if lora is not None else None
        except (OSError, ValueError):
            continue  # the model's own loader will say what is wrong with it
        if lora is None or model is None:
            continue
        why = misfit(lora, model)
        if why:
            raise bad_input(
                field, f"{ref.text} does not fit {title(spec.model)}: {why}",
                hint=f"Choose a LoRA made for {title(spec.model)}, or switch the model to the one "
                "it was made for.",
            )  # fmt: skip


def lora_title(k: int) -> str:
    """The graph's node that loads the LoRA of slot k."""
    return f"LoRA {k}"
