"""Speed of `locald validate` on a generated 200-service locald.toml, next to `honcho --version`.

honcho is a small Python CLI (click-free, ~50 ms here): the anchor that says how fast a Python
command line can start on this machine. Both are measured in the same run, interleaved, so a busy
machine slows both alike. Goal: validate within 3x of the anchor.

Run: .venv/bin/python bench/bench_validate.py [--runs N] [--services N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
GOAL = 3.0


def generate(n: int) -> str:
    """A valid file with every kind, dependencies in all three forms, env references and health checks."""
    out = ['#:schema ../schema/locald.schema.json', "", "[project]", 'name = "bench"', ""]
    for i in range(n):
        kind = ("exec", "worker", "container", "postgres", "site")[i % 5]
        out.append(f"[services.s{i}]")
        if kind == "exec":
            out += ['command = "python3 -m http.server $PORT"', f"port = {20000 + i}",
                    'health_check = { type = "http", path = "/health", interval = "500ms", timeout = 2 }']
        elif kind == "worker":
            out += ['type = "worker"', 'command = ["python3", "worker.py", "--queue", "jobs"]',
                    'restart = "on-failure"', "max_restarts = 5", 'stop_signal = "SIGINT"']
        elif kind == "container":
            out += ['image = "redis:7"', "container_port = 6379", 'health_check = "redis-cli ping"',
                    'volumes = ["data:/data"]', 'stop_grace_period = "1m30s"']
        elif kind == "postgres":
            out += ['type = "postgres"', 'version = "15"']
        else:
            out += ['type = "site"', 'path = "public"']
        if i >= 5:
            a, b, c = i - 1, i - 3, i - 5
            form = i % 3
            if form == 0:
                out.append(f'depends_on = ["s{a}", "s{b}"]')
            elif form == 1:
                out.append(f'depends_on = {{ s{a} = "started", s{c} = "healthy" }}')
            else:
                out.append(f'depends_on = {{ s{a} = {{ condition = "started", timeout = "2m", required = false }} }}')
            b, c = (j - 1 if j % 5 == 1 else j for j in (b, c))  # a worker has no port to refer to
            out.append(f'env = {{ UP_URL = "${{services.s{b}.url}}", UP_PORT = "${{services.s{c}.port}}", DEBUG = true }}')
        out.append("")
    return "\n".join(out)


def timed(argv: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed:\n{(proc.stdout + proc.stderr)[:2000]}")
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--services", type=int, default=200)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="locald-bench-") as tmp:
        root = Path(tmp)
        (root / "locald.toml").write_text(generate(args.services))
        validate = [str(BIN / "locald"), "validate"]
        anchor = [str(BIN / "honcho"), "--version"]
        first = subprocess.run(validate, cwd=root, capture_output=True, text=True)
        print(f"validate says: {first.stdout.strip() or first.stderr.strip()}")
        timed(anchor, root)  # warm the page cache for both
        v, h = [], []
        for _ in range(args.runs):
            v.append(timed(validate, root))
            h.append(timed(anchor, root))
    mv, mh = statistics.median(v), statistics.median(h)
    ratio = mv / mh
    print(f"locald validate ({args.services} services): median {mv * 1000:.0f} ms over {args.runs} runs")
    print(f"honcho --version (anchor):       median {mh * 1000:.0f} ms over {args.runs} runs")
    print(f"ratio: {ratio:.2f}x (goal: within {GOAL:.0f}x) -> {'ok' if ratio <= GOAL else 'OVER'}")
    return 0 if ratio <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
