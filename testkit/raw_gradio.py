"""Call a Gradio app's events as any HTTP client can, private ones included, without the page.

What an adversarial visitor does: read /config, then post whatever data they like to any event,
queued (`/gradio_api/queue/join` + the event stream) or not (`/gradio_api/run/predict`).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import httpx


@dataclass
class Event:
    fn_index: int
    queued: bool
    trigger: str | None  # elem_id of the component whose event it is
    inputs: list[dict]  # the input components' config entries, in payload order
    private: bool
    api_name: str | None = None


class RawApp:
    def __init__(self, url: str, headers: dict | None = None) -> None:
        self.url = url.rstrip("/") + "/"
        self.headers = headers or {}
        config = httpx.get(self.url + "config", timeout=30).json()
        components = {c["id"]: c for c in config["components"]}
        self.events = []
        for dep in config["dependencies"]:
            targets = [components.get(t[0], {}).get("props", {}).get("elem_id") for t in
                       dep.get("targets", [])]  # fmt: skip
            self.events.append(
                Event(
                    fn_index=dep["id"],
                    queued=bool(dep.get("queue", True)),
                    trigger=next((t for t in targets if t), None),
                    inputs=[components[i] for i in dep["inputs"]],
                    private=dep.get("api_visibility") == "private",
                    api_name=dep.get("api_name") or None,
                )
            )

    def event(self, trigger: str, step: int = 0) -> Event:
        """The event a component triggers (step 1: the `.then` that follows it)."""
        first = next(i for i, e in enumerate(self.events) if e.trigger == trigger)
        return self.events[first + step]

    def endpoint(self, api_name: str) -> Event:
        return next(e for e in self.events if e.api_name == api_name)

    def call(self, event: Event, data: list, session: str | None = None) -> dict:
        """{"ok": bool, "data" or "error": ..., "text": the raw answer}."""
        session = session or uuid.uuid4().hex
        body = {"data": data, "fn_index": event.fn_index, "session_hash": session}
        if not event.queued:
            answer = httpx.post(
                self.url + "gradio_api/run/predict", json=body, headers=self.headers, timeout=60
            )
            parsed = answer.json() if answer.content else {}
            ok = answer.status_code == 200 and "error" not in parsed
            return {"ok": ok, "data": parsed.get("data"), "error": parsed.get("error"),
                    "text": answer.text}  # fmt: skip
        joined = httpx.post(
            self.url + "gradio_api/queue/join", json=body, headers=self.headers, timeout=60
        )
        if joined.status_code != 200:
            return {"ok": False, "error": joined.text, "text": joined.text}
        event_id = joined.json()["event_id"]
        texts = []
        with httpx.stream(
            "GET",
            self.url + "gradio_api/queue/data",
            params={"session_hash": session},
            headers=self.headers,
            timeout=120,
        ) as stream:
            for line in stream.iter_lines():
                if not line.startswith("data:"):
                    continue
                texts.append(line)
                message = json.loads(line[5:])
                if (
                    message.get("event_id") == event_id
                    and message.get("msg") == "process_completed"
                ):
                    output = message.get("output") or {}
                    return {"ok": bool(message.get("success")), "data": output.get("data"),
                            "error": output.get("error"), "text": "\n".join(texts)}  # fmt: skip
        return {"ok": False, "error": "the event stream ended", "text": "\n".join(texts)}
