"""A declared input (Field), what each kind of input does, and how a raw value from the UI or API
becomes a checked one.

The Field is the single source of an input's kind, default, range, step and help. What a kind
does lives in one place, its entry in `KIND` (as ComfyUI's io schema has each input type describe
itself): how a raw value becomes a checked one (`coerce`), what the API says it accepts and its
JSON schema type. The UI's component per kind is panels_ui.py's one table beside it; every error
quotes the field's range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import errors


def number_text(value: float) -> str:
    """A number as a person reads it: 121, 0.7, 1e+308 (never a 309-digit integer)."""
    if abs(value) >= 1e9 or not math.isfinite(float(value)):
        return f"{float(value):.3g}"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


class Kind:
    """One kind of field: its checks and its API description. `media`: the value is a file
    (checked by media.inspect_*, staged into ComfyUI's input folder)."""

    media = False
    json_type = ""  # the API schema's "type" (media keep Gradio's file model instead)

    def __init__(self, name: str) -> None:
        self.name = name

    def coerce(self, f: Field, value):
        """A raw value that is not empty -> the checked value."""
        return value

    def accepts(self, f: Field) -> str:
        """The kind of value and its range, in one sentence."""
        raise NotImplementedError

    def schema(self, f: Field) -> dict:
        return {"type": self.json_type}


class Text(Kind):
    json_type = "string"

    def coerce(self, f: Field, value):
        if not isinstance(value, str):
            raise _bad(f, f"{f.title} must be text, got {type(value).__name__}")
        value = value.replace("\x00", "").strip()
        if f.required and not value:
            raise errors.bad_input(f.name, f"{f.title} must not be empty")
        if f.max_len and len(value) > f.max_len:
            raise errors.bad_input(
                f.name, f"{f.title} has {len(value)} characters; the limit is {f.max_len}"
            )
        return value

    def accepts(self, f: Field) -> str:
        return f"Text, up to {f.max_len} characters." if f.max_len else "Text."

    def schema(self, f: Field) -> dict:
        return {"type": self.json_type, **({"maxLength": f.max_len} if f.max_len else {})}


class Number(Kind):
    def __init__(self, name: str, *, integer: bool) -> None:
        super().__init__(name)
        self.integer = integer
        self.json_type = "integer" if integer else "number"

    def coerce(self, f: Field, value):
        if isinstance(value, bool):
            raise _bad(f, f"{f.title} must be a number, got {value!r}")
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                raise _bad(f, f"{f.title} must be a number, got {value!r}") from None
        if not isinstance(value, (int, float)):
            raise _bad(f, f"{f.title} must be a number, got {type(value).__name__}")
        if isinstance(value, int) and abs(value) > 2**63:  # too big to print or compare as float
            raise _bad(
                f,
                f"{f.title} is a number of about {int(value.bit_length() * 0.30103) + 1} "
                f"digits; allowed range is {f.range_text()}",
                hint="Set a value in that range and generate again.",
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise _bad(f, f"{f.title} must be a finite number, got {value!r}")
        if f.min is not None and value < f.min or f.max is not None and value > f.max:
            raise _bad(
                f,
                f"{f.title} is {number_text(value)}; allowed range is {f.range_text()}",
                hint="Set a value in that range and generate again.",
            )
        if self.integer:
            if value != int(value):
                raise _bad(f, f"{f.title} must be a whole number, got {value:g}")
            return int(value)
        return float(value)

    def accepts(self, f: Field) -> str:
        noun = "Integer" if self.integer else "Number"
        text = f"{noun} {f.range_text()}" if f.range_text() else noun
        if f.step and self.integer and f.step != 1:
            text += f" in steps of {number_text(f.step)}"
        return text + "."

    def schema(self, f: Field) -> dict:
        bounds = {"minimum": f.min, "maximum": f.max}
        return {"type": self.json_type, **{k: v for k, v in bounds.items() if v is not None}}


class Choice(Kind):
    json_type = "string"

    def coerce(self, f: Field, value):
        if value not in f.choices:
            raise _bad(f, f"{value!r} is not a valid {f.title}")
        return value

    def accepts(self, f: Field) -> str:
        return "One of: " + ", ".join(map(str, f.choices)) + "."

    def schema(self, f: Field) -> dict:
        return {"type": self.json_type, "enum": list(f.choices)}


class Bool(Kind):
    json_type = "boolean"

    def coerce(self, f: Field, value):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
            return value.strip().lower() in ("true", "1")
        raise _bad(f, f"{f.title} must be true or false, got {value!r}")

    def accepts(self, f: Field) -> str:
        return "Boolean: true or false."


class Media(Kind):
    """A file: its path is checked by media.inspect_* when the job is prepared."""

    media = True

    def accepts(self, f: Field) -> str:
        import media  # numpy and the codecs' limits: only where a media field is described

        return media.accepts(self.name)


# Every kind a field can have: the one list (panels_ui.py's COMPONENTS has an entry for each).
KIND: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Text("text"),
        Number("int", integer=True),
        Number("float", integer=False),
        Choice("choice"),
        Bool("bool"),
        Media("image"),
        Media("audio"),
        Media("video"),
    )
}
KINDS = tuple(KIND)
MEDIA_KINDS = tuple(name for name, kind in KIND.items() if kind.media)


@dataclass(frozen=True)
class Field:
    name: str
    kind: str
    label: str = ""
    default: object = None
    min: float | None = None
    max: float | None = None
    step: float | None = None
    choices: tuple = ()
    help: str = ""
    advanced: bool = False
    # The panel's closed section of its own the field sits in ("More keyframes"); "": none.
    group: str = ""
    required: bool = False
    max_len: int | None = None
    # Shown in an empty box: an example prompt, or "auto" where empty means "derived".
    placeholder: str = ""
    # (node title, input name) pairs that take this value as is; derived values (sizes, frames,
    # the prompt with its suffix) are written by patches.py.
    patch: tuple[tuple[str, str], ...] = ()
    # A text field's values to pick from, per model family: (family, (value, ...)) pairs; any
    # other value may still be typed (the known LoRAs of the job's model).
    suggest: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def suggestions(self, model: str | None) -> list[str]:
        return list(dict(self.suggest).get(model, ()))

    def __post_init__(self) -> None:
        if self.kind not in KIND:
            raise ValueError(f"field {self.name} has unknown kind {self.kind!r}: one of {KINDS}")

    @property
    def title(self) -> str:
        """What a person calls it: its label, else its name."""
        return self.label or self.name

    @property
    def is_media(self) -> bool:
        return KIND[self.kind].media

    def range_text(self) -> str:
        if self.kind == "choice":
            return "one of " + ", ".join(map(str, self.choices))
        if self.min is not None and self.max is not None:
            return f"{number_text(self.min)}..{number_text(self.max)}"
        return ""


def _bad(f: Field, message: str, hint: str = "") -> errors.AppError:
    if not hint and f.range_text():
        hint = f"Allowed: {f.range_text()}."
    return errors.bad_input(f.name, message, hint=hint)


def coerce(f: Field, value):
    """One raw value -> a checked value of the field's kind (None when optional and empty)."""
    empty = value is None or (isinstance(value, str) and not value.strip() and f.kind != "text")
    if empty:
        if f.required:
            raise errors.bad_input(f.name, f"{f.title} is required")
        return f.default
    return KIND[f.kind].coerce(f, value)
