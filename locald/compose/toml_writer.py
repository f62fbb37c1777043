"""Write a dict as readable TOML: [sections] for services and their big tables, inline tables for
small ones, comments where the importer has something to say. Small on purpose (no dependency):
the importer's data is plain JSON without nulls; tests read every output back with tomli."""

from __future__ import annotations

import math
import re
from typing import Any

WIDTH = 100
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def key(k: str) -> str:
    return k if _BARE_KEY.fullmatch(k) else '"' + _escape(k, keep_newlines=False) + '"'



def _escape(s: str, keep_newlines: bool) -> str:
    out = []
    for i, ch in enumerate(s):
        if ch == "\n" and keep_newlines:
            out.append(ch)
        elif ch == '"' and keep_newlines and not s.startswith('""', i + 1) and i != len(s) - 1:
            out.append(ch)  # a lone quote needs no escape inside """…"""
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


def string(s: str) -> str:
    if "\n" in s.rstrip("\n") and len(s) > 40:  # scripts read better over several lines
        return '"""\n' + _escape(s, keep_newlines=True) + '"""'
    return '"' + _escape(s, keep_newlines=False) + '"'


def value(v: Any) -> str:
    """A value on one line (arrays and tables inline)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return '"' + _escape(v, keep_newlines=False) + '"'
    if isinstance(v, list):
        return "[" + ", ".join(value(x) for x in v) + "]"
    if isinstance(v, dict):
        if not v:
            return "{}"
        return "{ " + ", ".join(f"{key(k)} = {value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} to TOML: {v!r}")


def _assignment(k: str, v: Any) -> str:
    """`key = value`, spreading a long array over several lines and long strings over a block."""
    if isinstance(v, str):
        return f"{key(k)} = {string(v)}"
    line = f"{key(k)} = {value(v)}"
    if isinstance(v, list) and v and len(line) > WIDTH:
        return f"{key(k)} = [\n" + "".join(f"  {_item(x)},\n" for x in v) + "]"
    return line


def _item(v: Any) -> str:
    return string(v) if isinstance(v, str) else value(v)


def _is_section(path: tuple, k: str, v: Any, sections_to: int) -> bool:
    """Tables near the top (project, services.NAME, …) get a [header]; deeper ones only when too long."""
    if not isinstance(v, dict) or not v:
        return False
    if len(path) + 1 <= sections_to:
        return True
    return len(f"{key(k)} = {value(v)}") > WIDTH or any(isinstance(x, str) and "\n" in x for x in v.values())


def dumps(doc: dict, header: list[str] = (), comments: dict[tuple, list[str]] | None = None,
          sections_to: int = 2) -> str:
    """`header`: lines written first, as is (e.g. the `#:schema` line and comments).
    `comments`: table path -> comment lines written above that table's header."""
    comments = comments or {}
    out: list[str] = list(header)

    def table(path: tuple, t: dict) -> None:
        plain = [(k, v) for k, v in t.items() if not _is_section(path, k, v, sections_to)]
        nested = [(k, v) for k, v in t.items() if _is_section(path, k, v, sections_to)]
        if path and (plain or not nested or path in comments):
            if out and out[-1] != "":
                out.append("")
            out.extend(f"# {c}" if c else "#" for c in comments.get(path, ()))
            out.append("[" + ".".join(key(p) for p in path) + "]")
        for k, v in plain:
            out.append(_assignment(k, v))
        for k, v in nested:
            table(path + (k,), v)

    table((), doc)
    return "\n".join(out).rstrip("\n") + "\n"
