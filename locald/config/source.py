"""Read a TOML file into a dict plus a source map: key path -> (line, col), both 1-based.

tomli parses and reports syntax errors with a position, but says nothing about where keys are.
The scanner below walks the same text (already known to be valid TOML, so it can be lenient)
and records where every key, array element and table header starts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli

from ..errors import Problem
from .files import Unreadable, read_bytes


@dataclass
class Source:
    """A loaded document and where each of its keys came from."""

    file: str
    data: dict[str, Any]
    positions: dict[tuple, tuple[int, int]] | None = None  # None: scanned on first use (a valid file never is)
    text: str = ""

    def locate(self, path: tuple) -> tuple[int, int]:
        """The position of `path`, or of its nearest ancestor that has one."""
        if self.positions is None:
            self.positions = scan_positions(self.text)
        path = tuple(path)
        while path:
            if path in self.positions:
                return self.positions[path]
            path = path[:-1]
        return (1, 1)


class TomlSyntaxError(Exception):
    def __init__(self, problem: Problem):
        super().__init__(problem.message)
        self.problem = problem


# tomli's words, completed where they leave a user guessing.
_SYNTAX_HINTS = {
    "Illegal character '\\n'": ": a string is not closed on its line (use \"\"\"...\"\"\" for a string over several lines)",
}


# Refused rather than skipped: TOML has no BOM, and Taplo (the editor) and tomllib refuse it too, so
# accepting it here would make the terminal disagree with the editor about the same file.
_BOM = ("the file starts with a byte order mark (BOM), which TOML does not allow: "
        "save it as UTF-8 without BOM")


def load_text(text: str, file: str) -> Source:
    if text.startswith("\ufeff"):
        raise TomlSyntaxError(Problem(file, 1, 1, "", _BOM))
    try:
        data = tomli.loads(text)
    except RecursionError:  # tomli's own limit on nested inline arrays/tables
        line, col = _too_deep(text)
        raise TomlSyntaxError(Problem(file, line, col, "", "TOML syntax error: arrays or inline tables nested "
                                      "too deeply")) from None
    except tomli.TOMLDecodeError as exc:
        msg = getattr(exc, "msg", None) or str(exc).split(" (at ")[0]
        msg += _SYNTAX_HINTS.get(msg, "")
        raise TomlSyntaxError(
            Problem(file, getattr(exc, "lineno", 1) or 1, getattr(exc, "colno", 1) or 1, "", f"TOML syntax error: {msg}")
        ) from None
    return Source(file, data, None, text)


def _too_deep(text: str, limit: int = 100) -> tuple[int, int]:
    """Roughly where nesting first goes past `limit` (brackets in strings count too: it is a hint)."""
    depth = 0
    for i, c in enumerate(text):
        depth += c in "[{"
        depth -= c in "]}" and depth > 0
        if depth > limit:
            line = text.count("\n", 0, i) + 1
            return line, i - (text.rfind("\n", 0, i) + 1) + 1
    return 1, 1


def load_file(path: Path, display: str | None = None) -> Source:
    display = display or str(path)
    try:
        raw = read_bytes(path)
    except FileNotFoundError:
        raise TomlSyntaxError(Problem(display, 0, 0, "", "no such file (name another with -f PATH)")) from None
    except Unreadable as exc:
        raise TomlSyntaxError(Problem(display, 0, 0, "", f"{exc} (name a locald.toml with -f PATH)")) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise TomlSyntaxError(Problem(display, line, 1, "", "file is not valid UTF-8")) from None
    return load_text(text, display)


_BARE = re.compile(r"[A-Za-z0-9_-]+")
# A date-time may contain a space ("1979-05-27 07:32:00"): match it whole before the generic scalar.
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:[Zz]|[+-]\d{2}:\d{2})?)?")
_SCALAR = re.compile(r"[^,\]}\s#]+")
_WS = " \t"


class _Scanner:
    def __init__(self, text: str):
        self.s = text
        self.i = 0
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.positions: dict[tuple, tuple[int, int]] = {}
        self.aot_counts: dict[tuple, int] = {}

    def pos(self, i: int) -> tuple[int, int]:
        # binary search for the line containing offset i
        lo, hi = 0, len(self.line_starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.line_starts[mid] <= i:
                lo = mid
            else:
                hi = mid - 1
        return lo + 1, i - self.line_starts[lo] + 1

    def mark(self, path: tuple, i: int) -> None:
        self.positions.setdefault(path, self.pos(i))

    def peek(self, n: int = 1) -> str:
        return self.s[self.i : self.i + n]

    def skip_ws(self, newlines: bool = False) -> None:
        s = self.s
        while self.i < len(s):
            c = s[self.i]
            if c in _WS or (newlines and c in "\r\n"):
                self.i += 1
            elif c == "#" and newlines:
                while self.i < len(s) and s[self.i] != "\n":
                    self.i += 1
            else:
                break

    def skip_line(self) -> None:
        j = self.s.find("\n", self.i)
        self.i = len(self.s) if j < 0 else j + 1

    def key(self) -> list[tuple[str, int]]:
        """A dotted key: list of (part, offset)."""
        parts = []
        while True:
            self.skip_ws()
            start = self.i
            c = self.peek()
            if c in "\"'":
                parts.append((self.string(), start))
            else:
                m = _BARE.match(self.s, self.i)
                if not m:
                    break
                parts.append((m.group(), start))
                self.i = m.end()
            self.skip_ws()
            if self.peek() == ".":
                self.i += 1
                continue
            break
        return parts

    def string(self) -> str:
        s, q = self.s, self.s[self.i]
        if s.startswith(q * 3, self.i):
            end = s.find(q * 3, self.i + 3)
            while q == '"' and end > 0 and _escaped(s, end):  # \""" inside a basic string is content
                end = s.find(q * 3, end + 1)
            end = len(s) if end < 0 else end
            while s.startswith(q, end + 3):  # up to two extra quotes belong to the content
                end += 1
            value = s[self.i + 3 : end]
            self.i = end + 3
            return value
        j = self.i + 1
        while j < len(s) and s[j] != q and s[j] != "\n":
            j += 2 if (q == '"' and s[j] == "\\") else 1
        value = s[self.i + 1 : j]
        if q == '"':
            try:
                value = tomli.loads(f"k = {s[self.i : j + 1]}")["k"]
            except tomli.TOMLDecodeError:
                pass
        self.i = j + 1
        return value

    def value(self, path: tuple) -> None:
        self.skip_ws()
        self.mark(path, self.i)
        c = self.peek()
        if c in "\"'":
            self.string()
        elif c == "[":
            self.i += 1
            idx = 0
            while True:
                self.skip_ws(newlines=True)
                if self.peek() in ("]", ""):
                    self.i += 1
                    return
                self.value(path + (idx,))
                idx += 1
                self.skip_ws(newlines=True)
                if self.peek() == ",":
                    self.i += 1
        elif c == "{":
            self.i += 1
            while True:
                self.skip_ws(newlines=True)
                if self.peek() in ("}", ""):
                    self.i += 1
                    return
                self.keyval(path)
                self.skip_ws(newlines=True)
                if self.peek() == ",":
                    self.i += 1
        else:
            m = _DATETIME.match(self.s, self.i) or _SCALAR.match(self.s, self.i)
            self.i = m.end() if m else self.i + 1

    def keyval(self, table: tuple) -> None:
        parts = self.key()
        path = table
        for name, off in parts:
            path = path + (name,)
            self.mark(path, off)
        self.skip_ws()
        if self.peek() == "=":
            self.i += 1
            self.value(path)

    def header(self) -> tuple:
        start = self.i
        aot = self.s.startswith("[[", self.i)
        self.i += 2 if aot else 1
        path: tuple = ()
        parts = self.key()
        for k, (name, off) in enumerate(parts):
            path = path + (name,)
            self.mark(path, off)
            if path in self.aot_counts and not (aot and k == len(parts) - 1):
                path = path + (self.aot_counts[path] - 1,)  # [a.b] after [[a]]: inside a's last element
        if aot:
            n = self.aot_counts.get(path, 0)
            self.aot_counts[path] = n + 1
            path = path + (n,)
            self.mark(path, start)  # the element is the whole [[header]]: point at its start
        self.skip_line()
        return path

    def run(self) -> dict[tuple, tuple[int, int]]:
        table: tuple = ()
        while True:
            self.skip_ws(newlines=True)
            if self.i >= len(self.s):
                return self.positions
            if self.peek() == "[":
                table = self.header()
            else:
                before = self.i
                self.keyval(table)
                if self.i == before:  # not a key: never loop forever on odd input
                    self.skip_line()


def _escaped(s: str, i: int) -> bool:
    """Whether s[i] is preceded by an odd number of backslashes."""
    n = 0
    while i - n - 1 >= 0 and s[i - n - 1] == "\\":
        n += 1
    return n % 2 == 1


def scan_positions(text: str) -> dict[tuple, tuple[int, int]]:
    try:
        return _Scanner(text).run()
    except Exception:  # positions are a convenience: never let them hide the real error
        return {}
