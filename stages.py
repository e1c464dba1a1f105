"""A running job's stages, how far it is and how long it has left.

The graph's node classes say its stages (loading the models, encoding the prompt, sampling pass
1 and 2, upscaling, decoding, encoding the file; anything else prepares the inputs). Each node
gets a share of the whole from the estimator's figures (`expected`: a sampling pass costs its
steps times the pixels and frames it samples, the decode what backend's estimate counts); as the
job runs, what the nodes really took corrects the rest: a sampler's measured time per step gives
its own time left, and the ratio of measured to expected time scales every node still to come.
`Tracker` does that arithmetic on a clock it is handed; `line()` says it in one line:
"Sampling pass 1 · step 3/8 · 42% · about 1 min 10 s left".

Pure: no ComfyUI, no Gradio. comfy_events.ProgressLines feeds a Tracker with ComfyUI's events.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import decode_plan
import workflow

LABELS = {
    "load": "Loading the models",
    "enhance": "Enhancing the prompt",
    "inputs": "Preparing the inputs",
    "prompt": "Encoding the prompt",
    "sample": "Sampling pass {n}",
    "upscale": "Upscaling",
    "decode": "Decoding",
    "file": "Encoding the file",
}
_PROMPT = {"CLIPTextEncode", "LTXVConditioning"}
_UPSCALE = {"LTXVLatentUpsampler"}
_DECODE = {"VAEDecode", "VAEDecodeTiled", "LTXVTiledVAEDecode", "LTXVAudioVAEDecode"}
_FILE = {"CreateVideo", "SaveVideo"}
ENHANCER = "TextGenerateLTX2Prompt"

# The estimator's figures, per node (seconds on the GPU budget backend.py asks for; the measured
# times correct them as a job runs).
LOAD_S = 12.0  # each loader, cold (a cached one takes nothing)
PROMPT_S = 2.0
INPUT_S = 1.0
UPSCALE_S = 3.0
FILE_S = 2.0
AUDIO_DECODE_S = 1.0
SAMPLE_S_PER_MEGAPIXEL_FRAME_STEP = 0.13
SAMPLE_S_PER_STEP = 3.0  # where the graph's sizes cannot be read
# The prompt enhancer (enhance.py): its prefill (Lightricks' system prompt, the image) and each
# token it may generate, until measured on a GPU.
ENHANCE_PREFILL_S = 5.0
ENHANCE_S_PER_TOKEN = 0.05
POOL_MIN_S = 5.0  # a node expected to take less says nothing of the pace of the rest
DECODE_S_PER_FRAME = 0.3  # a prompt without a "Decode video" node to read
# Until measured on a GPU: the flat 0.3 s a frame at balanced's 1280x704 (0.9 megapixels), now
# per megapixel-frame actually decoded, so that overlapping tiles cost what they add.
DECODE_S_PER_MEGAPIXEL_FRAME = 0.33


def stage_of(class_type: str) -> str:
    if class_type == "SamplerCustomAdvanced":
        return "sample"
    if class_type == ENHANCER:
        return "enhance"
    media = {"LoadImage", "LoadAudio", "LoadVideo"}  # the job's own inputs, not weights
    if ("Loader" in class_type or class_type.startswith("Load")) and class_type not in media:
        return "load"
    for key, classes in (
        ("prompt", _PROMPT),
        ("upscale", _UPSCALE),
        ("decode", _DECODE),
        ("file", _FILE),
    ):
        if class_type in classes:
            return key
    return "inputs"


def enhance_seconds(prompt: dict) -> float:
    """The prompt enhancer's share: its prefill and the most tokens its "Enhance prompt" node
    may generate (0 for a graph without one)."""
    try:
        tokens = int(workflow.find_node(prompt, "Enhance prompt")[1]["inputs"]["max_length"])
    except (AttributeError, KeyError, TypeError, ValueError):
        return 0.0
    return ENHANCE_PREFILL_S + ENHANCE_S_PER_TOKEN * max(0, tokens)


def decode_seconds(prompt: dict, frames: int) -> float:
    """The decode's share of the estimate: what the prompt's "Decode video" node really decodes,
    overlaps included (more tiles cost more), for a video of `frames` (the cap, with automatic
    length); per frame where the prompt has no such node to read."""
    frames = max(0, int(frames))
    try:
        _, decode = workflow.find_node(prompt, "Decode video")
        width, height = _first_pass_size(prompt)
        # Two passes decode the x2 upscale of the first pass's latent.
        scale = 2 if workflow.has_node(prompt, "Upscale latent") else 1
        width, height = width * scale, height * scale
        inputs = {name: int(decode["inputs"][name]) for name in decode_plan.Plan.INPUTS}
    except (AttributeError, KeyError, TypeError, ValueError):
        return DECODE_S_PER_FRAME * frames
    volume = decode_plan.decoded_volume(width, height, max(1, frames), inputs)
    return DECODE_S_PER_MEGAPIXEL_FRAME * volume / 1e6


def _first_pass_size(prompt: dict) -> tuple[int, int]:
    if workflow.has_node(prompt, "Video latent"):
        inputs = workflow.find_node(prompt, "Video latent")[1]["inputs"]
        return int(inputs["width"]), int(inputs["height"])
    # a retake's first pass is its source window, encoded at this size
    inputs = workflow.find_node(prompt, "Resize video")[1]["inputs"]
    return int(inputs["resize_type.width"]), int(inputs["resize_type.height"])


def _frames(prompt: dict) -> int:
    try:
        return int(workflow.find_node(prompt, "Video latent")[1]["inputs"]["length"])
    except (AttributeError, KeyError, TypeError, ValueError):
        return 121


def _steps(prompt: dict, node: dict) -> int:
    """A sampler's steps: one fewer than its sigmas (ManualSigmas), else unknown (8)."""
    link = (node.get("inputs") or {}).get("sigmas")
    sigmas = prompt.get(str(link[0])) if isinstance(link, list) else None
    text = ((sigmas or {}).get("inputs") or {}).get("sigmas")
    if isinstance(text, str) and text.strip():
        return max(1, len([s for s in text.split(",") if s.strip()]) - 1)
    return 8


