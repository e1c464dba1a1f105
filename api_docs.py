"""What the API says about each mode's parameters, all of it from the mode's declared Fields.

One description per field (what it does, what it takes, its default) reaches three readers: the
endpoint's signature and docstring (Gradio's MCP server makes tool descriptions from them), and
the schema `view_api()` shows, which Gradio reads from each input component's
`api_info_as_input()`. A required field has no default anywhere; integers are integers; a
parameter that may be left empty says what empty means.
"""

from __future__ import annotations

import inspect

import media
import modes
from fields import Field, number_text

SCRIPT_UPLOAD = "From Python: gradio_client.handle_file(path)."
TYPES = {"text": "string", "int": "integer", "float": "number", "bool": "boolean"}


def accepts(f: Field) -> str:
    """The kind of value and its range, e.g. "Integer 9..241 in steps of 8"."""
    if f.kind in modes.MEDIA_KINDS:
        return f"{media.accepts(f.kind)} {SCRIPT_UPLOAD}"
    if f.kind == "text":
        return f"Text, up to {f.max_len} characters." if f.max_len else "Text."
    if f.kind == "choice":
        return "One of: " + ", ".join(map(str, f.choices)) + "."
    if f.kind == "bool":
        return "Boolean: true or false."
    noun = "Integer" if f.kind == "int" else "Number"
    text = f"{noun} {f.range_text()}" if f.range_text() else noun
    if f.step and f.kind == "int" and f.step != 1:
        text += f" in steps of {number_text(f.step)}"
    return text + "."


def default_text(f: Field) -> str:
    if f.required:
        return "Required."
    if f.default is None:
        return "Default: empty."
    if f.kind == "text" and not f.default:
        return 'Default: "" (none).'
    if f.kind == "text":
        return f'Default: "{f.default}".'
    if isinstance(f.default, bool):
        return f"Default: {str(f.default).lower()}."
    if isinstance(f.default, (int, float)):
        return f"Default: {number_text(f.default)}."
    return f"Default: {f.default}."


def describe(f: Field) -> str:
    """The one description of a parameter: help, accepted values and range, default."""
    said = f.help or f"{f.label or f.name}."
    return " ".join(part.strip() for part in (said, accepts(f), default_text(f)))


def schema(f: Field, component_schema: dict) -> dict:
    """The JSON schema view_api shows for `f`: the component's own (media keep Gradio's file
        model), with the field's type, range and description. An optional field whose default is
    empty shows as `int | None` already: clients add `None` to any parameter defaulting to it."""
    if f.kind in modes.MEDIA_KINDS:
        out = {k: v for k, v in component_schema.items() if k != "description"}
    elif f.kind == "choice":
        out = {"type": "string", "enum": list(f.choices)}
    else:
        out = {"type": TYPES[f.kind]}
        if f.min is not None:
            out["minimum"] = f.min
        if f.max is not None:
            out["maximum"] = f.max
        if f.max_len:
            out["maxLength"] = f.max_len
    text = describe(f)
    # Gradio shows `additional_description` as the parameter's description in view_api.
    return {**out, "description": text, "additional_description": text}


def document(component, f: Field) -> None:
    """Make an input component's API schema say what `f` says."""
    info = schema(f, component.api_info())
    # Gradio builds the endpoint's parameter list from this method of each input component.
    component.api_info_as_input = lambda: info


def signature(mode: modes.Mode) -> inspect.Signature:
    """Keyword parameters named after the mode's fields; a required field has no default."""
    params = []
    for f in mode.fields:
        empty = f.required or f.kind in modes.MEDIA_KINDS
        default = inspect.Parameter.empty if empty else f.default
        params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=default))
    return inspect.Signature(params)


def docstring(mode: modes.Mode) -> str:
    lines = [f"{mode.title}: {mode.description}", "", "Args:"]
    lines += [f"    {f.name}: {describe(f)}" for f in mode.fields]
    lines += [
        "",
        "Returns:",
        "    The generated mp4 (video with its audio track).",
        "    The parameters actually used after snapping (seed, preset, width, height, frames, "
        "fps, ...).",
    ]
    return "\n".join(lines)
