"""The one dependency graph: orders, closure, levels and cycles, on small graphs and a 5,000-service chain."""

from __future__ import annotations

from locald.graph import Graph


def g(**edges):
    return Graph({k: v.split() if v else [] for k, v in edges.items()})


def test_order_puts_dependencies_first_and_keeps_file_order():
    graph = g(web="api db", api="db", db="", worker="db")
    assert graph.order() == ["db", "api", "web", "worker"]
    assert graph.reverse_order() == ["worker", "web", "api", "db"]
    assert graph.order(["worker", "db"]) == ["db", "worker"]


def test_unknown_and_self_edges_are_ignored():
    graph = g(web="nope web db", db="")
    assert graph.order() == ["db", "web"]
    assert graph.dependencies("web") == ["db"]
    assert graph.cycles() == []


def test_closure_and_dependents():
    graph = g(web="api", api="db", db="", cache="", worker="cache")
    assert graph.closure(["web"]) == ["db", "api", "web"]
    assert graph.closure(["worker", "api"]) == ["db", "api", "cache", "worker"]
    assert graph.dependents("db") == ["api"]
    assert graph.dependents_closure(["db"]) == ["db", "api", "web"]


def test_levels_start_and_stop():
    graph = g(web="api cache", api="db", db="", cache="", worker="")
    assert graph.levels() == [["db", "cache", "worker"], ["api"], ["web"]]
    assert graph.reverse_levels() == [["web", "worker"], ["api", "cache"], ["db"]]
    # a selection only counts the edges inside it
    assert graph.reverse_levels(["db", "cache"]) == [["db", "cache"]]


def test_cycles_are_reported_once_with_their_path():
    graph = g(a="b", b="c", c="a", d="d e", e="d")
    assert graph.cycles() == [["a", "b", "c", "a"], ["d", "e", "d"]]
    # an order still comes out (the closing edge is skipped), it does not hang
    assert sorted(graph.order()) == ["a", "b", "c", "d", "e"]


def test_a_long_chain_needs_no_recursion():
    n = 5000
    graph = Graph({f"s{i}": [f"s{i + 1}"] if i + 1 < n else [] for i in range(n)})
    order = graph.order()
    assert order[0] == f"s{n - 1}" and order[-1] == "s0"
    assert len(graph.levels()) == n
    assert graph.closure(["s0"]) == order
    ring = Graph({f"s{i}": [f"s{(i + 1) % n}"] for i in range(n)})
    (cycle,) = ring.cycles()
    assert len(cycle) == n + 1 and cycle[0] == cycle[-1]
