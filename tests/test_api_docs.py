"""L1: what the API says about each parameter comes from the mode's declared Fields."""

from __future__ import annotations

import inspect

import pytest

import api_docs
import modes
from fields import Field

ALL_FIELDS = [(name, f) for name, m in modes.MODES.items() for f in m.fields]
IDS = [f"{name}-{f.name}" for name, f in ALL_FIELDS]


@pytest.mark.parametrize(("mode", "f"), ALL_FIELDS, ids=IDS)
def test_description_names_help_range_and_default(mode, f):
    said = api_docs.describe(f)
    assert said.startswith(f.help or f.label)
    if f.range_text():
        assert f.range_text().removeprefix("one of ") in said
    assert ("Required." if f.required else "Default: ") in said


def test_an_integer_with_a_step_says_its_step():
    frames = modes.MODES["t2v"].field("frames")
    assert f"Integer 9..{frames.max} in steps of 8." in api_docs.describe(frames)


def test_an_empty_default_is_said_to_be_empty():
    assert api_docs.default_text(modes.MODES["t2v"].field("width")) == "Default: empty."


@pytest.mark.parametrize("kind", modes.MEDIA_KINDS)
def test_a_media_parameter_says_what_it_takes_and_how_to_send_it(kind):
    said = api_docs.describe(Field("clip", kind, "Clip", required=True))
    assert "MiB" in said and "handle_file" in said and said.endswith("Required.")


@pytest.mark.parametrize(
    ("kind", "json_type"),
    [("int", "integer"), ("float", "number"), ("text", "string"), ("bool", "boolean")],
)
def test_schema_type_is_the_field_kind(kind, json_type):
    info = api_docs.schema(Field("x", kind, "X", help="What x is."), {"type": "string"})
    assert info["type"] == json_type
    assert (
        info["description"]
        == info["additional_description"]
        == api_docs.describe(Field("x", kind, "X", help="What x is."))
    )


def test_schema_of_a_number_carries_its_range():
    info = api_docs.schema(Field("n", "int", "N", 3, 1, 9, 1), {"type": "number"})
    assert (info["minimum"], info["maximum"]) == (1, 9)


def test_schema_of_a_choice_lists_the_choices():
    info = api_docs.schema(Field("c", "choice", "C", "a", choices=("a", "b")), {})
    assert info["enum"] == ["a", "b"]


def test_schema_of_media_keeps_the_file_model_and_drops_its_docstring():
    gradio_file = {"type": "object", "properties": {"path": {}}, "description": "FileData ..."}
    info = api_docs.schema(Field("image", "image", "Image", required=True), gradio_file)
    assert info["properties"] == {"path": {}} and "FileData" not in info["description"]


@pytest.mark.parametrize("mode", list(modes.MODES))
def test_signature_has_no_default_for_a_required_field(mode):
    params = api_docs.signature(modes.MODES[mode]).parameters
    for f in modes.MODES[mode].fields:
        if f.required:
            assert params[f.name].default is inspect.Parameter.empty, f.name
        else:
            assert params[f.name].default == f.default, f.name


def test_an_optional_file_may_be_left_out_and_says_so():
    """The keyframes between the first and the last are optional files: no required argument
    (the API, MCP), described as empty by default; the first and last frames stay required."""
    mode = modes.MODES["keyframe"]
    params = api_docs.signature(mode).parameters
    assert params["image_2"].default is None and "Default: empty." in api_docs.describe(
        mode.field("image_2")
    )
    assert params["first_image"].default is params["last_image"].default is inspect.Parameter.empty
    assert "Required." in api_docs.describe(mode.field("last_image"))
