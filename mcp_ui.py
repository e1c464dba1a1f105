"""The modes as MCP tools: Gradio's MCP server, saying and doing what the API does.

Gradio's server (`launch(mcp_server=True)`) makes a tool of each endpoint and calls the endpoint
over HTTP with its own in-process gradio_client. What is this app's own:
- files: each argument goes on as the caller gave it, minus Gradio's file marker (with it, the
  in-process client would upload any path so marked: a file of the server's); the endpoint's door
  reads the string (api_refusals.py: a data URL, this app's file URL of an upload), and the call
  carries the caller's fingerprint (uploads_ui.vouch), so an MCP caller uses the uploads it made;
- descriptions: in place of Gradio's sentence on an upload tool this server does not have, how to
  pass a file (api_docs.MCP_FILES);
- results: the video's URL and the parameters used, as structured content under an output schema;
- refusals: the app's one line, whether the door or the job refused. Gradio's own input-schema
  check would say only "10000 is greater than the maximum of 241", so every value goes to the
  app's checks, which name the field.

`lifespan` makes the server this app's as the app starts, before it serves a request.
"""

from __future__ import annotations

import contextlib
import json

import httpx
from anyio.to_thread import run_sync
from gradio.mcp import GradioMCPServer
from gradio_client.exceptions import AppError as ClientAppError
from gradio_client.utils import encode_file_path
from mcp import types
from mcp.server import Server

import api_docs
import modes
import uploads_ui


class Refused(Exception):
    """A call the app refused; its text is the app's one line."""


class ToolServer(Server):
    """The MCP protocol server under Gradio's handlers: no input-schema check in place of the
    app's, and each result's JSON text as its structured content, under `result_schema`."""

    def call_tool(self, *, validate_input: bool = True):
        register = super().call_tool(validate_input=False)

        def decorator(func):
            async def call(name: str, arguments: dict):
                return structured(await func(name, arguments))

            register(call)
            return func

        return decorator

    def list_tools(self):
        register = super().list_tools()

        def decorator(func):
            async def listed() -> list[types.Tool]:
                schema = api_docs.result_schema()
                return [tool.model_copy(update={"outputSchema": schema}) for tool in await func()]

            register(listed)
            return func

        return decorator


def structured(result):
    """(content, structured content) of a tool's result whose one text is a JSON object."""
    texts = [c for c in getattr(result, "content", None) or [] if c.type == "text"]
    if getattr(result, "isError", False) or len(texts) != 1:
        return result
    try:
        data = json.loads(texts[0].text)
    except ValueError:
        return result
    return (result.content, data) if isinstance(data, dict) else result


class ModeTools(GradioMCPServer):
    Server = ToolServer

    def get_tool_to_endpoint(self) -> dict[str, str]:
        """The modes' endpoints only: their tools answer a video and the parameters used. The
        prompt enhancer is each mode tool's `enhance_prompt` option here, not a tool of its own
        (`/enhance` answers text, which no tool's result schema says)."""
        return {
            tool: endpoint
            for tool, endpoint in super().get_tool_to_endpoint().items()
            if endpoint.lstrip("/") in modes.MODES
        }

    @property
    def _file_data_tool_description(self) -> str:
        return api_docs.MCP_FILES

    def get_input_schema(self, tool_name: str, parameters: dict | None = None):
        schema, positions = super().get_input_schema(tool_name, parameters)
        for path in positions:  # Gradio's "a http or https url" leaves data URLs out
            if len(path) == 1 and path[0] in schema.get("properties", {}):
                schema["properties"][path[0]]["format"] = "uri"
        return schema, positions

    def convert_strings_to_filedata(self, value, filedata_positions):
        return unmarked(value)

    def _prepare_tool_call_args(self, name: str, arguments: dict):
        # A required argument left out goes on as empty: the app's check says which it is.
        required = self.get_input_schema(name)[0].get("required", [])
        arguments = {**dict.fromkeys(required), **(arguments or {})}
        endpoint, args, headers, block_fn = super()._prepare_tool_call_args(name, arguments)
        caller = self.mcp_server.request_context.request
        headers[uploads_ui.SENDER_HEADER] = uploads_ui.vouch(uploads_ui.request_fingerprint(caller))
        return endpoint, args, headers, block_fn

    async def _execute_tool_without_progress(self, job):
        try:
            return await super()._execute_tool_without_progress(job)
        except httpx.HTTPStatusError as err:  # refused at the door: its answer says why
            raise Refused(door_said(err.response)) from None

    async def _execute_tool_with_progress(self, job, progress_token):
        try:
            return await super()._execute_tool_with_progress(job, progress_token)
        except httpx.HTTPStatusError as err:
            raise Refused(door_said(err.response)) from None
        except RuntimeError:  # Gradio's "<title>: <message>": the message alone says it all
            failure = await run_sync(job.exception)
            if isinstance(failure, ClientAppError):
                raise Refused(failure.message) from None
            raise

    def postprocess_output_data(self, data, root_url: str):
        """The call's result as JSON: the video's URL and the parameters used."""
        if len(data) == 1 and isinstance(data[0], (list, tuple)):
            data = list(data[0])  # gradio_client's result: (video, parameters)
        video, used = data
        path = video.get("path") if isinstance(video, dict) else video
        result = {
            "video": f"{root_url.rstrip('/')}/gradio_api/file={encode_file_path(path)}",
            "parameters": used,
        }
        return [self.types.TextContent(type="text", text=json.dumps(result))]


def unmarked(value):
    """`value` without Gradio's file markers, at any depth."""
    if isinstance(value, dict):
        return {
            k: unmarked(v)
            for k, v in value.items()
            if not (k == "meta" and isinstance(v, dict) and v.get("_type") == "gradio.FileData")
        }
    if isinstance(value, list):
        return [unmarked(v) for v in value]
    return value


def door_said(response: httpx.Response) -> str:
    with contextlib.suppress(ValueError, AttributeError):
        detail = response.json().get("detail")
        if isinstance(detail, str) and detail:
            return detail
    return f"The server refused the call (HTTP {response.status_code})."


def adopt(blocks) -> None:
    """Make the Blocks' MCP server this app's (`ModeTools`), with its protocol server remade."""
    server = getattr(blocks, "mcp_server_obj", None)
    if server is None or isinstance(server, ModeTools):
        return
    server.__class__ = ModeTools
    server.tool_to_endpoint = server.get_tool_to_endpoint()  # made before it was ours
    server.mcp_server = server.create_mcp_server()
    server.manager.app = server.mcp_server  # the streamable HTTP transport serves this one


@contextlib.asynccontextmanager
async def lifespan(app):
    """For `launch(app_kwargs={"lifespan": ...})`: Gradio starts its MCP server, then this runs."""
    adopt(app.get_blocks())
    yield
