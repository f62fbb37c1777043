"""The pages that are open, and the watch that runs only while there is one.

The first page to connect starts a loop that runs `Watch.tick` every TICK seconds (sooner after an
action) and sends each page what changed as server-sent events: `state` (the whole picture, only when
it differs from the last one sent) and `logs` (the new lines). The last page to leave stops it: with no
page open the dashboard has no timer, no thread and no child process.
"""

from __future__ import annotations

import asyncio
import json
import logging
from concurrent.futures import ThreadPoolExecutor

from .watch import Watch

log = logging.getLogger("locald.dashboard")
TICK = 0.25  # seconds: status changes and new log lines reach the page within about this
MAX_QUEUED = 500  # frames a page may fall behind before it is dropped (it reconnects and starts afresh)


def frame(event: str, data) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


class Page:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()

    def send(self, data: bytes | None) -> bool:
        """False when the page is too far behind (it has been told to go)."""
        if self.queue.qsize() >= MAX_QUEUED:
            self.queue.put_nowait(None)
            return False
        self.queue.put_nowait(data)
        return True


class Hub:
    def __init__(self, tick: float = TICK):
        self.tick = tick
        self.pages: set[Page] = set()
        self._watch: Watch | None = None
        self._task: asyncio.Task | None = None
        self._wake = asyncio.Event()
        self._state: bytes | None = None  # the last `state` frame sent

    @property
    def watching(self) -> bool:
        return self._task is not None

    def join(self) -> Page:
        page = Page()
        self.pages.add(page)
        if self._task is None or self._task.done():
            self._watch = Watch()
            self._task = asyncio.get_running_loop().create_task(self._run(self._watch))
        else:
            if self._state is not None:
                page.send(self._state)
            backlog = self._watch.logbook.backlog()
            if backlog:
                page.send(frame("logs", backlog))
        return page

    def leave(self, page: Page) -> None:
        self.pages.discard(page)
        if not self.pages and self._task is not None:
            self._task.cancel()
            self._task, self._watch, self._state = None, None, None

    def poke(self) -> None:
        """Look again now (an action just changed something)."""
        self._wake.set()

    def dismiss(self) -> None:
        """Tell every page to go (its event stream ends; the browser reconnects)."""
        for page in list(self.pages):
            page.queue.put_nowait(None)

    async def close(self) -> None:
        """The server is going: pages dismissed, the watch stopped and its children gone."""
        self.dismiss()
        task, self._task, self._watch, self._state = self._task, None, None, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def _run(self, watch: Watch) -> None:
        # One thread of its own, gone with the watch: ticks and the final close never overlap.
        pool = ThreadPoolExecutor(1, thread_name_prefix="dashboard-watch")
        loop = asyncio.get_running_loop()
        try:
            while True:
                view, lines = await loop.run_in_executor(pool, watch.tick)
                state = frame("state", view)
                if state != self._state:
                    self._state = state
                    self._publish(state)
                if lines:
                    self._publish(frame("logs", lines))
                try:
                    await asyncio.wait_for(self._wake.wait(), self.tick)
                except asyncio.TimeoutError:
                    pass
                self._wake.clear()
        except Exception:  # a bug must not leave pages waiting forever: they reconnect
            log.exception("the dashboard's watch failed")
            self.dismiss()
        finally:
            await asyncio.shield(loop.run_in_executor(pool, watch.close))
            pool.shutdown(wait=False)

    def _publish(self, data: bytes) -> None:
        for page in list(self.pages):
            if not page.send(data):
                self.pages.discard(page)
