"""Swarm deploy: `locald deploy swarm` (dependency waves) versus plain `docker stack deploy` + polling.

The stack: a store (redis:7, health-checked), a one-shot migration that needs it, and an app that
crashes unless the migration ran (tests/swarm_support.py). One run, alternating subjects, --rounds
rounds each (median reported), on a single-node swarm this script makes and leaves (the engine is
shared: see swarm_support.swarm_mode):
  locald  `locald deploy swarm --resolve-image never` in a subprocess (start-up included); it returns
          once every service is healthy / completed.
  plain   `docker stack deploy --resolve-image never -c FILE` of the file `locald export compose
          --target swarm` writes, then polling the task states until the same condition holds.
Both are read with the same task-state poll (locald.swarm.cluster.services, every 0.5 s). Reported:
time to all-healthy, and crashes (failed tasks: a crash-loop of the app under the plain deploy, whose
restart delay is Swarm's default 5 s).

Run: .venv/bin/python bench/bench_swarm.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from locald.config import load_project  # noqa: E402
from locald.plan import free_port  # noqa: E402
from locald.swarm import cluster  # noqa: E402
from locald.swarm.manage import down  # noqa: E402
from swarm_support import order_stack, swarm_mode  # noqa: E402

LOCALD = [sys.executable, "-m", "locald"]
POLL = 0.5
TIMEOUT = 300


def all_healthy(stack: str) -> bool:
    services = cluster.services(stack)
    wanted = {"store": "running", "migrate": "complete", "app": "running"}
    return len(services) == len(wanted) and all(
        any(t.state == state and (state == "complete" or t.desired == "running") for t in services[name].tasks)
        for name, state in wanted.items())


def crashes(stack: str) -> int:
    return sum(t.state in ("failed", "rejected") for s in cluster.services(stack).values() for t in s.tasks)


def run_locald(root: Path, stack: str) -> float:
    t0 = time.perf_counter()
    subprocess.run(LOCALD + ["deploy", "swarm", "--stack", stack, "--resolve-image", "never"], cwd=root, check=True,
                   capture_output=True)
    elapsed = time.perf_counter() - t0
    assert all_healthy(stack), "locald returned before the stack was healthy"
    return elapsed


def run_plain(file: Path, stack: str) -> float:
    t0 = time.perf_counter()
    subprocess.run(["docker", "stack", "deploy", "--resolve-image", "never", "-c", str(file), stack], check=True,
                   capture_output=True)
    while not all_healthy(stack):
        if time.perf_counter() - t0 > TIMEOUT:
            raise SystemExit(f"plain deploy of {stack} not healthy after {TIMEOUT}s")
        time.sleep(POLL)
    return time.perf_counter() - t0


def remove(project, stack: str) -> None:
    down(project, stack)
    volumes = cluster.volumes(stack)
    if volumes:
        subprocess.run(["docker", "volume", "rm", *volumes], capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    base = f"lbench-swarm-{os.getpid()}"
    results: dict[str, list[tuple[float, int]]] = {"locald": [], "plain": []}
    with tempfile.TemporaryDirectory(prefix="locald-bench-") as tmp, swarm_mode():
        root = Path(tmp)
        (root / "locald.toml").write_text(f'[project]\nname = "{base}"\n' + order_stack(free_port(), free_port()))
        project = load_project(root / "locald.toml")
        file = root / "stack.yaml"
        subprocess.run(LOCALD + ["export", "compose", "--target", "swarm", "-o", str(file)], cwd=root, check=True,
                       capture_output=True)
        for r in range(args.rounds):
            for subject in ("locald", "plain"):
                stack = f"{base}-{subject}-{r}"
                try:
                    seconds = run_locald(root, stack) if subject == "locald" else run_plain(file, stack)
                    results[subject].append((seconds, crashes(stack)))
                finally:
                    remove(project, stack)
            print(f"round {r + 1}/{args.rounds}: " + ", ".join(
                f"{k} {v[-1][0]:.1f}s ({v[-1][1]} crashes)" for k, v in results.items()), file=sys.stderr)

    print(f"store (healthy) → migration (one-shot) → app (crashes without it); median of {args.rounds} rounds")
    print(f"{'subject':<8} {'to all-healthy':>15} {'crashes':>8}")
    medians = {}
    for subject, runs in results.items():
        medians[subject] = statistics.median(s for s, _ in runs)
        print(f"{subject:<8} {medians[subject]:>14.1f}s {statistics.median(c for _, c in runs):>8g}")
    print(f"ratio plain/locald: {medians['plain'] / medians['locald']:.2f} (above 1: the waves are faster "
          "than a crash-looping deploy)")


if __name__ == "__main__":
    main()
