"""`.env` files: the one reader, used by `validate` and by the process runtime (each `env_file` of a host
process, and the project's `.env` when present). Lines are read by honcho's parser, as shell words
(shlex); a line it cannot read becomes a Problem at that line of the env file, never an exception.
Containers' env files are read by Compose, with its own rules, and are not checked here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from honcho.environ import parse as _honcho_parse

from ..errors import ConfigError, Problem
from .files import Unreadable, read_bytes
from .model import PROCESS_KINDS, kind_of
from .schema import json_path
from .source import Source

PROJECT_ENV = ".env"


def parse(text: str, file: str) -> tuple[dict[str, str], list[Problem]]:
    """The variables of an env file's text, and a Problem for each line that cannot be used."""
    values: dict[str, str] = {}
    problems: list[Problem] = []
    # A BOM means nothing in UTF-8; honcho would take it as part of the first name and drop that line.
    for number, whole in enumerate(text.removeprefix("\ufeff").split("\n"), 1):
        line = whole
        if line.lstrip().startswith("export "):  # shell-style files: `export KEY=value`
            line = line.lstrip()[len("export "):]
        before = len(whole) - len(line)  # columns are the file's, not the stripped line's
        try:
            found = _honcho_parse(line)
        except ValueError:  # shlex: an unclosed quote, a trailing backslash
            problems.append(_unreadable(file, number, line, before))
            continue
        for key, value in found.items():
            if "\0" in value:
                problems.append(Problem(file, number, before + line.find("\0") + 1, "",
                                        f"the value of {key} contains a NUL byte, which no environment can hold"))
            else:
                values[key] = value
    return values, problems


def _unreadable(file: str, number: int, line: str, before: int) -> Problem:
    start = _open_quote(line)
    if start is None:  # shlex's other complaint: a backslash at the very end
        return Problem(file, number, before + max(len(line.rstrip("\r")), 1), "",
                       "the line ends with a backslash that escapes nothing (.env lines are read as shell words)")
    quote = line[start]
    other, words = ('"', "double") if quote == "'" else ("'", "single")
    key, _, value = line.partition("=")
    # The value is not repeated: env files hold secrets, and this message may end up in a CI log.
    fix = (f"put the value in {words} quotes ({key.strip()}={other}…{other})"
           if key.strip() and other not in value and "\\" not in value else f"escape it as \\{quote}")
    return Problem(file, number, before + start + 1, "",
                   f"the quote {quote} is never closed (.env lines are read as shell words): {fix}")


def _open_quote(line: str) -> int | None:
    """Where the quote shlex leaves open starts (0-based), or None."""
    quote, start, i = None, None, 0
    while i < len(line):
        c = line[i]
        if quote is None and c == "#":
            break  # a comment
        if c == "\\" and quote != "'":
            i += 1  # escapes the next character (inside double quotes too)
        elif quote is None and c in "'\"":
            quote, start = c, i
        elif c == quote:
            quote = None
        i += 1
    return start if quote else None


def read(path: Path, file: str) -> tuple[dict[str, str], list[Problem]]:
    """An env file's variables and problems; `file` is how messages name it."""
    try:
        raw = read_bytes(path)
    except FileNotFoundError:
        return {}, [Problem(file, 0, 0, "", "no such file")]
    except Unreadable as exc:
        return {}, [Problem(file, 0, 0, "", str(exc))]
    return parse(raw.decode("utf-8", errors="replace"), file)


def load(path: Path) -> dict[str, str]:
    """For the runtime: the variables, or ConfigError (a LocaldError) naming the file and line."""
    values, problems = read(path, str(path))
    if problems:
        raise ConfigError(problems)
    return values


def check(source: Source, root: Path, display: Callable[[Path], str]) -> list[Problem]:
    """For `validate`: each line a host process's env file cannot use, at that line of the env file; a file
    that cannot be read at all (a directory, a device), at the `env_file` entry that names it."""
    problems: list[Problem] = []
    for path, where in read_by_processes(source.data, root):
        found = read(path, display(path))[1]
        for p in found:
            if p.line:
                problems.append(p)
            else:
                line, col = source.locate(where)
                problems.append(Problem(source.file, line, col, json_path(where), f"env file {p.file} {p.message}"))
    return problems


def read_by_processes(data: dict, root: Path) -> list[tuple[Path, tuple]]:
    """(path, where locald.toml names it) of the env files `up` will read for host processes: the project's
    `.env` when it is a file, and each `env_file` that exists (a missing one is for `up` to report: it may
    hold secrets that a checkout, or CI, does not have)."""
    services = data.get("services")
    processes = {name: raw for name, raw in (services.items() if isinstance(services, dict) else ())
                 if isinstance(raw, dict) and not name.startswith("x-") and kind_of(raw) in PROCESS_KINDS}
    found: dict[Path, tuple] = {}
    if processes and (root / PROJECT_ENV).is_file():
        found[root / PROJECT_ENV] = ("services", next(iter(processes)))
    for name, raw in processes.items():
        env_file = raw.get("env_file")
        where = ("services", name, "env_file")
        listed = [(env_file, where)] if isinstance(env_file, str) else \
            [(n, where + (i,)) for i, n in enumerate(env_file)] if isinstance(env_file, list) else []
        for entry, at in listed:
            if isinstance(entry, str) and _exists(root / entry):
                found.setdefault(root / entry, at)
    return list(found.items())


def _exists(path: Path) -> bool:
    try:
        os.stat(path)
    except (OSError, ValueError):  # missing, a name too long, a NUL byte in it (reported elsewhere)
        return False
    return True
