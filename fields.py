"""A declared input (Field) and how a raw value from the UI or API becomes a checked one.

The Field is the single source of an input's kind, default, range, step and help: the UI builds
its component from it, `coerce` checks values against it, and every error quotes its range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import errors

KINDS = ("text", "int", "float", "choice", "bool", "image", "audio", "video")


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
    required: bool = False
    max_len: int | None = None
    # Shown in an empty box: an example prompt, or "auto" where empty means "derived".
    placeholder: str = ""
    # (node title, input name) pairs that take this value as is; derived values (sizes, frames,
    # the prompt with its suffix) are written by patches.py.
    patch: tuple[tuple[str, str], ...] = ()

    def range_text(self) -> str:
        if self.kind == "choice":
            return "one of " + ", ".join(map(str, self.choices))
        if self.min is not None and self.max is not None:
            return f"{number_text(self.min)}..{number_text(self.max)}"
        return ""


def number_text(value: float) -> str:
    """A number as a person reads it: 121, 0.7, 1e+308 (never a 309-digit integer)."""
    if abs(value) >= 1e9 or not math.isfinite(float(value)):
        return f"{float(value):.3g}"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _bad(f: Field, message: str, hint: str = "") -> errors.AppError:
    if not hint and f.range_text():
        hint = f"Allowed: {f.range_text()}."
    return errors.bad_input(f.name, message, hint=hint)


def _number(f: Field, value, *, integer: bool):
    if isinstance(value, bool) or value is None:
        raise _bad(f, f"{f.label or f.name} must be a number, got {value!r}")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise _bad(f, f"{f.label or f.name} must be a number, got {value!r}") from None
    if not isinstance(value, (int, float)):
        raise _bad(f, f"{f.label or f.name} must be a number, got {type(value).__name__}")
    if isinstance(value, int) and abs(value) > 2**63:  # too big to print or compare as float
        raise _bad(
            f,
            f"{f.label or f.name} is a number of about {int(value.bit_length() * 0.30103) + 1} "
            f"digits; allowed range is {f.range_text()}",
            hint="Set a value in that range and generate again.",
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise _bad(f, f"{f.label or f.name} must be a finite number, got {value!r}")
    if f.min is not None and value < f.min or f.max is not None and value > f.max:
        raise _bad(
            f,
            f"{f.label or f.name} is {number_text(value)}; allowed range is {f.range_text()}",
            hint="Set a value in that range and generate again.",
        )
    if integer:
        if value != int(value):
            raise _bad(f, f"{f.label or f.name} must be a whole number, got {value:g}")
        return int(value)
    return float(value)


def coerce(f: Field, value):
    """One raw value -> a checked value of the field's kind (None when optional and empty)."""
    empty = value is None or (isinstance(value, str) and not value.strip() and f.kind != "text")
    if empty:
        if f.required:
            raise errors.bad_input(f.name, f"{f.label or f.name} is required")
        return f.default
    if f.kind == "text":
        if not isinstance(value, str):
            raise _bad(f, f"{f.label or f.name} must be text, got {type(value).__name__}")
        value = value.replace("\x00", "").strip()
        if f.required and not value:
            raise errors.bad_input(f.name, f"{f.label or f.name} must not be empty")
        if f.max_len and len(value) > f.max_len:
            raise errors.bad_input(
                f.name, f"{f.label or f.name} has {len(value)} characters; the limit is {f.max_len}"
            )
        return value
    if f.kind in ("int", "float"):
        return _number(f, value, integer=f.kind == "int")
    if f.kind == "choice":
        if value not in f.choices:
            raise _bad(f, f"{value!r} is not a valid {f.label or f.name}")
        return value
    if f.kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
            return value.strip().lower() in ("true", "1")
        raise _bad(f, f"{f.label or f.name} must be true or false, got {value!r}")
    return value  # media paths are checked by media.inspect_*
