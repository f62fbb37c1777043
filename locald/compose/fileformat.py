"""How a compose file spells values: the one place `$` is escaped (and unescaped) and YAML is written.

Every value in locald.toml is literal. Compose interpolates `$VAR` and `${VAR}` in what it reads and
prints a literal `$` as `$$` in what it writes (`docker compose config`), so a value crossing into
compose is escaped and a value read back from it is unescaped.
"""

from __future__ import annotations

from typing import Any, Callable


def escape(value: str) -> str:
    """A literal string as compose reads it: `$` → `$$`."""
    return value.replace("$", "$$")


def unescape(value: str) -> str:
    """The inverse of `escape`: Compose's printed form back to the literal value."""
    return value.replace("$$", "$")


def _strings(value: Any, fn: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, dict):
        return {k: _strings(v, fn) for k, v in value.items()}
    if isinstance(value, list):
        return [_strings(v, fn) for v in value]
    return value


def escape_all(value: Any) -> Any:
    """`escape` on every string of a nested value (the `compose` passthrough is user data too)."""
    return _strings(value, escape)


def unescape_all(value: Any) -> Any:
    """`unescape` on every string of a nested value."""
    return _strings(value, unescape)


def dump_yaml(doc: dict) -> str:
    """A compose document as YAML: keys in the order written, block style, no line wrapping (a long
    command or URL stays on one line)."""
    import yaml  # not on the `--help` / `validate` path

    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, width=1000)
