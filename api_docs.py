"""What the API says about each mode's parameters, all of it from the mode's declared Fields.

One description per field (what it does, what it takes, its default) reaches three readers: the
endpoint's signature and docstring (Gradio's MCP server makes tool descriptions from them), and
the schema `view_api()` shows, which Gradio reads from each input component's
`api_info_as_input()`. A required field has no default anywhere; integers are integers; a
parameter that may be left empty says what empty means. What a call returns is said once too
(`RETURNS`), for the docstring and the MCP tools' output schema, and so is how an MCP caller
passes a file (`MCP_FILES`).
"""

from __future__ import annotations

import inspect

import modes
import next_steps
from fields import KIND, Field, number_text

SCRIPT_UPLOAD = (
    "From Python: gradio_client.handle_file(path). Over MCP: a data URL, or this app's "
    "/gradio_api/file= URL of your upload (see the tool's description)."
)
# A media value may name one of the caller's finished History jobs instead of a file
# (next_steps.resolve): what each kind of field takes from that job's video.
FROM_JOB = {
    "video": "its video",
    "image": "its video's last frame",
    "audio": "its video's sound",
}


def from_job(kind: str) -> str:
    ref = next_steps.JOB_REF
    return (
        f'Or "{ref}<id>", the id of one of your finished History jobs (the job_id every call '
        f"answers): {FROM_JOB[kind]} is used, and the new job records which job it came from "
        f"({next_steps.SOURCE})."
    )


# The tools' one sentence on files, in place of Gradio's (which names a tool this server lacks).
MCP_FILES = (
    " Pass each file as a string, either a base64 data URL (data:image/png;base64,...), or the"
    " URL of your upload to this app: POST the file to this app's /gradio_api/upload (multipart"
    " form field `files`; it answers with a list of paths), then pass"
    " <this app's URL>/gradio_api/file=<that path> (what `gradio upload-mcp` returns for this"
    " app). Upload with the same X-AIO-Key (or Authorization) header as this MCP connection, or"
    " from the same address and client: a file someone else uploaded, a path on the server or"
    ' a URL of another server is refused. Or pass "job:<id>" for the output of one of your'
    " finished jobs."
)
RETURNS = {
    "video": "The generated mp4, video with its audio track (over MCP: its URL).",
    "parameters": "The parameters actually used after snapping (seed, preset, width, height, "
    "frames, fps, ...).",
}


def accepts(f: Field) -> str:
    """The kind of value and its range, e.g. "Integer 9..241 in steps of 8" (the kind's own)."""
    said = KIND[f.kind].accepts(f)
    return f"{said} {SCRIPT_UPLOAD} {from_job(f.kind)}" if f.is_media else said


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
    said = f.help or f"{f.title}."
    return " ".join(part.strip() for part in (said, accepts(f), default_text(f)))


def schema(f: Field, component_schema: dict) -> dict:
    """The JSON schema view_api shows for `f`: the component's own (media keep Gradio's file
        model), with the field's type, range and description. An optional field whose default is
    empty shows as `int | None` already: clients add `None` to any parameter defaulting to it."""
    if f.is_media:
        out = {k: v for k, v in component_schema.items() if k != "description"}
    else:
        out = KIND[f.kind].schema(f)
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
        default = inspect.Parameter.empty if f.required else f.default
        params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=default))
    return inspect.Signature(params)


def docstring(mode: modes.Mode) -> str:
    lines = [f"{mode.title}: {mode.description}", "", "Args:"]
    lines += [f"    {f.name}: {describe(f)}" for f in mode.fields]
    lines += ["", "Returns:", *(f"    {text}" for text in RETURNS.values())]
    return "\n".join(lines)


def result_schema() -> dict:
    """The JSON schema of an MCP tool's structured result: `RETURNS`, one key each."""
    return {
        "type": "object",
        "properties": {
            "video": {"type": "string", "format": "uri", "description": RETURNS["video"]},
            "parameters": {"type": "object", "description": RETURNS["parameters"]},
        },
        "required": list(RETURNS),
    }
