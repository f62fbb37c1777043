"""Check a loaded document against schema/locald.schema.json and word the errors for people.

Draft-07 on purpose: editors (Taplo, Tombi) ignore newer keywords, and the terminal must agree
with the editor. The checking itself is done by .draft7 (a small validator: jsonschema costs more
to import than the rest of `locald validate`); this module turns its errors into Problems.
"""

from __future__ import annotations

import datetime
import difflib
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import Problem
from .draft7 import SchemaError, Validator
from .source import Source


def schema_path() -> Path:
    packaged = Path(__file__).resolve().parent.parent / "locald.schema.json"  # inside a wheel
    if packaged.exists():
        return packaged
    return Path(__file__).resolve().parents[2] / "schema" / "locald.schema.json"  # a source checkout


@lru_cache(maxsize=1)
def schema_text() -> str:
    return schema_path().read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def schema() -> dict:
    return json.loads(schema_text())


@lru_cache(maxsize=1)
def validator() -> Validator:
    return Validator(schema())


_SIMPLE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def json_path(path) -> str:
    out = "$"
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _SIMPLE_KEY.fullmatch(part):
            out += f".{part}"
        else:
            out += "[" + shown(json.dumps(part, ensure_ascii=False)) + "]"
    return out


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def shown(text: str) -> str:
    """A user's text inside a one-line message: invisible and line-breaking characters escaped."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _ESCAPES.get(c) or (f"\\u{ord(c):04x}" if ord(c) < 0x10000
                   else f"\\U{ord(c):08x}") for c in text)


def did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean '{shown(close[0])}'?)" if close else ""


_NO_CNB = ("Cloud Native Buildpacks builds are not supported: build with a Dockerfile "
           "(`build = \"./dir\"`) or use `image`")

# Advice for keys people bring from the original locald or from compose.
_KEY_HINTS = {
    "args": "put the program and its arguments in `command` as an array: command = [\"bash\", \"-c\", \"…\"]",
    "service": "services are declared as [services.NAME]",
    "builder": _NO_CNB,
    "buildpacks": _NO_CNB,
    "environment": "locald calls it `env`",
    "working_dir": "locald calls it `workdir`",
    "healthcheck": "locald calls it `health_check`",
}


_PLAIN_WORDS = re.compile(r"[\w./@:+=,-]+( [\w./@:+=,-]+)*")  # a command that splits on spaces alone


def _unknown_key_message(key: str, allowed, parent: Any = None) -> str:
    if key == "args" and isinstance(parent, dict):
        command, args = parent.get("command"), parent.get("args")
        if (isinstance(command, str) and _PLAIN_WORDS.fullmatch(command) and isinstance(args, list)
                and all(isinstance(a, str) for a in args)):
            # the original locald ignored `args`; say exactly what the user meant
            merged = json.dumps([*command.split(), *args], ensure_ascii=False)
            return f"unknown key 'args': put the program and its arguments in `command`: command = {merged}"
    if key in _KEY_HINTS:
        return f"unknown key '{key}': {_KEY_HINTS[key]}"
    return f"unknown key '{shown(key)}'{did_you_mean(key, allowed)}"


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {shown(json.dumps(value, ensure_ascii=False))}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, datetime.datetime):
        return "a date-time"
    if isinstance(value, datetime.date):
        return "a date"
    if isinstance(value, datetime.time):
        return "a time"
    return type(value).__name__


_TYPE_WORDS = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "a boolean",
               "array": "an array", "object": "a table", "null": "nothing"}


def _words(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _expected(types) -> str:
    types = [types] if isinstance(types, str) else types
    return _words([_TYPE_WORDS.get(t, t) for t in dict.fromkeys(types)])


# Patterns are not for people: say what the value should look like instead.
_PATTERN_WORDS = {
    "stop_signal": "a signal name (e.g. 'SIGINT')",
    "domain": "a host name (letters, digits, '-' and '.')",
}

_DURATION = ("expected a duration (seconds as a number, or a string like '10s' or '1m30s'), got ")


def _message(err: SchemaError) -> str:
    v, inst, value = err.keyword, err.instance, err.value
    last = err.path[-1] if err.path else None
    if err.schema is schema()["definitions"]["duration"]:
        return _DURATION + _describe(inst)
    if v == "type":
        return f"expected {_expected(value)}, got {_describe(inst)}"
    if v == "enum":
        return f"{_describe(inst)} is not one of: {', '.join(json.dumps(x) for x in value)}"
    if v == "required":
        missing = [k for k in value if k not in inst]
        if missing == ["context"] and last == "build":
            return ("`build` needs a `context` directory with a Dockerfile "
                    "(Cloud Native Buildpacks builds of the original locald are not supported)")
        return "missing required key " + ", ".join(f"'{k}'" for k in missing)
    if v == "minimum":
        return f"must be at least {value}, got {inst}"
    if v == "maximum":
        return f"must be at most {value}, got {inst}"
    if v == "minLength":
        return "must not be empty"
    if v == "minItems":
        return "must not be an empty array"
    if v == "propertyNames":
        if len(err.path) == 2 and err.path[0] == "services":
            return (f"service name {shown(json.dumps(inst, ensure_ascii=False))} cannot be used as a compose "
                    "service name: use lowercase letters, digits, '-' and '_', starting with a letter or digit")
        return f"{shown(json.dumps(inst, ensure_ascii=False))} is not an allowed name here"
    if v == "pattern":
        return f"{_describe(inst)} is not {_PATTERN_WORDS.get(last, 'of the expected form (' + shown(value) + ')')}"
    if v in ("anyOf", "oneOf"):  # no branch accepts even the type
        types = [e.value for e in err.context if e.keyword == "type" and e.path == err.path]
        flat = [t for ts in types for t in ([ts] if isinstance(ts, str) else ts)]
        if flat:
            return f"expected {_expected(flat)}, got {_describe(inst)}"
        return "does not match any of the accepted forms"
    return f"`{v}` check failed"


def _leaves(err: SchemaError) -> list[SchemaError]:
    """The errors to show for one error: under anyOf/oneOf, those of the branch the user meant.

    The branch meant is the one whose type matches the value (`depends_on.db = "ready"` meant the
    condition string, not the table); when no branch takes the type, one message lists the types.
    """
    if err.keyword not in ("anyOf", "oneOf") or err.schema is schema()["definitions"]["duration"]:
        return [err]
    branches: dict[int, list[SchemaError]] = {}
    for e in err.context:
        branches.setdefault(e.branch, []).append(e)
    meant = [errs for errs in branches.values()
             if not any(e.keyword == "type" and e.path == err.path for e in errs)]
    if len(meant) != 1:
        return [err]
    return [leaf for e in meant[0] for leaf in _leaves(e)]


def _at(data: Any, path: tuple) -> Any:
    for part in path:
        data = data[part]
    return data


def validate(source: Source) -> list[Problem]:
    """Every schema problem of the document, located."""
    problems: list[Problem] = []
    seen: set[tuple] = set()
    for err in validator().iter_errors(source.data):
        for leaf in _leaves(err):
            path = leaf.path
            if leaf.keyword == "additionalProperties":
                allowed = set(leaf.schema.get("properties", {}))
                message = _unknown_key_message(path[-1], allowed, _at(source.data, path[:-1]))
            else:
                message = _message(leaf)
            if (path, message) in seen:
                continue
            seen.add((path, message))
            line, col = source.locate(path)
            problems.append(Problem(source.file, line, col, json_path(path), shown(message)))
    return problems
