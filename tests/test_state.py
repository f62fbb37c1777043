"""The state store of a running supervisor: coalesced writes that other terminals can always read,
and writes that fail without stopping anything."""

from __future__ import annotations

import json
import threading

from locald.runtime.state import STATE_FILE, StateStore, read_state


def test_many_changes_make_few_writes_and_readers_always_see_a_whole_file(tmp_path):
    store = StateStore(tmp_path / ".locald")
    store.acquire()
    store.start(pid=1, phase="starting")
    torn: list[str] = []
    stop = threading.Event()

    def reader() -> None:  # another terminal's `locald status`, as often as it can
        while not stop.is_set():
            try:
                json.loads((tmp_path / ".locald" / STATE_FILE).read_text())
            except ValueError as exc:
                torn.append(str(exc))

    t = threading.Thread(target=reader)
    t.start()
    try:
        writers = [threading.Thread(target=lambda k=k: [store.set_service(f"s{k}-{i}", status="started")
                                                        for i in range(1000)]) for k in range(5)]
        for w in writers:
            w.start()
        for w in writers:
            w.join()
        store.update(phase="ready")  # phase changes are written at once: `up -d` waits for them
        assert read_state(tmp_path / ".locald")["phase"] == "ready"
        assert len(read_state(tmp_path / ".locald")["services"]) == 5000
    finally:
        stop.set()
        t.join()
        store.release()
    assert torn == [], "a reader saw a half-written state file"
    assert store.writes < 60, f"{store.writes} writes for 5,000 status changes"


def test_a_write_that_fails_is_reported_once_and_never_raised(tmp_path):
    said: list[str] = []
    state_dir = tmp_path / ".locald"
    store = StateStore(state_dir, on_error=said.append)
    store.acquire()
    store.start(pid=1, phase="ready")
    state_dir.rename(tmp_path / "moved")
    state_dir.write_text("in the way")
    store.update(phase="stopping")  # the shutdown path must go on
    store.set_service("web", status="stopped")
    store.add_process("web", 1, 1, 0.0)
    store.update(phase="stopped", processes={})
    store.release()
    assert len(said) == 1 and "cannot write" in said[0], said
