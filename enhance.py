"""The prompt enhancer: a short prompt rewritten into a detailed one before generating.

ComfyUI core's TextGenerateLTX2Prompt (comfy_extras/nodes_textgen.py) wraps the prompt in
Lightricks' system prompts (Gemma 3's for LTX-2.3, Gemma 4's for LTX-2.5; an image-to-video one
when it is given an image) and samples the rewrite on the text encoder. Its graph per family
(workflows/enhance*.json, tools/build_workflows.py) loads that family's own text encoder with the
very node and inputs its generation graphs load it with, so the engine keeps one copy for both.

`enhance()` runs that graph through the same GPU task as generation (backend.generate, mode
ENHANCE_MODE, with its own duration estimate) and keeps each rewrite in an in-memory LRU cache per
(family, prompt, image content, sampling), so asking again, or a job that reruns with a new
seed, gives the same text without running anything. `apply()` is a job's part: the job's own
staged image, the rewrite kept in its Spec beside the user's prompt (patches.ENHANCED).
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections import OrderedDict
from pathlib import Path

import backend
import downloads
import errors
import media
import models
import pins
import tinyset
import workflow
from job_spec import Spec
from modes import LTX23, LTX25, MAX_PROMPT_CHARS, MODEL_TITLES, MODES
from patches import ENHANCED
from progress import Progress

GRAPHS = {LTX23: "enhance", LTX25: "enhance_ltx25"}
NODE = "Enhance prompt"
TEXT = "Enhanced prompt"  # the PreviewAny node whose text the engine hands back
CACHE_SIZE = 256


class Cache:
    """Rewrites by key, the least recently used dropped past `size`; safe across threads."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[tuple, str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> str | None:
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: tuple, text: str) -> None:
        with self._lock:
            self._items[key] = text
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


CACHE = Cache()


def families() -> tuple[str, ...]:
    return tuple(GRAPHS)


def image_field(mode: str) -> str | None:
    """The image field whose file the enhancer sees in `mode` (None: the prompt alone)."""
    return MODES[mode].enhance_image


def check_prompt(prompt) -> str:
    """The prompt to enhance, or one message naming the field."""
    if not isinstance(prompt, str) or not prompt.replace("\x00", "").strip():
        raise errors.bad_input(
            "prompt", "Prompt must not be empty to enhance it", hint="Write a short idea first."
        )
    prompt = prompt.replace("\x00", "").strip()
    if len(prompt) > MAX_PROMPT_CHARS:
        raise errors.bad_input(
            "prompt", f"Prompt has {len(prompt)} characters; the limit is {MAX_PROMPT_CHARS}"
        )
    return prompt


NOT_ON_WORKERS = (
    "The prompt enhancer runs only where this server runs the models itself, not on remote "
    "workers yet."
)
NOT_ON_WORKERS_HINT = "Generate with your own prompt, or run the app without LTX_AIO_WORKERS."


def wanted(spec: Spec) -> bool:
    """Whether a job has its prompt rewritten first: it asks to (`enhance_prompt`) and brings no
    rewrite of its own (an edited Enhance, "use these settings" of an enhanced job)."""
    return bool(spec.inputs.get("enhance_prompt")) and not spec.inputs.get(ENHANCED)


def check_runs_here(spec: Spec) -> None:
    """A job that asks to enhance its prompt where the enhancer cannot run (remote workers) is
    refused before anything is staged, naming the option."""
    if wanted(spec) and not backend.local_weights():
        raise errors.bad_input(
            "enhance_prompt", NOT_ON_WORKERS[0].lower() + NOT_ON_WORKERS[1:],
            hint="Turn Enhance the prompt off: " + NOT_ON_WORKERS_HINT[0].lower()
            + NOT_ON_WORKERS_HINT[1:],
        )  # fmt: skip


def check_family(family) -> str:
    if family not in GRAPHS:
        raise errors.bad_input(
            "model", f"{family!r} is not a model family the enhancer knows",
            hint="One of: " + ", ".join(GRAPHS),
        )  # fmt: skip
    return family


