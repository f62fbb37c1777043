"""Which services a batch of changed paths concerns, and what to do for each: the `watch` rules of a
run, compiled once.

Left out whatever the rules say: the state directory (`.locald/`), version-control directories,
editor temp and backup files (the list Compose and Tilt use: vim's `.*.swp` and `4913`, emacs' `.#*`,
JetBrains' `___jb_tmp___`, `*~`) and Python's bytecode, which a restarted service writes into the very
directory being watched. Then each rule's `ignore`, then (unless `gitignore = false`) what the
project's .gitignore files ignore — except below a watched path that .gitignore itself ignores: a
path named in locald.toml is watched all the same.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from ...config.model import Project
from ...config.watch import SYNC_ACTIONS, WatchedPath, spec
from .gitignore import GitIgnore, repository_top

DEFAULT_IGNORE = (".git/", ".hg/", ".svn/", ".idea/", "__pycache__/", "*.py[cod]", "*~", ".#*", "#*#",
                  ".*.swp", ".*.swx", ".*.swo", ".*.swn", "4913", "*___jb_old___", "*___jb_tmp___", ".DS_Store")
ORDER = ("rebuild", "sync", "restart")  # as Compose: a rebuilt container gets the synced files; rebuilt ones need no restart


@dataclass(frozen=True)
class Change:
    path: Path  # absolute, on this machine (gone: a deletion)
    target: str | None = None  # sync: where it goes inside the container


@dataclass(frozen=True)
class _Entry:
    service: str
    action: str
    watched: WatchedPath
    ignore_root: Path  # what `ignore` patterns are relative to: the base, or a watched file's directory
    ignore: Any  # GitIgnoreSpec
    gitignore: bool
    target: str | None


class Rules:
    def __init__(self, project: Project, names: Iterable[str]):
        self.root = project.root
        self.state_dir = project.state_dir
        self.git = GitIgnore(repository_top(project.root))
        self.defaults = spec(DEFAULT_IGNORE)
        self.entries: list[_Entry] = []
        for name in names:
            for rule in project.services[name].watch:
                ignore = spec(rule.ignore)
                for text in rule.paths:
                    watched = WatchedPath.of(text, self.root)
                    base = watched.base
                    ignore_root = base.parent if watched.glob is None and base.is_file() else base
                    self.entries.append(_Entry(name, rule.action, watched, ignore_root, ignore,
                                               rule.gitignore and not self.git.ignored(base), rule.target))

    def __bool__(self) -> bool:
        return bool(self.entries)

    def roots(self) -> list[Path]:
        """The directories to watch: each base's directory, or its nearest existing ancestor (the base may
        appear later); none inside another."""
        found = set()
        for entry in self.entries:
            directory = entry.ignore_root
            while not directory.is_dir() and directory != directory.parent:
                directory = directory.parent
            found.add(directory)
        return sorted(d for d in found if not any(o != d and d.is_relative_to(o) for o in found))

    def route(self, paths: Iterable[Path]) -> list[tuple[str, str, list[Change]]]:
        """(service, action, changes) for a batch of changed paths, in the order to act: services as
        locald.toml lists them, and per service a rebuild, a sync, a restart (none after a rebuild).
        `sync+restart` is a sync and a restart."""
        found: dict[tuple[str, str], dict[tuple, Change]] = {}
        for path in sorted(set(paths)):
            if path == self.state_dir or path.is_relative_to(self.state_dir):
                continue
            for entry in self.entries:
                rel = entry.watched.below(path)
                if rel is None or self._left_out(entry, path):
                    continue
                actions = ("sync", "restart") if entry.action == "sync+restart" else (entry.action,)
                for action in actions:
                    changes = found.setdefault((entry.service, action), {})
                    for change in self._changes(entry, path, rel) if action in SYNC_ACTIONS else [Change(path)]:
                        changes[(change.path, change.target)] = change
        out = []
        for service in dict.fromkeys(e.service for e in self.entries):  # in locald.toml's order
            for action in ORDER:
                if action == "restart" and (service, "rebuild") in found:
                    continue
                if (service, action) in found:
                    out.append((service, action, list(found[(service, action)].values())))
        return out

    def _left_out(self, entry: _Entry, path: Path) -> bool:
        try:
            rel = path.relative_to(entry.ignore_root).as_posix()
        except ValueError:
            rel = path.name
        if path.is_dir():
            rel += "/"  # `build/` patterns match directories only
        if self.defaults.match_file(rel) or entry.ignore.match_file(rel):
            return True
        return entry.gitignore and self.git.ignored(path)

    def _changes(self, entry: _Entry, path: Path, rel: str) -> list[Change]:
        """What to sync for one changed path: itself, and for a directory everything below it that is not
        left out (a directory that appeared may report no event for the files already in it)."""
        out = [Change(path, _target(entry.target, rel))]
        if not path.is_dir() or path.is_symlink():
            return out
        for directory, dirs, files in os.walk(path):
            here = Path(directory)
            for name in list(dirs):
                if self._left_out(entry, here / name):
                    dirs.remove(name)
            for name in sorted(dirs + files):
                child = here / name
                rel = entry.watched.below(child)
                if rel is not None and (name in dirs or not self._left_out(entry, child)):
                    out.append(Change(child, _target(entry.target, rel)))
        return out


def _target(target: str | None, rel: str) -> str | None:
    return None if target is None else posixpath.join(target, rel) if rel else target
