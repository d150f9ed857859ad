"""A deterministic JSON value that conforms to a JSON schema: what a simulated model answers under
``format`` (structured outputs) and puts in a tool call's ``arguments``.

Covered: ``type`` (one or a list; ``null`` only when nothing else is allowed), ``enum``, ``const``,
``properties`` with ``required`` (every property is filled), nested objects and arrays (``items``,
``prefixItems``, ``minItems``/``maxItems``), ``anyOf``/``oneOf`` (the first usable branch),
``allOf`` (merged), ``$ref`` into ``$defs``/``definitions`` (what pydantic emits), ``minimum``/
``maximum`` (also exclusive), ``multipleOf`` for integers, ``minLength``/``maxLength`` and the
``date-time``, ``date``, ``time``, ``email``, ``uri`` and ``uuid`` string formats. Not covered:
``pattern``, ``not``, ``if``/``then``, ``dependentRequired``.

:class:`Hints` lets a caller steer values from the prompt (tool arguments take the capitalized
words and the numbers of the user's message, in order).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Hints", "schema_value"]

_WORDS = ("alpha", "river", "stone", "signal", "garden", "orbit", "vector", "bridge", "cloud")
_MAX_DEPTH = 6  # recursive schemas ($ref to itself) stop here with the smallest value


@dataclass
class Hints:
    """Values to use first: strings for string fields, numbers for numeric ones, in order."""

    strings: list[str] = field(default_factory=list)
    numbers: list[float] = field(default_factory=list)
    text: str = ""  # the whole message, lower-cased: an enum value named in it wins

    def next_string(self) -> str | None:
        return self.strings.pop(0) if self.strings else None

    def next_number(self) -> float | None:
        return self.numbers.pop(0) if self.numbers else None


def schema_value(schema: Any, rng: random.Random, hints: Hints | None = None) -> Any:
    """A value valid under ``schema`` (a dict; ``True``/``{}`` allow anything: an object)."""
    root = schema if isinstance(schema, Mapping) else {}
    return _Builder(root, rng, hints or Hints()).value(root, 0)


class _Builder:
    def __init__(self, root: Mapping[str, Any], rng: random.Random, hints: Hints) -> None:
        self.root, self.rng, self.hints = root, rng, hints

    def value(self, schema: Any, depth: int) -> Any:
        s = self._resolve(schema)
        if "const" in s:
            return s["const"]
        if isinstance(s.get("enum"), list) and s["enum"]:
            return self._enum(s["enum"])
        for key in ("anyOf", "oneOf"):
            if isinstance(s.get(key), list) and s[key]:
                return self.value(_first_usable(s[key], self), depth)
        kind = self._type(s) or ("object" if depth == 0 else "string")
        return self._typed(kind, s, depth)

    def _typed(self, kind: str, s: dict[str, Any], depth: int) -> Any:
        if kind == "object":
            return self._object(s, depth)
        if kind == "array":
            return self._array(s, depth)
        if kind == "string":
            return self._string(s)
        if kind in ("integer", "number"):
            return self._number(s, kind == "integer")
        return True if kind == "boolean" else None

    def _resolve(self, schema: Any) -> dict[str, Any]:
        """Follow ``$ref`` (local pointers) and merge ``allOf`` into one schema dict."""
        s = dict(schema) if isinstance(schema, Mapping) else {}
        for _ in range(_MAX_DEPTH):
            ref = s.pop("$ref", None)
            if not isinstance(ref, str):
                break
            s = {**self._pointer(ref), **s}
        for part in s.pop("allOf", None) or ():
            merged = self._resolve(part)
            props = {**merged.get("properties", {}), **s.get("properties", {})}
            required = [*merged.get("required", []), *s.get("required", [])]
            s = {**merged, **s, "properties": props, "required": required}
        return s

    def _pointer(self, ref: str) -> dict[str, Any]:
        node: Any = self.root
        for part in ref.removeprefix("#").strip("/").split("/"):
            if not part:
                continue
            node = node.get(part.replace("~1", "/").replace("~0", "~"), {}) if node else {}
        return dict(node) if isinstance(node, Mapping) else {}

    def _type(self, s: Mapping[str, Any]) -> str | None:
        """The JSON type to produce; None when the schema does not say."""
        kind = s.get("type")
        if isinstance(kind, list):
            usable = [k for k in kind if k != "null"]
            return str(usable[0]) if usable else "null"
        if isinstance(kind, str):
            return kind
        if "properties" in s:
            return "object"
        if "items" in s or "prefixItems" in s:
            return "array"
        return None

    def _enum(self, options: list[Any]) -> Any:
        """The first option the message names, else the first option."""
        for option in options:
            if isinstance(option, str) and option and option.lower() in self.hints.text:
                if self.hints.strings and self.hints.strings[0].lower() == option.lower():
                    self.hints.next_string()
                return option
        return options[0]

    def _object(self, s: Mapping[str, Any], depth: int) -> dict[str, Any]:
        props = s.get("properties") or {}
        if depth >= _MAX_DEPTH:
            props = {k: v for k, v in props.items() if k in (s.get("required") or ())}
        out = {name: self.value(sub, depth + 1) for name, sub in props.items()}
        if not props and depth == 0 and s.get("additionalProperties") is not False:
            out = {"answer": self._words(3)}  # format "json": some object
        return out

    def _array(self, s: Mapping[str, Any], depth: int) -> list[Any]:
        prefix = list(s.get("prefixItems") or ())
        lo = int(s.get("minItems", 0))
        hi = int(s.get("maxItems", max(lo, len(prefix), 2)))
        count = 0 if depth >= _MAX_DEPTH else max(lo, min(hi, max(len(prefix), 2)))
        items = s.get("items") if isinstance(s.get("items"), Mapping) else {}
        unique, tries = bool(s.get("uniqueItems")), 0
        options = self._resolve(items).get("enum")
        if unique and isinstance(options, list) and options and not prefix:
            return [options[i % len(options)] for i in range(count)]  # distinct while they last
        out: list[Any] = []
        while len(out) < count:  # uniqueItems: redraw a repeated value, a few times at most
            i, tries = len(out), tries + 1
            value = self.value(prefix[i] if i < len(prefix) else items, depth + 1)
            if not unique or value not in out or tries > 4 * count:
                out.append(value)
        return out

    def _string(self, s: Mapping[str, Any]) -> str:
        fmt = s.get("format")
        if fmt in _FORMATS:
            return _FORMATS[fmt](self.rng)
        text = self.hints.next_string() or self._words(self.rng.randint(1, 3))
        lo, hi = int(s.get("minLength", 0)), s.get("maxLength")
        while len(text) < lo:
            text += " " + self._words(1)
        return text[: int(hi)] if isinstance(hi, int) else text

    def _number(self, s: Mapping[str, Any], integer: bool) -> int | float:
        lo, hi = _bounds(s, integer)
        hinted = self.hints.next_number()
        value = hinted if hinted is not None else self.rng.uniform(lo, hi)
        value = min(hi, max(lo, value))
        if not integer:
            return round(value, 2) if hinted is None else value
        step = s.get("multipleOf")
        whole = round(value)
        if isinstance(step, int) and step > 0:
            whole = -(-int(lo) // step) * step if whole % step else whole
        return whole

    def _words(self, count: int) -> str:
        return " ".join(self.rng.choice(_WORDS) for _ in range(count))


def _first_usable(options: list[Any], builder: _Builder) -> Any:
    """The first branch that is not just ``{"type": "null"}`` (Optional[X] → X)."""
    for option in options:
        if builder._type(builder._resolve(option)) != "null":
            return option
    return options[0]


def _bounds(s: Mapping[str, Any], integer: bool) -> tuple[float, float]:
    """[lo, hi] from minimum/maximum and exclusive bounds (numbers, or draft 4's booleans)."""
    step = 1 if integer else 0.01
    lo, hi = s.get("minimum"), s.get("maximum")
    ex_lo, ex_hi = s.get("exclusiveMinimum"), s.get("exclusiveMaximum")
    if isinstance(ex_lo, int | float) and not isinstance(ex_lo, bool):
        lo = ex_lo + step if lo is None else max(lo, ex_lo + step)
    elif ex_lo is True and lo is not None:
        lo += step
    if isinstance(ex_hi, int | float) and not isinstance(ex_hi, bool):
        hi = ex_hi - step if hi is None else min(hi, ex_hi - step)
    elif ex_hi is True and hi is not None:
        hi -= step
    low = 0.0 if lo is None else float(lo)
    if hi is None:
        hi = max(100.0, low + 100.0)
    return low, float(max(low, hi))


_FORMATS = {
    "date-time": lambda rng: f"2026-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}T10:00:00Z",
    "date": lambda rng: f"2026-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}",
    "time": lambda rng: f"1{rng.randint(0, 9)}:30:00",
    "email": lambda rng: f"{rng.choice(_WORDS)}@example.com",
    "uri": lambda rng: f"https://example.com/{rng.choice(_WORDS)}",
    "uuid": lambda rng: f"{rng.getrandbits(32):08x}-0000-4000-8000-{rng.getrandbits(48):012x}",
}
