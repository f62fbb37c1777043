"""Container overhead: locald's ContainerRuntime versus plain `docker compose`, same five services.

One run, alternating subjects, --rounds rounds each (median reported):
  locald   the runtime the coordinator drives: check_engine, ensure_images, exposed_ports,
           write_compose, one `compose up -d --no-deps` batch, a readiness wait per service (in
           parallel, from engine events), then stop(None) (`compose down`).
  compose  `docker compose up -d --wait` then `docker compose down`, on the file `locald export
           compose` writes for the same project (same images, health checks, init, ports).
Services: three redis:7 with `redis-cli ping` health checks (ready = healthy) and two
`sh -c 'sleep 1000'` containers (ready = running). Goal: locald within 15 % of compose.

The runtime is measured in-process (python-on-whales is imported once, before the first round);
`--cli` also times the real `locald up -d` + `locald down` in a subprocess, start-up included.

Run: .venv/bin/python bench/bench_containers.py [--rounds 5] [--cli]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from locald.compose.export import export_compose  # noqa: E402
from locald.config import load_project  # noqa: E402
from locald.plan import free_port, make_plan  # noqa: E402
from locald.runtime.containers import engine, images  # noqa: E402
from locald.runtime.containers.runtime import ContainerRuntime  # noqa: E402


def project_toml(name: str) -> str:
    out = f'[project]\nname = "{name}"\n\n'
    for i in range(3):
        out += (f'[services.redis{i}]\nimage = "redis:7"\ncontainer_port = 6379\nport = {free_port()}\n'
                'health_check = "redis-cli ping"\n\n')
    for i in range(2):
        out += f'[services.sleeper{i}]\nimage = "debian:bookworm-slim"\ncommand = "sh -c \'sleep 1000\'"\n\n'
    return out


def run_locald(root: Path) -> tuple[float, float]:
    project = load_project(root / "locald.toml")
    t0 = time.perf_counter()
    names = [s.name for s in project.containers]
    facts = images.prepare(project, names, say=lambda line: None)
    rt = ContainerRuntime(make_plan(project, images.exposed_ports(project, facts.infos)), facts)
    rt.prepare(names, say=lambda line: None)
    rt.start(names)
    errors: list[Exception] = []

    def wait(name: str) -> None:
        try:
            rt.wait(name, "healthy" if rt.has_readiness(name) else "started", 60)
        except Exception as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=wait, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    t1 = time.perf_counter()
    rt.stop(None)
    t2 = time.perf_counter()
    rt.close()
    if errors:
        raise errors[0]
    return t1 - t0, t2 - t1


def run_compose(file: Path, project: str) -> tuple[float, float]:
    base = ["docker", "compose", "-f", str(file), "-p", project]
    t0 = time.perf_counter()
    subprocess.run(base + ["up", "-d", "--wait", "--quiet-pull"], check=True, capture_output=True)
    t1 = time.perf_counter()
    subprocess.run(base + ["down"], check=True, capture_output=True)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1


def run_cli(root: Path) -> tuple[float, float]:
    locald = [sys.executable, "-m", "locald"]
    t0 = time.perf_counter()
    subprocess.run(locald + ["up", "-d"], cwd=root, check=True, capture_output=True)
    t1 = time.perf_counter()
    subprocess.run(locald + ["down"], cwd=root, check=True, capture_output=True)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cli", action="store_true", help="also time `locald up -d` + `locald down` (subprocess)")
    args = parser.parse_args()

    name = f"lbench-{os.getpid()}"
    with tempfile.TemporaryDirectory(prefix="locald-bench-") as tmp:
        root = Path(tmp)
        (root / "locald.toml").write_text(project_toml(name))
        plan = make_plan(load_project(root / "locald.toml"))
        text, _ = export_compose(plan)
        exported = root / "compose.yaml"
        exported.write_text(text)
        import python_on_whales  # noqa: F401  (paid once, like any long-lived process)

        results: dict[str, list[tuple[float, float]]] = {"locald": [], "compose": []}
        if args.cli:
            results["locald CLI"] = []
        run_locald(root)  # warm-up: page cache, engine, images checked
        try:
            for r in range(args.rounds):
                results["locald"].append(run_locald(root))
                results["compose"].append(run_compose(exported, f"{name}-compose"))
                if args.cli:
                    results["locald CLI"].append(run_cli(root))
                print(f"round {r + 1}/{args.rounds}: " + ", ".join(
                    f"{k} {sum(v[-1]):.2f}s" for k, v in results.items()), file=sys.stderr)
        finally:
            engine.remove_project(engine.Owner.of(load_project(root / "locald.toml")))
            subprocess.run(["docker", "compose", "-p", f"{name}-compose", "down", "--remove-orphans"],
                           capture_output=True)

    print(f"five container services (3 redis with health checks, 2 sleepers), median of {args.rounds} rounds")
    print(f"{'subject':<12} {'up+ready':>9} {'down':>7} {'total':>7}")
    totals = {}
    for subject, runs in results.items():
        up = statistics.median(u for u, _ in runs)
        down = statistics.median(d for _, d in runs)
        totals[subject] = statistics.median(u + d for u, d in runs)
        print(f"{subject:<12} {up:>8.2f}s {down:>6.2f}s {totals[subject]:>6.2f}s")
    ratio = totals["locald"] / totals["compose"]
    print(f"overhead ratio locald/compose: {ratio:.3f} (goal <= 1.15: {'met' if ratio <= 1.15 else 'NOT met'})")
    if args.cli:
        print(f"overhead ratio locald CLI/compose: {totals['locald CLI'] / totals['compose']:.3f}")


if __name__ == "__main__":
    main()
