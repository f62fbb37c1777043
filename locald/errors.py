"""Errors a user can act on. Anything else reaching the CLI is a bug in locald."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One located mistake in a configuration file."""

    file: str
    line: int
    col: int
    path: str  # JSON path such as $.services.web.port ("" when the file itself is the problem)
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"

    def as_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "column": self.col, "path": self.path, "message": self.message}


class LocaldError(Exception):
    """A failure explained in words for the user; the CLI prints it and exits non-zero."""

    exit_code = 1


class ConfigError(LocaldError):
    """The configuration has one or more problems."""

    def __init__(self, problems: list[Problem]):
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems
