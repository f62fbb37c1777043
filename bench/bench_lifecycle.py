"""Lifecycle speed of the real CLI, with anchors measured in the same run.

  1. `locald up -d` of ten independent services that each become ready after 1 s
     (goal: <= 1.5 s; the anchor is the 1 s a single such service needs).
  2. `locald down` of ten processes plus five containers (goal: <= 2 s), next to
     `docker compose down` of the same five containers alone.
  3. Idle CPU of the supervisor with ten services (goal: < 1 % of a core).
  4. Ctrl-C twice during the start of a mixed stack (the second 0.3 s after the first, sent to the
     process group as a terminal does), at several moments: time from the second Ctrl-C to the exit
     (goal: <= 1 s, although two workers ignore SIGTERM with a 30 s grace period).

Run: .venv/bin/python bench/bench_lifecycle.py [--rounds N]   (needs the engine: scripts/setup-docker)
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

LOCALD = [sys.executable, "-m", "locald"]
PY = sys.executable
STUBBORN_MIXED = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "stacks" / "stubborn-mixed.toml"


def write_project(root: Path, services: str) -> Path:
    f = root / "locald.toml"
    f.write_text(f'[project]\nname = "lbench-{uuid.uuid4().hex[:6]}"\n\n{services}')
    return f


def locald(f: Path, *args: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([*LOCALD, "-f", str(f), *args], check=True, capture_output=True, cwd=f.parent)
    return time.perf_counter() - t0


def ten_ready_after_one_second() -> str:
    return "".join(f"""
[services.s{i}]
command = "sleep 1; exec {PY} -m http.server $PORT --bind 127.0.0.1"
""" for i in range(10))


def ten_processes_five_containers() -> str:
    procs = "".join(f'\n[services.p{i}]\ntype = "worker"\ncommand = "sleep 1000"\n' for i in range(10))
    ctrs = "".join(f'\n[services.c{i}]\nimage = "debian:bookworm-slim"\ncommand = "sleep 1000"\n' for i in range(5))
    return procs + ctrs


def ctrl_c_twice(f: Path, offset: float) -> float:
    """Seconds from the second Ctrl-C to the exit of `locald up`."""
    proc = subprocess.Popen([*LOCALD, "-f", str(f), "up", "--no-color"], cwd=f.parent, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, start_new_session=True)
    time.sleep(offset)
    os.killpg(proc.pid, signal.SIGINT)
    time.sleep(0.3)
    t0 = time.perf_counter()
    try:
        os.killpg(proc.pid, signal.SIGINT)
    except ProcessLookupError:
        pass
    proc.wait(timeout=120)
    return time.perf_counter() - t0


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick  # utime + stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        # 1. parallel start
        one = write_project(Path(tempfile.mkdtemp(dir=root)), ten_ready_after_one_second().split("\n[services.s1]")[0])
        ten = write_project(Path(tempfile.mkdtemp(dir=root)), ten_ready_after_one_second())
        t_one, t_ten = [], []
        for _ in range(args.rounds):
            t_one.append(locald(one, "up", "-d"))
            locald(one, "down")
            t_ten.append(locald(ten, "up", "-d"))
            locald(ten, "down")
        m1, m10 = statistics.median(t_one), statistics.median(t_ten)
        print(f"up -d, 1 service ready after 1 s:    median {m1:.2f} s")
        print(f"up -d, 10 services ready after 1 s:  median {m10:.2f} s   (goal <= 1.5 s; ratio to one: {m10 / m1:.2f}x)")

        # 3. idle CPU, while the ten are up
        locald(ten, "up", "-d")
        import json

        pid = json.loads((ten.parent / ".locald" / "state.json").read_text())["pid"]
        c0, w0 = cpu_seconds(pid), time.perf_counter()
        time.sleep(10)
        idle = (cpu_seconds(pid) - c0) / (time.perf_counter() - w0) * 100
        locald(ten, "down")
        print(f"idle supervisor CPU, 10 services:    {idle:.2f} % of a core over 10 s   (goal < 1 %)")

        # 2. down of ten processes + five containers, next to compose down of the five alone
        mixed = write_project(Path(tempfile.mkdtemp(dir=root)), ten_processes_five_containers())
        t_down, t_compose = [], []
        for _ in range(args.rounds):
            locald(mixed, "up", "-d")
            t_down.append(locald(mixed, "down"))
            locald(mixed, "up", "-d")
            state = json.loads((mixed.parent / ".locald" / "state.json").read_text())
            compose = mixed.parent / ".locald" / "compose.yaml"
            t0 = time.perf_counter()
            subprocess.run(["docker", "compose", "-f", str(compose), "-p", state["compose_project"], "down"],
                           check=True, capture_output=True)
            t_compose.append(time.perf_counter() - t0)
            locald(mixed, "down")
        md, mc = statistics.median(t_down), statistics.median(t_compose)
        print(f"down, 10 processes + 5 containers:   median {md:.2f} s   (goal <= 2 s)")
        print(f"docker compose down, 5 containers:   median {mc:.2f} s   (ratio locald/compose: {md / mc:.2f}x)")

        # 4. the second Ctrl-C during the start
        mixed = write_project(Path(tempfile.mkdtemp(dir=root)), STUBBORN_MIXED.read_text())
        waits = []
        for offset in (0.3, 1.0, 1.7, 2.5, 3.5) * max(1, args.rounds // 3):
            waits.append(ctrl_c_twice(mixed, offset))
            locald(mixed, "down")
        print(f"second Ctrl-C during start -> exit:  median {statistics.median(waits):.2f} s, "
              f"max {max(waits):.2f} s over {len(waits)} moments   (goal <= 1 s)")


if __name__ == "__main__":
    main()