def _depth(prompt: dict, node_id: str, seen: dict) -> int:
    """How many nodes lie upstream of `node_id`: orders the sampling passes."""
    if node_id in seen:
        return seen[node_id]
    seen[node_id] = 0
    ups = set()
    for value in ((prompt.get(node_id) or {}).get("inputs") or {}).values():
        if isinstance(value, list) and len(value) == 2 and str(value[0]) in prompt:
            ups.add(str(value[0]))
    seen[node_id] = len(ups) + sum(_depth(prompt, up, seen) for up in ups)
    return seen[node_id]


@dataclass
class Node:
    id: str
    stage: str  # key of LABELS
    label: str  # "Sampling pass 2"
    expected_s: float


def plan(prompt: dict) -> dict[str, Node]:
    """Each node of the graph with its stage and the seconds the estimator gives it."""
    nodes = {str(k): v for k, v in prompt.items() if isinstance(v, dict)}
    samplers = sorted(
        (k for k, v in nodes.items() if stage_of(v.get("class_type", "")) == "sample"),
        key=lambda k: _depth(nodes, k, {}),
    )
    frames = _frames(nodes)
    try:
        width, height = _first_pass_size(nodes)
        first_volume = width * height * frames / 1e6
    except (AttributeError, KeyError, TypeError, ValueError):
        first_volume = None
    video_decode = decode_seconds(nodes, frames)
    out = {}
    for node_id, node in nodes.items():
        stage = stage_of(node.get("class_type", ""))
        label = LABELS[stage]
        if stage == "sample":
            number = samplers.index(node_id) + 1
            label = label.format(n=number)
            steps = _steps(nodes, node)
            if first_volume is None:
                expected = SAMPLE_S_PER_STEP * steps
            else:  # a pass after the x2 upscale samples four times the pixels
                volume = first_volume * (4 if number > 1 and len(samplers) > 1 else 1)
                expected = SAMPLE_S_PER_MEGAPIXEL_FRAME_STEP * volume * steps
        else:
            expected = {
                "load": LOAD_S,
                "enhance": enhance_seconds(nodes),
                "inputs": INPUT_S if _works(node.get("class_type", "")) else 0.0,
                "prompt": PROMPT_S,
                "upscale": UPSCALE_S,
                "decode": AUDIO_DECODE_S
                if node.get("class_type") == "LTXVAudioVAEDecode"
                else video_decode,
                "file": FILE_S,
            }[stage]
        out[node_id] = Node(node_id, stage, label, float(expected))
    return out


def _works(class_type: str) -> bool:
    """An input node that takes time of its own (reading, resizing, encoding a file)."""
    return class_type.startswith(("Load", "Resize", "MoGe", "Video")) or any(
        word in class_type for word in ("Preprocessor", "Encode")
    )


@dataclass
class Report:
    label: str  # the stage running now
    step: tuple[int, int] | None  # (k, n) while it counts steps
    fraction: float  # of the whole job
    left_s: float | None  # None where it cannot be said

    def line(self) -> str:
        return line(self.label, self.step, self.fraction, self.left_s)


