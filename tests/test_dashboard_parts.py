"""The dashboard's parts that need no stack: rows and tones, the graph layout, the log book, the
registry of running projects, the token file, and the uid lookup of a TCP peer (on real sockets)."""

from __future__ import annotations

import os
import socket
import stat
import threading

from proxy_helpers import proxy_env  # noqa: F401  (fixture)

from locald.dashboard import access, registry
from locald.dashboard.logbook import Logbook
from locald.dashboard.peer import _address, uid_of_peer
from locald.dashboard.view import layout, service_row, tone
from locald.runtime.state import StateStore


def row(live=None, described=None, recorded=None, facts=None, tail=()):
    return service_row("api", described or {"kind": "exec", "port": 5000, "url": "http://localhost:5000"},
                       live or {}, recorded or {}, "http://api.shop.localhost", facts or {}, tail)


def test_a_crashed_process_is_bad_with_its_exit_code_and_last_lines():
    r = row({"state": "restarting", "exit_code": 3, "restarts": 2, "message": "exited with code 3; restarting"},
            tail=[f"line {i}" for i in range(30)])
    assert (r["tone"], r["crashed"], r["exit_code"], r["restarts"]) == ("bad", True, 3, 2)
    assert r["last_lines"] == [f"line {i}" for i in range(18, 30)]
    assert r["started_at"] is None  # nothing runs: no uptime


def test_a_service_stopped_on_purpose_is_not_a_crash():
    r = row({"state": "stopped", "exit_code": -15})
    assert (r["tone"], r["crashed"], r["last_lines"]) == ("off", False, [])


def test_rows_fall_back_to_what_state_json_recorded_then_to_stopped():
    assert row(recorded={"status": "waiting"})["status"] == "waiting"
    assert row()["status"] == "stopped"  # a removed container has no live entry


def test_a_container_row_takes_start_time_restarts_and_probe_output_from_the_engine():
    r = row({"state": "running", "health": "healthy", "container": "shop-cache-1"},
            described={"kind": "container", "port": 6379, "url": None},
            facts={"started_at": 1700000000.5, "restarts": 1, "exit_code": None, "health_output": "exit 0: PONG"})
    assert (r["kind"], r["started_at"], r["restarts"], r["health_output"], r["tone"]) == \
           ("container", 1700000000.5, 1, "exit 0: PONG", "ok")


def test_tones():
    assert tone("healthy", "healthy", None) == "ok"
    assert tone("running", "starting", None) == "busy"
    assert tone("running", "unhealthy", None) == "bad"
    assert tone("exited", None, 0) == "ok"  # a one-shot job that completed
    assert tone("exited", None, 1) == "bad"
    assert tone("stopped", None, None) == "off"


def test_the_graph_has_a_column_per_level_and_an_edge_per_dependency():
    described = {
        "db": {"depends_on": []},
        "cache": {"depends_on": []},
        "api": {"depends_on": [{"name": "db", "condition": "healthy", "required": True}]},
        "web": {"depends_on": [{"name": "api", "condition": "started", "required": True},
                               {"name": "cache", "condition": "healthy", "required": False}]},
    }
    g = layout(described)
    x = {n["name"]: n["x"] for n in g["nodes"]}
    assert x["db"] == x["cache"] < x["api"] < x["web"]
    assert sorted((e["from"], e["to"], e["condition"], e["required"]) for e in g["edges"]) == [
        ("api", "web", "started", True), ("cache", "web", "healthy", False), ("db", "api", "healthy", True)]
    assert all(n["x"] + g["node_width"] <= g["width"] and n["y"] + g["node_height"] <= g["height"] for n in g["nodes"])


def test_the_logbook_numbers_lines_and_merges_the_backlog_in_arrival_order():
    book = Logbook(per_service=3)
    book.add("p", "web", ["w1", "w2"])
    book.add("p", "api", ["a1"])
    book.add("p", "web", ["w3", "w4"])
    assert [r[3] for r in book.take_new()] == ["w1", "w2", "a1", "w3", "w4"]
    assert book.take_new() == []
    assert [r[3] for r in book.backlog()] == ["w2", "a1", "w3", "w4"]  # web keeps its last 3
    assert book.last("p", "web", 2) == ["w3", "w4"]
    book.forget("p")
    assert book.backlog() == []


def test_the_registry_lists_a_project_while_its_supervisor_lock_is_held(proxy_env, tmp_path):  # noqa: F811
    class Project:
        name, root, state_dir = "shop", tmp_path, tmp_path / ".locald"

    store = StateStore(Project.state_dir)
    store.acquire()
    path = registry.add(Project)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [(e.name, e.state_dir) for e in registry.running()] == [("shop", Project.state_dir.resolve())]
    store.release()  # as a crashed supervisor leaves it: file there, lock free
    assert registry.running() == []
    registry.remove(path)
    assert not path.exists()


def test_the_token_is_made_once_0600_even_by_servers_starting_together(proxy_env):  # noqa: F811
    tokens: list[str] = []
    threads = [threading.Thread(target=lambda: tokens.append(access.token())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(tokens)) == 1 and len(tokens[0]) >= 32
    assert stat.S_IMODE(access.token_path().stat().st_mode) == 0o600
    assert [p.name for p in access.token_path().parent.iterdir() if p.name.startswith(".dashboard")] == []


def test_proc_net_tcp_addresses_are_read_in_host_byte_order():
    assert _address("0100007F:1F90") == (__import__("ipaddress").ip_address("127.0.0.1"), 8080)
    assert str(_address("00000000000000000000000001000000:0050")[0]) == "::1"
    assert str(_address("0000000000000000FFFF00000100007F:0050")[0]) == "127.0.0.1"  # v4-mapped


def test_the_uid_behind_a_loopback_connection_is_found_for_both_families():
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        with socket.socket(family) as server:
            server.bind((host, 0))
            server.listen()
            with socket.create_connection(server.getsockname()[:2]) as client:
                conn, _ = server.accept()
                with conn:
                    assert uid_of_peer(conn.getpeername(), conn.getsockname()) == os.geteuid()
                    assert client  # still open while looked up
    # No such connection: nobody
    assert uid_of_peer(("127.0.0.1", 1), ("127.0.0.1", 2)) is None
