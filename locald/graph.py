"""The one dependency graph: start order, stop order, closure of a selection, levels, cycles.

Nodes are service names in the file's order; edges point from a service to what it depends on.
Edges to names that are not nodes are ignored (validation reports them). Every walk is iterative,
so a chain of thousands of services never meets Python's recursion limit. Like Docker Compose's
`InDependencyOrder` / `InReverseDependencyOrder`, start and stop share one traversal (`order`).
"""

from __future__ import annotations

from typing import Iterable, Mapping


class Graph:
    def __init__(self, edges: Mapping[str, Iterable[str]]):
        """`edges`: node → the nodes it depends on, both in the order they were written."""
        self.nodes: list[str] = list(edges)
        known = set(self.nodes)
        self._deps: dict[str, list[str]] = {
            n: [d for d in dict.fromkeys(ds) if d in known and d != n] for n, ds in edges.items()}
        self._dependents: dict[str, list[str]] = {n: [] for n in self.nodes}
        for n in self.nodes:
            for d in self._deps[n]:
                self._dependents[d].append(n)
        self._order: list[str] | None = None

    def dependencies(self, name: str) -> list[str]:
        return list(self._deps.get(name, ()))

    def dependents(self, name: str) -> list[str]:
        """Services that depend on `name` directly, in file order."""
        return list(self._dependents.get(name, ()))

    # --- orders ------------------------------------------------------------------------------------

    def order(self, names: Iterable[str] | None = None) -> list[str]:
        """Dependencies before dependents; ties keep the file's order. With `names`: only those
        (not their closure: see `closure`). A cycle does not hang it: the edge closing it is skipped."""
        if self._order is None:
            self._order = self._post_order()
        if names is None:
            return list(self._order)
        wanted = set(names)
        return [n for n in self._order if n in wanted]

    def reverse_order(self, names: Iterable[str] | None = None) -> list[str]:
        """Dependents before their dependencies: the order to stop in."""
        return self.order(names)[::-1]

    def closure(self, names: Iterable[str]) -> list[str]:
        """`names` plus everything they depend on, transitively, in start order."""
        return self.order(self._reach(names, self._deps))

    def dependents_closure(self, names: Iterable[str]) -> list[str]:
        """`names` plus everything that depends on them, transitively, in start order."""
        return self.order(self._reach(names, self._dependents))

    def _reach(self, names: Iterable[str], edges: Mapping[str, list[str]]) -> set[str]:
        reached: set[str] = set()
        stack = [n for n in names if n in edges]
        while stack:
            name = stack.pop()
            if name not in reached:
                reached.add(name)
                stack.extend(edges[name])
        return reached

    def levels(self, names: Iterable[str] | None = None) -> list[list[str]]:
        """Start waves within `names` (default: all): each service is one level above the highest of
        its dependencies in the selection, so a level only depends on earlier levels."""
        return self._levels(self.order(names), self._deps)

    def reverse_levels(self, names: Iterable[str] | None = None) -> list[list[str]]:
        """Stop waves: each group only depends on later groups, so dependents stop first."""
        return self._levels(self.reverse_order(names), self._dependents)

    def _levels(self, ordered: list[str], below: Mapping[str, list[str]]) -> list[list[str]]:
        level: dict[str, int] = {}
        for n in ordered:  # what n waits for comes earlier in `ordered`
            level[n] = 1 + max((level[d] for d in below[n] if d in level), default=-1)
        groups: dict[int, list[str]] = {}
        for n in self.order(level):  # file order inside a level
            groups.setdefault(level[n], []).append(n)
        return [groups[k] for k in sorted(groups)]

    def _post_order(self) -> list[str]:
        out: list[str] = []
        state: dict[str, int] = {}  # 1 = on the stack, 2 = done
        for root in self.nodes:
            if root in state:
                continue
            state[root] = 1
            stack = [(root, iter(self._deps[root]))]
            while stack:
                node, deps = stack[-1]
                dep = next(deps, None)
                if dep is None:
                    stack.pop()
                    state[node] = 2
                    out.append(node)
                elif dep not in state:
                    state[dep] = 1
                    stack.append((dep, iter(self._deps[dep])))
        return out

    # --- cycles ------------------------------------------------------------------------------------

    def cycles(self) -> list[list[str]]:
        """Each dependency cycle once, as the path that closes it: ["web", "api", "web"]. The last
        edge (path[-2] → path[-1]) is the one found closing the cycle in file order."""
        found: list[list[str]] = []
        seen: set[frozenset] = set()
        state: dict[str, int] = {}
        for root in self.nodes:
            if root in state:
                continue
            state[root] = 1
            path = [root]
            stack = [iter(self._deps[root])]
            while stack:
                dep = next(stack[-1], None)
                if dep is None:
                    state[path.pop()] = 2
                    stack.pop()
                elif state.get(dep) == 1:
                    cycle = path[path.index(dep):] + [dep]
                    if frozenset(cycle) not in seen:
                        seen.add(frozenset(cycle))
                        found.append(cycle)
                elif dep not in state:
                    state[dep] = 1
                    path.append(dep)
                    stack.append(iter(self._deps[dep]))
        return found


def graph_of(services: Mapping[str, object]) -> Graph:
    """The graph of model services (anything with `depends_on` of objects with `.name`)."""
    return Graph({name: [d.name for d in s.depends_on] for name, s in services.items()})