@dataclass
class Tracker:
    """The whole job's fraction done and time left, from the plan and what the nodes took.

    Each stage is corrected by its own measured times where it has any (sampling pass 2 by pass
    1), else by the computing of some weight measured so far; loading (cold or cached, its time
    says nothing of the device's speed) corrects only itself."""

    nodes: dict[str, Node]
    started_at: float
    done_s: dict[str, float] = field(default_factory=dict)  # node -> seconds it took
    current: str | None = None
    current_since: float = 0.0
    step: tuple[float, float] | None = None  # the current node's (value, total)
    _best: float = 0.0
    _elapsed_in_node: float = 0.0
    _label: str = "Starting"

    def skip(self, node_ids) -> None:
        """Nodes served from ComfyUI's cache: they take no time."""
        for node_id in node_ids:
            if str(node_id) in self.nodes and str(node_id) != self.current:
                self.done_s.setdefault(str(node_id), 0.0)
                self.nodes[str(node_id)].expected_s = 0.0

    def start(self, node_id: str, now: float) -> None:
        self._finish(now)
        self.current, self.current_since, self.step = str(node_id), now, None

    def steps(self, node_id: str, value: float, total: float, now: float) -> None:
        if str(node_id) != self.current:
            self.start(node_id, now)
        self.step = (value, total)

    def end(self, now: float) -> None:
        self._finish(now)
        self.current = None

    def _finish(self, now: float) -> None:
        if self.current is not None and self.current in self.nodes:
            self.done_s[self.current] = max(0.0, now - self.current_since)

    def _ratio(self, counts) -> float | None:
        """Measured over expected seconds of the nodes `counts(node)` picks, the running node's
        counted steps included; None before there is enough to say."""
        done = [n for n in self.done_s if counts(self.nodes[n])]
        expected = sum(self.nodes[n].expected_s for n in done)
        actual = sum(self.done_s[n] for n in done)
        if self.current in self.nodes and counts(self.nodes[self.current]) and self.step:
            value, total = self.step
            if value >= 2 and total > 0:  # a first step carries the warm-up: too noisy alone
                expected += self.nodes[self.current].expected_s * value / total
                actual += self._elapsed_in_node
        if expected <= 0.05:
            return None
        return actual / expected

    def _ratios(self) -> dict[str, float]:
        """Each stage's correction: its own where measured (pass 2 goes by pass 1), else that of
        the computing of some weight measured so far, else none (the estimate). Loading, cold or
        cached, says nothing of the device's pace: it corrects only itself."""
        # Pooled only from nodes of some weight: a LoadImage or a text encode that took a blink
        # against its second would shrink every stage to come, and the percentage, which never
        # goes back, would then stand still for a whole pass.
        computing = self._ratio(
            lambda node: node.expected_s >= POOL_MIN_S and node.stage not in ("inputs", "load")
        )
        ratios = {}
        for stage in LABELS:
            own = self._ratio(lambda node, stage=stage: node.stage == stage)
            pooled = computing if stage != "load" else None
            ratios[stage] = next((r for r in (own, pooled) if r is not None), 1.0)
        return ratios

    def report(self, now: float) -> Report:
        self._elapsed_in_node = max(0.0, now - self.current_since) if self.current else 0.0
        ratios = self._ratios()
        left = 0.0
        for node in self.nodes.values():
            if node.id in self.done_s or node.id == self.current:
                continue
            left += node.expected_s * ratios[node.stage]
        step = None
        if self.current in self.nodes:
            node = self.nodes[self.current]
            # glue (no time of its own, no steps) keeps the stage it follows
            if node.expected_s > 0 or node.stage != "inputs" or self.step:
                self._label = node.label
            if self.step and self.step[1] > 1:
                value, total = self.step
                step = (int(value), int(total))
                if value > 0:
                    left += self._elapsed_in_node / value * (total - value)
                else:
                    left += node.expected_s * ratios[node.stage]
            else:
                left += max(0.0, node.expected_s * ratios[node.stage] - self._elapsed_in_node)
        elapsed = max(0.0, now - self.started_at)
        fraction = elapsed / (elapsed + left) if elapsed + left > 0 else 0.0
        self._best = max(self._best, min(fraction, 0.99))  # never backwards; 100% is the end
        return Report(self._label, step, self._best, left)


def duration(seconds: float) -> str:
    """'about 1 min 10 s left', rounded as a person would say it."""
    seconds = max(0.0, seconds)
    if seconds < 1.5:
        return "almost done"
    if seconds < 20:
        return f"about {math.ceil(seconds)} s left"
    if seconds < 60:
        return f"about {int(round(seconds / 5) * 5)} s left"
    minutes, rest = divmod(int(round(seconds / 10) * 10), 60)
    if minutes >= 10 or rest == 0:
        return f"about {minutes + (1 if rest >= 30 and minutes >= 10 else 0)} min left"
    return f"about {minutes} min {rest} s left"


def line(label: str, step, fraction: float, left_s: float | None) -> str:
    parts = [label]
    if step:
        parts.append(f"step {step[0]}/{step[1]}")
    parts.append(f"{int(fraction * 100)}%")
    if left_s is not None:
        parts.append(duration(left_s))
    return " · ".join(parts)
