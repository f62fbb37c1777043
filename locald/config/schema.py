"""Check a loaded document against schema/locald.schema.json and word the errors for people.

Draft-07 on purpose: editors (Taplo, Tombi) ignore newer keywords, and the terminal must agree
with the editor.
"""

from __future__ import annotations

import difflib
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import Problem
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
def _validator():
    from jsonschema import Draft7Validator  # ~60 ms: only when something is validated

    return Draft7Validator(schema())


def json_path(path) -> str:
    out = "$"
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", part):
            out += f".{part}"
        else:
            out += "[" + json.dumps(part) + "]"
    return out


def did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


# Advice for keys people bring from the original locald or from compose.
_KEY_HINTS = {
    "args": "put the program and its arguments in `command` as an array: command = [\"bash\", \"-c\", \"…\"]",
    "service": "services are declared as [services.NAME]",
    "builder": "Cloud Native Buildpacks builds are not supported: build with a Dockerfile (`build = \"./dir\"`) or use `image`",
    "buildpacks": "Cloud Native Buildpacks builds are not supported: build with a Dockerfile (`build = \"./dir\"`) or use `image`",
    "environment": "locald calls it `env`",
    "working_dir": "locald calls it `workdir`",
    "healthcheck": "locald calls it `health_check`",
}


def _unknown_key_message(key: str, allowed) -> str:
    if key in _KEY_HINTS:
        return f"unknown key '{key}': {_KEY_HINTS[key]}"
    return f"unknown key '{key}'{did_you_mean(key, allowed)}"


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {json.dumps(value)}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


_TYPE_WORDS = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "a boolean",
               "array": "an array", "object": "a table", "null": "nothing"}


def _message(err) -> str:
    v, inst, sch = err.validator, err.instance, err.schema
    defs = schema()["definitions"]
    if sch is defs["duration"] or sch == defs["duration"]:
        return f"expected a duration (seconds as a number, or a string like '10s' or '1m30s'), got {_describe(inst)}"
    if v == "type":
        want = err.validator_value
        want = [want] if isinstance(want, str) else want
        return f"expected {' or '.join(_TYPE_WORDS.get(t, t) for t in want)}, got {_describe(inst)}"
    if v == "enum":
        return f"{_describe(inst)} is not one of: {', '.join(json.dumps(x) for x in err.validator_value)}"
    if v == "required":
        missing = [k for k in err.validator_value if isinstance(inst, dict) and k not in inst]
        if missing == ["context"] and err.absolute_path and err.absolute_path[-1] == "build":
            return ("`build` needs a `context` directory with a Dockerfile "
                    "(Cloud Native Buildpacks builds of the original locald are not supported)")
        return "missing required key " + ", ".join(f"'{k}'" for k in missing)
    if v == "minimum":
        return f"must be at least {err.validator_value}, got {inst}"
    if v == "maximum":
        return f"must be at most {err.validator_value}, got {inst}"
    if v == "minLength":
        return "must not be empty"
    if v == "minItems":
        return "must not be an empty array"
    if v == "propertyNames":
        return (f"service name {json.dumps(inst)} cannot be used as a compose service name: use lowercase letters, "
                "digits, '-' and '_', starting with a letter or digit")
    if v == "pattern":
        if err.absolute_path and err.absolute_path[-1] == "stop_signal":
            return f"{_describe(inst)} is not a signal name (e.g. 'SIGINT')"
        return f"{_describe(inst)} does not have the expected form ({err.validator_value})"
    return err.message


def _leaves(err):
    """The most specific errors under a oneOf/anyOf, as jsonschema's best_match would pick."""
    from jsonschema.exceptions import best_match

    if err.validator in ("anyOf", "oneOf") and err.context:
        if err.schema is schema()["definitions"]["duration"]:
            return [err]
        return [best_match(err.context)]
    return [err]


def validate(source: Source) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[tuple] = set()
    for err in _validator().iter_errors(source.data):
        for leaf in _leaves(err):
            path = tuple(leaf.absolute_path)
            if leaf.validator == "additionalProperties" and isinstance(leaf.instance, dict):
                allowed = set(leaf.schema.get("properties", {}))
                patterns = list(leaf.schema.get("patternProperties", {}))
                for key in leaf.instance:
                    if key in allowed or any(re.search(p, key) for p in patterns):
                        continue
                    kp = path + (key,)
                    if kp not in seen:
                        seen.add(kp)
                        line, col = source.locate(kp)
                        problems.append(Problem(source.file, line, col, json_path(kp), _unknown_key_message(key, allowed)))
                continue
            if "propertyNames" in leaf.absolute_schema_path:
                path = path + (leaf.instance,)
                leaf.validator = "propertyNames"
            key = (path, leaf.validator)
            if key in seen or path in seen:
                continue
            seen.add(key)
            line, col = source.locate(path)
            problems.append(Problem(source.file, line, col, json_path(path), _message(leaf)))
    return problems
