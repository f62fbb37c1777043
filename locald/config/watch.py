"""`watch`: what a rule's paths and patterns mean, and the checks `validate` runs on them.

A watched path is a *base* (its leading part without glob characters: a directory, a file, or a
path that does not exist yet) and, for a glob, the rest: a pattern for what lies below the base,
anchored there (`src/*.py` is `*.py` directly in `src`; `**` crosses directories). `ignore` patterns
are .gitignore patterns relative to the base (`*.tmp` at any depth, `/generated` only at the top,
`./generated` too, as Compose writes it). pathspec's GitIgnoreSpec does every match, with git's
rules: locald has no matcher of its own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable, Iterator

from .model import CONTAINER_KINDS, kind_of

GLOB_CHARS = frozenset("*?[")
SYNC_ACTIONS = ("sync", "sync+restart")
CONTAINER_ACTIONS = (*SYNC_ACTIONS, "rebuild")


def spec(patterns: Iterable[str], lenient: bool = False):
    """A GitIgnoreSpec of .gitignore-style patterns; a leading `./` anchors like a leading `/`.
    A pattern git would not read (`!`, a lone `\\`) raises ValueError, or is skipped (`lenient`, as git
    skips it in a .gitignore file)."""
    import pathspec  # only projects that watch something pay for it

    lines = ["/" + p[2:] if p.startswith("./") else p for p in patterns]
    try:
        return pathspec.GitIgnoreSpec.from_lines(lines)
    except Exception as exc:  # pathspec's GitIgnorePatternError (a ValueError in recent versions)
        if not lenient:
            raise ValueError(str(exc)) from None
    return pathspec.GitIgnoreSpec.from_lines([line for line in lines if _readable(line)])


def _readable(line: str) -> bool:
    try:
        spec([line])
        return True
    except ValueError:
        return False


def has_glob(text: str) -> bool:
    return any(c in GLOB_CHARS for c in text)


def split(text: str) -> tuple[str, str]:
    """(base, glob): the leading part of a watched path without glob characters ('.' when there is
    none), and the rest ('' for a plain path)."""
    parts = PurePosixPath(text).parts
    fixed = next((i for i, part in enumerate(parts) if has_glob(part)), len(parts))
    return str(PurePosixPath(*parts[:fixed])) if fixed else ".", "/".join(parts[fixed:])


@dataclass(frozen=True)
class WatchedPath:
    text: str  # as written
    base: Path  # absolute, normalised
    glob: Any = None  # GitIgnoreSpec for what lies below the base; None: the base and everything below it

    @classmethod
    def of(cls, text: str, root: Path) -> "WatchedPath":
        base, rest = split(text)
        return cls(text, Path(os.path.normpath(root / base)), spec(["/" + rest]) if rest else None)

    def below(self, path: Path) -> str | None:
        """`path` relative to the base (posix, '' for the base itself) when this watched path covers it."""
        if path == self.base:
            return "" if self.glob is None else None
        try:
            rel = path.relative_to(self.base).as_posix()
        except ValueError:
            return None
        if self.glob is not None and not self.glob.match_file(rel):
            return None
        return rel


# --- validate -----------------------------------------------------------------------------------------

Report = Callable[[tuple, str], None]


def tables(raw: Any, path: tuple) -> Iterator[tuple[tuple, dict]]:
    """(path, table) of each rule written as a table."""
    if isinstance(raw, dict):
        yield path, raw
    elif isinstance(raw, list):
        for i, item in enumerate(raw):
            if isinstance(item, dict):
                yield path + (i,), item


def check(services: dict[str, dict], report: Report) -> None:
    for name, raw in services.items():
        base = ("services", name, "watch")
        watch = raw.get("watch")
        kind = kind_of(raw)
        if isinstance(watch, list):
            _paths([(base + (i,), p) for i, p in enumerate(watch) if isinstance(p, str)], report)
        for where, rule in tables(watch, base):
            _rule(name, raw, kind, where, rule, report)


def _strings(value: Any, where: tuple) -> list[tuple[tuple, str]]:
    if isinstance(value, str):
        return [(where, value)]
    return [(where + (i,), v) for i, v in enumerate(value) if isinstance(v, str)] if isinstance(value, list) else []


def _paths(found: list[tuple[tuple, str]], report: Report, ignore: bool = False) -> None:
    for where, text in found:
        try:
            spec([text]) if ignore else WatchedPath.of(text, Path("/"))
        except ValueError:
            report(where, f"'{text}' is not a pattern git can read (a lone `!`, a trailing `\\`)")
            continue
        if not ignore and split(text)[0] == "/":  # every directory of the machine: the watcher gives up
            report(where, f"'{text}' watches the whole filesystem; name the directories your code is in "
                          "(relative to locald.toml, e.g. \"src/**/*.py\")")


def _rule(name: str, raw: dict, kind: str, where: tuple, rule: dict, report: Report) -> None:
    action = rule.get("action", "restart")
    target = rule.get("target")
    _paths(_strings(rule.get("paths"), where + ("paths",)), report)
    _paths(_strings(rule.get("ignore"), where + ("ignore",)), report, ignore=True)
    if action in CONTAINER_ACTIONS and kind not in CONTAINER_KINDS:
        why = ("a host process reads its files where they are" if action in SYNC_ACTIONS
               else "a host process has no image to build")
        report(where + ("action",), f'action = "{action}" is for containers: {why}; use "restart"')
        return
    if action in SYNC_ACTIONS and target is None:
        report(where, f'action = "{action}" needs `target`: the path inside the container the watched files go to')
    if target is not None and action not in SYNC_ACTIONS:
        report(where + ("target",), f'`target` is only for action = "sync" or "sync+restart" (this rule\'s action '
                                    f'is "{action}")')
    elif isinstance(target, str) and target and not target.startswith("/"):
        report(where + ("target",), f"`target` must be an absolute path inside the container (`/app/{target}`)")
    compose = raw.get("compose")
    builds = "build" in raw or (isinstance(compose, dict) and "build" in compose)
    if action == "rebuild" and kind in CONTAINER_KINDS and not builds:
        report(where + ("action",), f'action = "rebuild" needs `build`: service \'{name}\' runs an image it does not '
                                    'build')
