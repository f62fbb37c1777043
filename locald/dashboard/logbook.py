"""The log lines the dashboard has seen, numbered in the order they arrived (thread-safe).

Lines come from the watch's tick (processes' files) and from reader threads (containers' logs). Each
gets a sequence number, so a page that joins late receives the recent lines of every service merged in
arrival order and drops any it then receives twice.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections import deque

Record = list  # [seq, project key, service, text]: compact in JSON


class Logbook:
    def __init__(self, per_service: int = 200, backlog: int = 2000):
        self.per_service = per_service
        self.backlog_limit = backlog
        self._lock = threading.Lock()
        self._seq = itertools.count(1)
        self._tails: dict[tuple[str, str], deque[Record]] = {}
        self._new: list[Record] = []

    def add(self, key: str, service: str, lines: list[str]) -> None:
        with self._lock:
            tail = self._tails.get((key, service))
            if tail is None:
                tail = self._tails[key, service] = deque(maxlen=self.per_service)
            for text in lines:
                record = [next(self._seq), key, service, text]
                tail.append(record)
                self._new.append(record)

    def take_new(self) -> list[Record]:
        """The lines added since the last call."""
        with self._lock:
            new, self._new = self._new, []
        return new

    def backlog(self) -> list[Record]:
        """The recent lines of every service, oldest first."""
        with self._lock:
            merged = list(heapq.merge(*self._tails.values()))
        return merged[-self.backlog_limit:]

    def last(self, key: str, service: str, n: int) -> list[str]:
        with self._lock:
            tail = list(self._tails.get((key, service), ()))
        return [record[3] for record in tail[-n:]]

    def forget(self, key: str) -> None:
        with self._lock:
            for k in [k for k in self._tails if k[0] == key]:
                del self._tails[k]
