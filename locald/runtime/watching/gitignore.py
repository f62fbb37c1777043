"""What the project's .gitignore files ignore, as git reads them: every `.gitignore` from the top of
the repository (or the project's directory, outside a repository) down to the file's directory, and
`.git/info/exclude`; a deeper file's verdict overrides a higher one's. Each file is parsed once
(pathspec's GitIgnoreSpec) and read again when it changes."""

from __future__ import annotations

import os
from pathlib import Path

from ...config.watch import spec


def repository_top(start: Path) -> Path:
    """The directory holding `.git` (a directory, or a worktree's file) at or above `start`, else `start`."""
    for directory in (start, *start.parents):
        if (directory / ".git").exists():
            return directory
    return start


class GitIgnore:
    def __init__(self, top: Path):
        self.top = top
        self._specs: dict[Path, tuple[float, object]] = {}  # file -> (mtime, spec or None)

    def ignored(self, path: Path) -> bool:
        try:
            rel = path.relative_to(self.top)
        except ValueError:
            return False  # outside the repository: nothing of it applies
        verdict = None
        directory = self.top
        slash = "/" if path.is_dir() else ""  # `build/` patterns match directories only
        files = [(self.top / ".git" / "info" / "exclude", self.top), (self.top / ".gitignore", self.top)]
        for part in rel.parts[:-1]:
            directory = directory / part
            files.append((directory / ".gitignore", directory))
        for file, where in files:
            found = self._spec(file)
            if found is not None:
                result = found.check_file(path.relative_to(where).as_posix() + slash).include
                verdict = result if result is not None else verdict
        return bool(verdict)

    def _spec(self, file: Path):
        try:
            mtime = os.stat(file).st_mtime_ns
        except OSError:
            return None
        cached = self._specs.get(file)
        if cached is None or cached[0] != mtime:
            try:
                lines = file.read_text(errors="replace").splitlines()
                cached = (mtime, spec(lines, lenient=True))
            except OSError:
                cached = (mtime, None)
            self._specs[file] = cached
        return cached[1]
