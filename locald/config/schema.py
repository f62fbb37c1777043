"""Check a loaded document against schema/locald.schema.json and word the errors for people.

Draft-07 on purpose: editors (Taplo, Tombi) ignore newer keywords, and the terminal must agree
with the editor. The checking is jsonschema's Draft7Validator; this module turns its errors into
Problems: under `anyOf`/`oneOf` the branch the user meant, one problem per unknown key with a
did-you-mean, a property name's problem at that name.

Speed (bench/bench_validate.py): importing jsonschema costs ~40 ms here, half of all the rest of
`locald validate`, so it is imported on first use (`--help`, `--version` and `schema` never pay for
it); the validator is built once per process, with no format checker (the schema uses no `format`).
Its `$ref`s cost ~15 % of the validation itself (~3 of 18 ms for 200 services): not worth inlining.
"""

from __future__ import annotations

import datetime
import difflib
import json
import math
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


def _finite_number(checker, value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and (
        isinstance(value, int) or math.isfinite(value))


def _finite_integer(checker, value: Any) -> bool:
    return _finite_number(checker, value) and (isinstance(value, int) or value.is_integer())


@lru_cache(maxsize=1)
def validator():
    """jsonschema's Draft7Validator for the schema, built once. One change to its type checker: NaN and
    the infinities (TOML has them, JSON does not) are not numbers, as in Taplo; `integer` still takes
    3000.0, as draft-07 says."""
    from jsonschema import Draft7Validator, validators

    checker = Draft7Validator.TYPE_CHECKER.redefine_many({"number": _finite_number, "integer": _finite_integer})
    return validators.extend(Draft7Validator, type_checker=checker)(schema())


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
    "image": "an image reference (e.g. 'redis:7'; no spaces, not starting with '-')",
}

_DURATION = ("expected a duration (seconds as a number, or a string like '10s' or '1m30s'), got ")


_TOO_LONG_NAME = 20  # characters of a too-long name shown in its message


def _message(err, path: tuple) -> str:
    v, inst, value = err.validator, err.instance, err.validator_value
    last = path[-1] if path else None
    if err.schema is schema()["definitions"]["duration"]:
        return _DURATION + _describe(inst)
    if _is_property_name(err):
        return _name_message(v, inst, value, path)
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
    if v == "maxLength":
        return f"must be at most {value} characters long, got {len(inst)}"
    if v == "minItems":
        return "must not be an empty array"
    if v == "pattern":
        return f"{_describe(inst)} is not {_PATTERN_WORDS.get(last, 'of the expected form (' + shown(value) + ')')}"
    if v in ("anyOf", "oneOf"):  # no branch accepts even the type
        flat = [t for e in err.context if e.validator == "type" and not e.relative_path
                for t in ([e.validator_value] if isinstance(e.validator_value, str) else e.validator_value)]
        if flat:
            return f"expected {_expected(flat)}, got {_describe(inst)}"
        return "does not match any of the accepted forms"
    return f"`{v}` check failed"


def _name_message(keyword: str, name: str, value: Any, path: tuple) -> str:
    quoted = shown(json.dumps(name, ensure_ascii=False))
    if len(path) == 3 and path[0] == "compose":  # a top-level compose volume, secret or config
        return (f"{path[1][:-1]} name {quoted} may only hold letters, digits, '.', '_' and '-' "
                "(the Compose Specification's rule)")
    if len(path) != 2 or path[0] != "services":
        return f"{quoted} is not an allowed name here"
    if keyword == "maxLength":
        start = shown(json.dumps(name[:_TOO_LONG_NAME] + "…", ensure_ascii=False))
        return (f"service name {start} is {len(name)} characters long; at most {value} are allowed "
                "(a service name is its host name on the container network)")
    return (f"service name {quoted} cannot be used as a compose service name: use lowercase letters, "
            "digits, '-' and '_', starting with a letter or digit")


@lru_cache(maxsize=1)
def _property_name_schemas() -> frozenset[int]:
    """The `propertyNames` subschemas (by identity): jsonschema reports their errors at the object,
    with the name as the instance; we report them at the name."""
    found: set[int] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("propertyNames"), dict):
                found.add(id(node["propertyNames"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema())
    return frozenset(found)


def _is_property_name(err) -> bool:
    return id(err.schema) in _property_name_schemas()


def _branch(err) -> int:
    """Inside an anyOf/oneOf error's context: the index of the branch that produced `err`."""
    return err.relative_schema_path[0]


def _leaves(err) -> list:
    """The errors to show for one error: under anyOf/oneOf, those of the branch the user meant.

    The branch meant is the one whose type matches the value (`depends_on.db = "ready"` meant the
    condition string, not the table); when no branch takes the type, one message lists the types.
    """
    if err.validator not in ("anyOf", "oneOf") or err.schema is schema()["definitions"]["duration"]:
        return [err]
    branches: dict[int, list] = {}
    for e in err.context:
        branches.setdefault(_branch(e), []).append(e)
    meant = [errs for errs in branches.values()
             if not any(e.validator == "type" and not e.relative_path for e in errs)]
    if len(meant) != 1:
        return [err]
    return [leaf for e in meant[0] for leaf in _leaves(e)]


def _extra_keys(instance: dict, node: dict) -> list[str]:
    """The keys `additionalProperties: false` refused: neither a property nor matching a pattern."""
    props, patterns = node.get("properties", {}), list(node.get("patternProperties", {}))
    return [k for k in instance if k not in props and not any(re.search(p, k) for p in patterns)]


def _located(leaves: list) -> list[tuple[tuple, str]]:
    """(path, message) of each leaf. A failed `type` hides the other failures of the same schema at
    the same place (`restart = false` is not also "not one of …"); one problem per unknown key."""
    mistyped = {(tuple(e.absolute_path), id(e.schema)) for e in leaves if e.validator == "type"}
    out = []
    for leaf in leaves:
        path = tuple(leaf.absolute_path)
        if leaf.validator != "type" and (path, id(leaf.schema)) in mistyped:
            continue
        if _is_property_name(leaf):
            out.append((path + (leaf.instance,), _message(leaf, path + (leaf.instance,))))
        elif leaf.validator == "additionalProperties" and leaf.validator_value is False:
            allowed = set(leaf.schema.get("properties", {}))
            out += [(path + (key,), _unknown_key_message(key, allowed, leaf.instance))
                    for key in _extra_keys(leaf.instance, leaf.schema)]
        else:
            out.append((path, _message(leaf, path)))
    return out


def validate(source: Source) -> list[Problem]:
    """Every schema problem of the document, located, in the file's order."""
    leaves = [leaf for err in validator().iter_errors(source.data) for leaf in _leaves(err)]
    problems: list[Problem] = []
    for path, message in dict.fromkeys(_located(leaves)):  # `required`: one error per missing key, one message
        line, col = source.locate(path)
        problems.append(Problem(source.file, line, col, json_path(path), shown(message)))
    problems.sort(key=lambda p: (p.line, p.col))
    return problems
