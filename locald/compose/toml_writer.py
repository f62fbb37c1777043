"""Write a dict as readable TOML: [sections] for services and their big tables, inline tables for
small ones, comments where the importer has something to say. Only the layout is decided here;
tomlkit does all quoting, escaping and value rendering. Imported only by `locald import compose`
(tomlkit is imported inside `dumps`, never on the `--help`/`validate` path)."""

from __future__ import annotations

from typing import Any

WIDTH = 100


def _block(s: str) -> bool:
    """Scripts read better over several lines."""
    return "\n" in s.rstrip("\n") and len(s) > 40


def dumps(doc: dict, header: list[str] = (), comments: dict[tuple, list[str]] | None = None,
          sections_to: int = 2) -> str:
    """`header`: lines written first, as is (e.g. the `#:schema` line and comments).
    `comments`: table path -> comment lines written above that table's header."""
    import tomlkit

    comments = comments or {}

    def inline(v: Any, top: bool = False) -> Any:
        """A value on one line (arrays and tables inline); strings at the top of an assignment or
        in a spread array may become multi-line blocks."""
        if isinstance(v, str):
            return tomlkit.string(v, multiline=top and _block(v))
        if isinstance(v, list):
            arr = tomlkit.array()
            for x in v:
                arr.append(inline(x))
            return arr
        if isinstance(v, dict):
            t = tomlkit.inline_table()
            for k, x in v.items():
                t.append(k, inline(x))
            return t
        if isinstance(v, (bool, int, float)):
            return tomlkit.item(v)
        raise TypeError(f"cannot write {type(v).__name__} to TOML: {v!r}")

    def assignment(k: str, v: Any) -> Any:
        """The value of `key = value`, spreading a long array over several lines."""
        item = inline(v, top=True)
        if isinstance(v, list) and v and len(f"{tomlkit.key(k).as_string()} = {item.as_string()}") > WIDTH:
            item = tomlkit.array()
            for x in v:
                item.append(inline(x, top=True))
            item.multiline(True)
        return item

    def is_section(path: tuple, k: str, v: Any) -> bool:
        """Tables near the top (project, services.NAME, …) get a [header]; deeper ones only when too long."""
        if not isinstance(v, dict) or not v:
            return False
        if len(path) + 1 <= sections_to:
            return True
        line = f"{tomlkit.key(k).as_string()} = {inline(v).as_string()}"
        return len(line) > WIDTH or any(isinstance(x, str) and "\n" in x for x in v.values())

    def fill(container: Any, path: tuple, t: dict) -> None:
        plain = [(k, v) for k, v in t.items() if not is_section(path, k, v)]
        nested = [(k, v) for k, v in t.items() if is_section(path, k, v)]
        for k, v in plain:
            container.append(k, assignment(k, v))
        for k, v in nested:
            sub_path = path + (k,)
            sub_plain = any(not is_section(sub_path, sk, sv) for sk, sv in v.items())
            headed = sub_plain or sub_path in comments
            sub = tomlkit.table(is_super_table=not headed)
            fill(sub, sub_path, v)
            container.append(k, sub)
            if sub_path in comments:  # comment lines go between the blank line and the [header]
                sub.trivia.indent += "".join(f"# {c}\n" if c else "#\n" for c in comments[sub_path])

    out = tomlkit.document()
    fill(out, (), doc)
    lines = list(header)
    if lines and lines[-1] != "":
        lines.append("")  # a blank line between the header and the first table
    return ("\n".join(lines + [tomlkit.dumps(out)])).rstrip("\n") + "\n"
