"""Scale of the real CLI: `locald up -d` and `locald down` of N plain workers, next to `honcho start`
(until it has started them all) and its Ctrl-C (until it has exited) on the same N processes.

Goal on these 2 cores: 1,000 workers `up -d` <= 10 s and `down` <= 5 s. While locald runs, a sampler
reads the supervisor's /proc entry and reports the most threads and unreaped (zombie) children it saw.

Run: .venv/bin/python bench/bench_scale.py [--sizes 100,300,1000] [--rounds 3] [--no-honcho]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

LOCALD = [sys.executable, "-m", "locald"]
HONCHO = [sys.executable, "-m", "honcho"]
COMMAND = "sleep 1000"


def write_project(root: Path, n: int) -> Path:
    f = root / "locald.toml"
    services = "".join(f'\n[services.w{i}]\ntype = "worker"\ncommand = "{COMMAND}"\n' for i in range(n))
    f.write_text(f'[project]\nname = "lscale-{uuid.uuid4().hex[:6]}"\n{services}')
    (root / "Procfile").write_text("".join(f"w{i}: {COMMAND}\n" for i in range(n)))
    return f


class Sampler:
    """Polls a process's thread count and zombie children until stopped."""

    def __init__(self, pid_of):
        self.pid_of = pid_of
        self.threads = self.zombies = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            pid = self.pid_of()
            if not pid:
                continue
            try:
                with open(f"/proc/{pid}/status") as fh:
                    threads = next(int(line.split()[1]) for line in fh if line.startswith("Threads:"))
                with open(f"/proc/{pid}/task/{pid}/children") as fh:
                    children = fh.read().split()
            except (OSError, StopIteration):
                continue
            zombies = 0
            for child in children:
                try:
                    with open(f"/proc/{child}/stat", "rb") as fh:
                        zombies += fh.read().rsplit(b")", 1)[1].split()[0] == b"Z"
                except OSError:
                    pass
            self.threads, self.zombies = max(self.threads, threads), max(self.zombies, zombies)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def supervisor_pid(f: Path) -> int | None:
    try:
        return json.loads((f.parent / ".locald" / "state.json").read_text()).get("pid")
    except (OSError, ValueError):
        return None


def locald(f: Path, *args: str, timeout: float = 900) -> float:
    t0 = time.perf_counter()
    r = subprocess.run([*LOCALD, "-f", str(f), *args], capture_output=True, cwd=f.parent, timeout=timeout)
    took = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"locald {' '.join(args)} failed ({r.returncode}) after {took:.1f}s:\n{r.stderr.decode()[-2000:]}")
    return took


def honcho(f: Path, n: int) -> tuple[float, float]:
    """(seconds until honcho reported all n started, seconds from SIGINT until it exited)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([*HONCHO, "-f", str(f.parent / "Procfile"), "start"], cwd=f.parent,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    started = 0
    for line in proc.stdout:
        if b" started (pid=" in line:
            started += 1
            if started == n:
                break
    up = time.perf_counter() - t0
    threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep draining while it stops
    t1 = time.perf_counter()
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    proc.wait(timeout=600)
    return up, time.perf_counter() - t1


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100,300,1000")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-honcho", action="store_true")
    args = ap.parse_args()

    print(f"{'workers':>7}  {'up -d':>7}  {'down':>7}  {'honcho up':>9}  {'^C':>6}  {'up/h':>5}  {'down/h':>6}"
          "  peak threads / zombies (locald)")
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            root = Path(tmp) / f"n{n}"
            root.mkdir()
            f = write_project(root, n)
            ups, downs, h_ups, h_downs = [], [], [], []
            threads = zombies = 0
            for _ in range(args.rounds):
                sampler = Sampler(lambda: supervisor_pid(f))
                try:
                    ups.append(locald(f, "up", "-d"))
                    downs.append(locald(f, "down"))
                finally:
                    sampler.stop()
                    subprocess.run([*LOCALD, "-f", str(f), "down"], capture_output=True, cwd=root)
                threads, zombies = max(threads, sampler.threads), max(zombies, sampler.zombies)
                if not args.no_honcho:
                    hu, hd = honcho(f, n)
                    h_ups.append(hu)
                    h_downs.append(hd)
            up, down = statistics.median(ups), statistics.median(downs)
            if h_ups:
                hu, hd = statistics.median(h_ups), statistics.median(h_downs)
                anchor = f"{hu:8.2f}s  {hd:5.2f}s  {up / hu:5.2f}  {down / hd:6.2f}"
            else:
                anchor = f"{'-':>9}  {'-':>6}  {'-':>5}  {'-':>6}"
            print(f"{n:7d}  {up:6.2f}s  {down:6.2f}s  {anchor}  {threads} / {zombies}", flush=True)
    print("medians of", args.rounds, "rounds; goal at 1,000: up -d <= 10 s, down <= 5 s")


if __name__ == "__main__":
    main()
