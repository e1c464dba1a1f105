"""L1/L2: a job's LoRAs (loras.py): what a LoRA field may name, how a file is judged to fit the
model from its safetensors header alone, and where the graph loads each one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import downloads
import loras
import models
import modes
import prepare
import workflow
from errors import AppError
from testkit.models_fakehub import FakeHub
from testkit.modes_helpers import graph_spec

SCHEMAS = workflow.load_schemas()


def write_header(path: Path, tensors: dict[str, list[int]], pad: int = 0) -> Path:
    """A safetensors file of `tensors` (name -> shape), F32 zeros, plus `pad` bytes of data."""
    header, offset = {}, 0
    for name, shape in tensors.items():
        size = 4 * int(__import__("math").prod(shape))
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    head = json.dumps(header).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(len(head).to_bytes(8, "little") + head + bytes(offset + pad))
    return path


def lora(width: int, modules=("transformer_blocks.0.attn1.to_q",), rank=4) -> dict:
    out = {}
    for m in modules:
        out[f"diffusion_model.{m}.lora_A.weight"] = [rank, width]
        out[f"diffusion_model.{m}.lora_B.weight"] = [width, rank]
    return out


def model(
    width: int, prefix="model.diffusion_model.", modules=("transformer_blocks.0.attn1.to_q",)
):
    return {f"{prefix}{m}.weight": [width, width] for m in modules}


@pytest.fixture
def lora_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("LTX_AIO_MODELS_DIR", str(tmp_path))
    return tmp_path / "loras"


# -- what a field may name


@pytest.mark.parametrize(
    "text",
    ["../up.safetensors", "/etc/x.safetensors", "a/../../b.safetensors", "a\\..\\b.safetensors",
     "x.ckpt", "x.pt", "hf:../b/c.safetensors", "hf:Owner/c.safetensors", "hf/A/B/c.safetensors",
     "a\x00b.safetensors", "$(rm -rf).safetensors"],
)  # fmt: skip
def test_a_hostile_or_unreadable_name_is_refused_naming_its_field(text):
    with pytest.raises(AppError) as info:
        loras.parse("lora_3", text, modes.LTX23)
    assert info.value.kind == "bad_input" and info.value.where == "lora_3"


def test_a_known_name_is_that_familys_lora_and_another_familys_is_refused():
    ref = loras.parse("lora_1", "cinemagraph", modes.LTX25)
    assert ref.repo == "Lightricks/LTX-2.5-22b-LoRA-Cinemagraph" and ref.hub
    assert ref.filename == f"hf/{ref.repo}/{ref.path}"
    assert loras.parse("lora_1", "cinemagraph", modes.LTX23).repo.startswith("Lightricks/LTX-2.3")
    with pytest.raises(AppError, match="slow-motion is a LoRA for LTX-2.5; LTX-2.3 cannot"):
        loras.parse("lora_2", "slow-motion", modes.LTX23)
    slow = next(k for k in loras.KNOWN if k.name == "slow-motion")
    with pytest.raises(AppError, match="LTX-2.3 cannot use it"):
        loras.parse("lora_2", slow.ref, modes.LTX23)


def test_every_known_lora_cites_where_its_repo_and_file_were_found():
    for k in loras.KNOWN:
        assert k.source and k.path.endswith(".safetensors") and k.family in modes.MODEL_TITLES
        assert len({(x.family, x.name) for x in loras.KNOWN}) == len(loras.KNOWN)


def test_a_local_lora_must_be_in_the_lora_folder(lora_dir):
    write_header(lora_dir / "styles" / "mine.safetensors", lora(8))
    spec = graph_spec("t2v", "fast", modes.LTX23)
    spec.inputs |= {"lora_1": "styles/mine.safetensors", "lora_2": "gone.safetensors"}
    with pytest.raises(AppError) as info:
        loras.check_refs(spec)
    assert info.value.where == "lora_2" and "gone.safetensors" in info.value.message


def test_a_hub_lora_becomes_a_download_of_its_repo_and_path(lora_dir):
    ref = loras.parse("lora_1", "hf:Someone/ltx-loras/v2/style.safetensors", modes.LTX25)
    fact = models.lookup(ref.filename, "LoRA 1", "loras")
    assert (fact.repo, fact.path, fact.folder) == ("Someone/ltx-loras", "v2/style.safetensors",
                                                   "loras")  # fmt: skip
    need = models.needs_for_refs([("loras", ref.filename, "LoRA 1")])[0]
    assert need.link == lora_dir / "hf" / "Someone" / "ltx-loras" / "v2" / "style.safetensors"


@pytest.mark.parametrize("where", ["hub", "subfolder"])
def test_a_lora_named_by_its_path_is_that_file_even_with_an_official_files_name(where, lora_dir):
    """A Hub LoRA or one in a subfolder of loras/ whose file name is also an official file's
    (here the distilled LoRA's) is fetched from its own repo or sized as the user's own file:
    never the official file of the same name (which would set the user's file aside)."""
    official = "ltx-2.3-22b-distilled-lora-384-1.1.safetensors"
    if where == "hub":
        ref = loras.parse("lora_1", f"hf:Someone/copies/{official}", modes.LTX23)
        fact = models.lookup(ref.filename, "LoRA 1", "loras")
        assert (fact.repo, fact.path) == ("Someone/copies", official)
    else:
        (lora_dir / "mine").mkdir(parents=True)
        (lora_dir / "mine" / official).write_bytes(b"\0" * 123)
        ref = loras.parse("lora_1", f"mine/{official}", modes.LTX23)
        fact = models.lookup(ref.filename, "LoRA 1", "loras")
        assert (fact.repo, fact.size) == ("", 123)


def test_on_a_shared_deployment_a_hub_lora_comes_only_from_an_allowed_repo(monkeypatch):
    """Visitors of a shared deployment may not make it download from any repo: a Hub LoRA not
    a known one is refused naming its field unless the operator allows its repo."""
    monkeypatch.setenv("LTX_AIO_SHARED", "1")
    monkeypatch.delenv(loras.HUB_ENV, raising=False)
    with pytest.raises(AppError) as err:
        loras.parse("lora_2", "hf:Someone/ltx-loras/style.safetensors", modes.LTX25)
    assert err.value.where == "lora_2" and "Someone/ltx-loras is not one" in err.value.message
    assert loras.HUB_ENV in err.value.hint
    known = next(k for k in loras.KNOWN if k.family == modes.LTX25)
    assert loras.parse("lora_2", f"hf:{known.repo}/{known.path}", modes.LTX25).known == known
    monkeypatch.setenv(loras.HUB_ENV, "Other/repo, Someone/ltx-loras")
    assert loras.parse("lora_2", "hf:Someone/ltx-loras/style.safetensors", modes.LTX25).repo == (
        "Someone/ltx-loras"
    )
    monkeypatch.setenv("LTX_AIO_SHARED", "0")
    monkeypatch.delenv(loras.HUB_ENV)
    assert loras.parse("lora_2", "hf:Anyone/r/x.safetensors", modes.LTX25).repo == "Anyone/r"


# -- the header and the fit


def test_the_header_is_read_alone_and_a_huge_claimed_one_is_refused(tmp_path):
    path = write_header(tmp_path / "a.safetensors", lora(8), pad=1 << 20)
    assert loras.lora_layers(loras.read_header(path)) == {"transformer_blocks.0.attn1.to_q": (8, 8)}
    liar = tmp_path / "liar.safetensors"
    liar.write_bytes((1 << 40).to_bytes(8, "little") + b"{}")
    with pytest.raises(ValueError, match="no safetensors file"):
        loras.read_header(liar)


def shapes(tensors: dict) -> dict:
    """A header's entries for `tensors` (name -> shape)."""
    return {name: {"dtype": "F32", "shape": shape} for name, shape in tensors.items()}


def test_a_lora_fits_only_a_model_with_its_layers_at_its_widths():
    fits = loras.lora_layers(shapes(lora(8)))
    assert loras.misfit(fits, loras.model_layers(shapes(model(8)))) is None
    assert loras.misfit(fits, loras.model_layers(shapes(model(8, prefix="")))) is None  # bare
    assert "other widths" in loras.misfit(fits, loras.model_layers(shapes(model(12))))
    other = loras.lora_layers(shapes(lora(8, modules=("transformer_blocks.9.attn1.to_q",))))
    assert "not in the model" in loras.misfit(other, loras.model_layers(shapes(model(8))))
    assert "no LoRA layers" in loras.misfit({}, loras.model_layers(shapes(model(8))))
    # A quantized weight's stored shape need not be its matrix's: only its presence counts.
    int8 = {name: {"dtype": "I8", "shape": [12, 3]} for name in model(12)}
    assert loras.misfit(fits, loras.model_layers(int8)) is None
    assert "not in the model" in loras.misfit(other, loras.model_layers(int8))


def test_a_lora_for_another_model_is_refused_with_its_name_before_the_engine(lora_dir):
    root = lora_dir.parent
    write_header(root / "checkpoints" / "ltx-2.3-22b-dev.safetensors", model(8))
    write_header(lora_dir / "wide.safetensors", lora(12))
    spec = graph_spec("t2v", "fast", modes.LTX23)
    spec.inputs |= {"lora_2": "wide.safetensors", "lora_2_strength": 0.8}
    prompt = modes.MODES["t2v"].parameterize(spec)
    with pytest.raises(AppError) as info:
        loras.check_fit(spec, prompt)
    assert info.value.where == "lora_2"
    assert info.value.message.startswith("wide.safetensors does not fit LTX-2.3: 1 of its 1")


@pytest.fixture
def hub(monkeypatch):
    fake = FakeHub().start()
    monkeypatch.setenv("HF_ENDPOINT", fake.url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    yield fake
    fake.stop()


def test_a_hub_lora_that_does_not_fit_is_refused_from_its_header_before_its_download(lora_dir, hub):
    """Before a job downloads anything (jobs.py), a Hub LoRA is judged from its header, read
    with byte ranges: a 5 MB LoRA of other widths is refused naming it, having sent none of its
    tensors; one that fits passes, still not downloaded."""
    root = lora_dir.parent
    write_header(root / "checkpoints" / "ltx-2.3-22b-dev.safetensors", model(8))
    for name, width in (("wide.safetensors", 12), ("fits.safetensors", 8)):
        path = write_header(root / "served" / name, lora(width), pad=5 * 1024 * 1024)
        hub.add("Someone/ltx-loras", name, path.read_bytes())
    spec = graph_spec("t2v", "fast", modes.LTX23)
    spec.inputs |= {"lora_3": "hf:Someone/ltx-loras/wide.safetensors", "lora_3_strength": 1.0}
    prompt = modes.MODES["t2v"].parameterize(spec)
    with pytest.raises(AppError) as info:
        loras.check_fit(spec, prompt, elsewhere=downloads.hub_header)
    assert info.value.where == "lora_3"
    assert "Someone/ltx-loras/wide.safetensors does not fit LTX-2.3" in info.value.message
    asked = [{k.lower(): v for k, v in r.headers.items()} for r in hub.gets("Someone/ltx-loras")]
    ranges = [h.get("range", "") for h in asked]
    assert ranges and all(r.startswith("bytes=0-") or r.startswith("bytes=8-") for r in ranges)
    sent = sum(int(r.split("-")[1]) + 1 - int(r[6:].split("-")[0]) for r in ranges)
    assert sent <= 100_001 + 4096, ranges  # the header, never the 5 MB of tensors

    spec.inputs["lora_3"] = "hf:Someone/ltx-loras/fits.safetensors"
    prompt = modes.MODES["t2v"].parameterize(spec)
    loras.check_fit(spec, prompt, elsewhere=downloads.hub_header)
    assert not (lora_dir / "hf").exists()


def test_a_hub_lora_the_hub_cannot_describe_is_left_to_its_download(lora_dir, hub):
    """No such file on the Hub (or no network): nothing is refused here; the download that
    follows says what is wrong, as for any weight file."""
    write_header(lora_dir.parent / "checkpoints" / "ltx-2.3-22b-dev.safetensors", model(8))
    spec = graph_spec("t2v", "fast", modes.LTX23)
    spec.inputs |= {"lora_1": "hf:Someone/ltx-loras/gone.safetensors", "lora_1_strength": 1.0}
    prompt = modes.MODES["t2v"].parameterize(spec)
    loras.check_fit(spec, prompt, elsewhere=downloads.hub_header)
    assert hub.gets("Someone/ltx-loras")  # it was asked


# -- the graph


def lora_nodes(prompt: dict) -> list[dict]:
    return [n for n in prompt.values() if n["_meta"]["title"].startswith("LoRA ")]


@pytest.mark.parametrize("mode", sorted(modes.MODES))
def test_every_mode_takes_four_loras_and_a_job_without_keeps_its_graph(mode):
    m = modes.MODES[mode]
    assert [f.name for f in m.fields if f.group == modes.LORAS] == [
        name for k in loras.SLOTS for name in (f"lora_{k}", f"lora_{k}_strength")
    ]
    for family in m.models:
        spec = graph_spec(mode, "balanced", family)
        plain = m.parameterize(spec)
        assert not lora_nodes(plain)
        spec.inputs |= {"lora_1": "", "lora_1_strength": 0.5}  # a strength alone adds nothing
        assert m.parameterize(spec) == plain


@pytest.mark.parametrize(
    ("mode", "family", "before"),
    [("t2v", modes.LTX23, "Distilled LoRA"), ("t2v", modes.LTX25, "Transformer"),
     ("style", modes.LTX23, "IC-LoRA"), ("retake", modes.LTX25, "Transformer")],
)  # fmt: skip
def test_loras_sit_between_the_model_and_everything_that_took_it(mode, family, before):
    m = modes.MODES[mode]
    spec = graph_spec(mode, "balanced", family)
    spec.inputs |= {"lora_1": "a.safetensors", "lora_1_strength": 0.5,
                    "lora_3": "hf:O/R/b.safetensors", "lora_3_strength": -1.0}  # fmt: skip
    prompt = m.parameterize(spec)
    first, third = (workflow.find_node(prompt, t) for t in ("LoRA 1", "LoRA 3"))
    assert first[1]["inputs"] == {"model": workflow.link(prompt, before), "lora_name":
                                  "a.safetensors", "strength_model": 0.5}  # fmt: skip
    assert third[1]["inputs"]["model"] == [first[0], 0]
    assert third[1]["inputs"]["lora_name"] == "hf/O/R/b.safetensors"
    takers = [n["_meta"]["title"] for n in prompt.values()
              if n["inputs"].get("model") == [third[0], 0]]  # fmt: skip
    assert {"Guider 1", "Guider 2"} & set(takers) and not [
        n for n in prompt.values() if n["inputs"].get("model") == workflow.link(prompt, before)
        and n["_meta"]["title"] != "LoRA 1"
    ]  # fmt: skip
    assert not workflow.validate(prompt, SCHEMAS)
    files = {(r.folder, r.filename) for r in workflow.model_files(prompt)}
    assert {("loras", "a.safetensors"), ("loras", "hf/O/R/b.safetensors")} <= files


def test_the_loras_and_strengths_are_checked_values_of_the_job(lora_dir):
    write_header(lora_dir / "mine.safetensors", lora(8))
    checked = prepare.check(
        "t2v", {"prompt": "x", "model": modes.LTX23, "lora_1": " mine.safetensors ",
                "lora_1_strength": "0.6"}, job_id="j")  # fmt: skip
    assert checked.spec.inputs["lora_1"] == "mine.safetensors"
    assert checked.spec.inputs["lora_1_strength"] == 0.6
    assert checked.spec.record()["lora_1"] == "mine.safetensors"
    with pytest.raises(AppError) as info:
        prepare.check("t2v", {"prompt": "x", "lora_4_strength": 3}, job_id="j")
    assert info.value.where == "lora_4_strength"
