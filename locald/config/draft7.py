"""A small JSON Schema draft-07 validator: exactly the keywords schema/locald.schema.json uses.

Why not jsonschema at run time: importing it costs ~60-80 ms (referencing, attrs, every meta-schema,
the format checker), more than the rest of `locald validate` together. This module imports nothing
heavy, compiles nothing, and refuses a schema that uses a keyword it does not implement, so a new
keyword cannot be silently ignored. tests/test_fuzz_validate.py checks it agrees with jsonschema's
Draft7Validator on thousands of generated documents; tests/test_editor_taplo.py checks Taplo.

Semantics follow draft-07: `integer` accepts 3.0, booleans are not numbers, siblings of `$ref` are
ignored (we only allow annotations there). One deliberate difference: NaN and infinities are not
numbers (Taplo agrees: JSON has no such values).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterator

ANNOTATIONS = {"$schema", "$id", "$comment", "title", "description", "default", "examples", "definitions"}
ASSERTIONS = {"type", "enum", "const", "required", "properties", "patternProperties", "additionalProperties",
              "propertyNames", "items", "minItems", "maxItems", "minLength", "maxLength", "pattern",
              "minimum", "maximum", "anyOf", "oneOf", "$ref"}


class UnsupportedSchema(Exception):
    """The schema uses a keyword this validator does not implement."""


@dataclass
class SchemaError:
    keyword: str  # the failing keyword: "type", "enum", "additionalProperties", ...
    value: Any  # that keyword's value in the schema
    instance: Any  # the value that failed
    schema: dict  # the schema object holding the keyword ($ref already followed)
    path: tuple  # where the instance is in the document: ("services", "web", "port")
    context: list["SchemaError"] = field(default_factory=list)  # anyOf/oneOf: the errors of every branch
    branch: int | None = None  # inside a context: the index of the branch that produced it


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and (isinstance(x, int) or math.isfinite(x))


_TYPES = {
    "object": lambda x: isinstance(x, dict),
    "array": lambda x: isinstance(x, list),
    "string": lambda x: isinstance(x, str),
    "boolean": lambda x: isinstance(x, bool),
    "null": lambda x: x is None,
    "number": _is_number,
    "integer": lambda x: _is_number(x) and (isinstance(x, int) or float(x).is_integer()),
}


def is_type(instance: Any, name: str) -> bool:
    return _TYPES[name](instance)


def _equal(a: Any, b: Any) -> bool:
    # JSON equality: 1 == 1.0 but True != 1
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


class Validator:
    def __init__(self, schema: dict):
        self.root = schema
        self._patterns: dict[str, re.Pattern] = {}
        self._check_keywords(schema, "#")

    def _check_keywords(self, node: Any, where: str) -> None:
        if not isinstance(node, dict):
            return
        unknown = set(node) - ANNOTATIONS - ASSERTIONS
        if unknown:
            raise UnsupportedSchema(f"{where}: keywords not implemented: {', '.join(sorted(unknown))}")
        if "$ref" in node and set(node) - ANNOTATIONS - {"$ref"}:
            raise UnsupportedSchema(f"{where}: draft-07 ignores keywords next to $ref: {sorted(set(node) - ANNOTATIONS)}")
        for key in ("properties", "patternProperties", "definitions"):
            for name, sub in node.get(key, {}).items():
                self._check_keywords(sub, f"{where}/{key}/{name}")
        for key in ("additionalProperties", "propertyNames", "items"):
            self._check_keywords(node.get(key), f"{where}/{key}")
        for key in ("anyOf", "oneOf"):
            for i, sub in enumerate(node.get(key, [])):
                self._check_keywords(sub, f"{where}/{key}/{i}")
        if "$ref" in node:
            self.resolve(node["$ref"])

    def resolve(self, ref: str) -> dict:
        if not ref.startswith("#/"):
            raise UnsupportedSchema(f"only local references are supported, not {ref}")
        node: Any = self.root
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def _search(self, pattern: str, text: str) -> bool:
        compiled = self._patterns.get(pattern)
        if compiled is None:
            compiled = self._patterns[pattern] = re.compile(pattern)
        return compiled.search(text) is not None

    def is_valid(self, instance: Any, schema: dict | None = None) -> bool:
        return next(self.iter_errors(instance, schema), None) is None

    def iter_errors(self, instance: Any, schema: dict | None = None, path: tuple = ()) -> Iterator[SchemaError]:
        schema = self.root if schema is None else schema
        if schema is True or schema == {}:
            return
        if schema is False:
            yield SchemaError("false", False, instance, {}, path)
            return
        if "$ref" in schema:  # draft-07: the reference replaces the whole schema
            yield from self.iter_errors(instance, self.resolve(schema["$ref"]), path)
            return

        def err(keyword: str, **kw) -> SchemaError:
            return SchemaError(keyword, schema[keyword], instance, schema, path, **kw)

        if "type" in schema:
            types = schema["type"]
            if not any(is_type(instance, t) for t in ([types] if isinstance(types, str) else types)):
                yield err("type")
                return  # the other keywords would only repeat the same mistake
        if "enum" in schema and not any(_equal(instance, v) for v in schema["enum"]):
            yield err("enum")
        if "const" in schema and not _equal(instance, schema["const"]):
            yield err("const")

        if isinstance(instance, str):
            if "minLength" in schema and len(instance) < schema["minLength"]:
                yield err("minLength")
            if "maxLength" in schema and len(instance) > schema["maxLength"]:
                yield err("maxLength")
            if "pattern" in schema and not self._search(schema["pattern"], instance):
                yield err("pattern")
        elif _is_number(instance):
            if "minimum" in schema and instance < schema["minimum"]:
                yield err("minimum")
            if "maximum" in schema and instance > schema["maximum"]:
                yield err("maximum")
        elif isinstance(instance, list):
            if "minItems" in schema and len(instance) < schema["minItems"]:
                yield err("minItems")
            if "maxItems" in schema and len(instance) > schema["maxItems"]:
                yield err("maxItems")
            items = schema.get("items")
            if isinstance(items, dict):
                for i, item in enumerate(instance):
                    yield from self.iter_errors(item, items, path + (i,))
            elif isinstance(items, list):
                for i, (item, sub) in enumerate(zip(instance, items)):
                    yield from self.iter_errors(item, sub, path + (i,))
        elif isinstance(instance, dict):
            yield from self._object(instance, schema, path, err)

        for keyword in ("anyOf", "oneOf"):
            if keyword not in schema:
                continue
            context: list[SchemaError] = []
            passed = 0
            for i, sub in enumerate(schema[keyword]):
                errors = list(self.iter_errors(instance, sub, path))
                for e in errors:
                    e.branch = i
                context += errors
                passed += not errors
            if passed == 0 or (keyword == "oneOf" and passed > 1):
                yield err(keyword, context=context)

    def _object(self, instance: dict, schema: dict, path: tuple, err) -> Iterator[SchemaError]:
        for key in schema.get("required", ()):
            if key not in instance:
                yield err("required")
                break
        names = schema.get("propertyNames")
        if isinstance(names, dict):
            for key in instance:
                for e in self.iter_errors(key, names, path + (key,)):
                    e.keyword, e.value = "propertyNames", names
                    yield e
        props = schema.get("properties", {})
        patterns = schema.get("patternProperties", {})
        extra = schema.get("additionalProperties", True)
        for key, value in instance.items():
            matched = False
            if key in props:
                matched = True
                yield from self.iter_errors(value, props[key], path + (key,))
            for pattern, sub in patterns.items():
                if self._search(pattern, key):
                    matched = True
                    yield from self.iter_errors(value, sub, path + (key,))
            if matched:
                continue
            if extra is False:
                # one error per unknown key, at the key: people fix them one by one
                yield SchemaError("additionalProperties", False, key, schema, path + (key,))
            elif isinstance(extra, dict):
                yield from self.iter_errors(value, extra, path + (key,))
