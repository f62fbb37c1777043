"""locald: one locald.toml runs a development stack of host processes and Docker containers.

Map (data flows down; nothing below imports what is above it):
  cli/          click commands: parse, call one function, format. No decisions.
  config/       locald.toml → source map → schema + semantic problems → frozen model (Project).
  graph.py      the one dependency graph: start/stop order, closure, levels, cycles.
  plan.py       Project (+ image facts) → frozen Plan: host and container ports, resolved env.
  compose/      Project/Plan ↔ compose: translate (runtime and export), import, adoption.
  runtime/      supervisor (one run: plan, runtimes, coordinator, state, control socket, interrupts;
                cleanup of what a crash left; helpers that die with it) →
                coordinator (walks the graph, talks to runtimes only through service_runtime.py) →
                processes/ (launch, runner, stopper, probes, restart policy) and containers/ (images,
                compose CLI, engine events) — the two ServiceRuntime implementations; watching/
                (`watch`: file changes → restart, sync, rebuild, through the coordinator).
  proxy/        named URLs: the per-user reverse proxy process (aiohttp, local CA) and the client a
                supervisor registers its routes with; plan.py asks proxy/naming.py for host names.
  dashboard/    the live web page of every running project (served by the proxy at locald.localhost,
                or by `locald dashboard`); a supervisor lists itself in its registry.py.
A new kind of service: a model class in config/, then a runtime that `handles` it, given to the
coordinator by supervisor.make_runtimes; the coordinator itself does not change.
"""

__version__ = "0.1.0"