def _digest(path: Path | None) -> str:
    if path is None:
        return ""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def graph(family: str, prompt: str, image: str | None = None) -> dict:
    """The family's enhancer graph for `prompt`, reading the staged input `image` (a name in
    ComfyUI's input dir) when given; without one the image branch is pruned."""
    out = workflow.load_template(GRAPHS[family])
    workflow.set_input(out, NODE, "prompt", prompt)
    if image is None:
        del workflow.find_node(out, NODE)[1]["inputs"]["image"]
    else:
        workflow.set_input(out, "Load image", "image", image)
    cap = tinyset.enhance_max_tokens(pins.models_dir())
    if cap is not None:
        inputs = workflow.find_node(out, NODE)[1]["inputs"]
        inputs["max_length"] = min(int(inputs["max_length"]), cap)
    workflow.prune(out)
    # The variant this machine loads (fp8 on ZeroGPU): the same files as its generation graphs.
    return models.resolve_variant(out)


def key(family: str, prompt: str, image: Path | None, prompt_graph: dict) -> tuple:
    """What a rewrite depends on: the family, the prompt, the image's bytes and the sampling."""
    inputs = workflow.find_node(prompt_graph, NODE)[1]["inputs"]
    sampling = tuple(
        sorted((k, v) for k, v in inputs.items() if k not in ("clip", "prompt", "image"))
    )
    return family, prompt, _digest(image), sampling


def enhance(
    family: str,
    prompt: str,
    image: Path | str | None = None,
    *,
    progress: Progress | None = None,
    job_id: str = "",
    staged: str | None = None,
    image_field: str = "image",
) -> tuple[str, bool]:
    """The rewrite of `prompt` on `family`'s text encoder, seeing `image` (a local file) when
    given, and whether it came from the cache. `staged`: the image's name in ComfyUI's input
    dir when it is there already (a job's)."""
    family, prompt = check_family(family), check_prompt(prompt)
    if not backend.local_weights():
        raise errors.AppError("unavailable", NOT_ON_WORKERS, hint=NOT_ON_WORKERS_HINT)
    path = Path(image) if image else None
    if path is not None:
        media.inspect_image(path, image_field)  # an unusable file is named before the GPU
    name = staged
    prompt_graph = graph(family, prompt, name or (path.name if path else None))
    cache_key = key(family, prompt, path, prompt_graph)
    cached = CACHE.get(cache_key)
    if cached is not None:
        return cached, True
    job_id = job_id or f"enhance-{uuid.uuid4().hex[:10]}"
    files: dict[str, str] = {}
    try:
        if path is not None and name is None:
            name = files["image"] = media.stage(path, pins.input_dir(), job_id, "image")
            workflow.set_input(prompt_graph, "Load image", "image", name)
        downloads.ensure_models_for_prompt(prompt_graph, progress)
        result = backend.unpack(
            backend.generate(backend.ENHANCE_MODE, family, prompt_graph, 0, 1.0, progress, job_id)
        )
    finally:
        media.unstage(files, pins.input_dir())
    text = str((result.get("texts") or {}).get(TEXT, "")).strip()
    if not text:
        raise errors.AppError(
            "node_failed",
            f"The prompt enhancer on {MODEL_TITLES[family]} returned no text.",
            where=NODE,
            hint="Enhance again, or generate with your own prompt.",
        )
    CACHE.put(cache_key, text)
    return text, False


def apply(spec: Spec, progress: Progress | None = None) -> bool:
    """A job that asked for it (`enhance_prompt`): its prompt rewritten on its own model family,
    with its staged image where the mode has one, kept in `spec.inputs` beside the user's.
    Returns whether the rewrite came from the cache."""
    family = spec.model or MODES[spec.mode].models[0]
    field = image_field(spec.mode)
    staged = (spec.files or {}).get(field) if field else None
    image = pins.input_dir() / staged if staged else None
    text, cached = enhance(
        family, spec.inputs.get("prompt", ""), image, progress=progress, job_id=spec.job_id,
        staged=staged, image_field=field or "image",
    )  # fmt: skip
    spec.inputs[ENHANCED] = text
    return cached
