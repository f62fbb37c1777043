"""Dashboard cost: CPU of the dashboard server with no page open, and with one page open on a 10-service
stack printing 1,000 lines/s in total; medians of --rounds windows of --window seconds each.

Subjects
  dashboard   `locald dashboard --port 0` (the same handler the proxy runs for locald.localhost), its own
              process: utime+stime from /proc/PID/stat, plus its reaped children's (cutime+cstime)
  supervisor  the stack's supervisor (`up -d`), for what the open page's status questions cost it
The page is a client of the real event stream (/events, the browser's EventSource) that reads and
decodes everything sent; it counts the log lines it receives, so the load is known to have flowed.
Latency, with the page open: from a line's print to its arrival on the page (each line carries the
system-wide monotonic clock), and from a SIGKILL of a service's process to a state showing it.
Goals (issue 12): the dashboard < 1 % of a core with the page closed, < 5 % with it open; changes on
the page within 500 ms, log lines within 1 s.

Run: .venv/bin/python bench/bench_dashboard.py [--rounds 5] [--window 5] [--services 10] [--rate 1000]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCALD = [sys.executable, "-m", "locald"]
TICKS = os.sysconf("SC_CLK_TCK")

CHATTER = textwrap.dedent("""
    import os, sys, time
    name, every = os.environ["NAME"], 1.0 / float(os.environ["RATE"])
    colours = ["\\033[32m", "\\033[33m", "\\033[36m", ""]
    next_at, n = time.monotonic(), 0
    while True:
        n += 1
        print(f"{colours[n % 4]}{name}\\033[0m request {n} GET /api/items?page={n % 50} 200 in {n % 97} ms "
              f"at {time.monotonic():.6f}", flush=True)
        next_at += every
        time.sleep(max(0.0, next_at - time.monotonic()))
""")


def cpu_seconds(pid: int, children: bool = True) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12]) + ((int(fields[13]) + int(fields[14])) if children else 0)
    return ticks / TICKS


class Page:
    """The page's event stream, read in a thread: the log lines received (with their latency) and the
    latest state."""

    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.conn.request("GET", "/events", headers={"Host": f"127.0.0.1:{port}"})
        self.response = self.conn.getresponse()
        assert self.response.status == 200, self.response.status
        self.lines = 0
        self.delays: list[float] = []
        self.state: dict = {}
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        event = None
        try:
            for raw in self.response.fp:
                line = raw.decode()
                if line.startswith("event: "):
                    event = line[7:].strip()
                elif line.startswith("data: ") and event == "logs":
                    now = time.monotonic()
                    records = json.loads(line[6:])
                    self.lines += len(records)
                    self.delays.extend(now - float(r[3].rsplit(" at ", 1)[1]) for r in records if " at " in r[3])
                elif line.startswith("data: ") and event == "state":
                    self.state = json.loads(line[6:])
        except (OSError, ValueError):
            pass

    def service(self, name: str) -> dict:
        for project in self.state.get("projects", []):
            for row in project["services"]:
                if row["name"] == name:
                    return row
        return {}

    def close(self) -> None:
        self.conn.sock.shutdown(2)
        self.conn.close()
        self.thread.join(timeout=5)


def kill_latency(page: Page, name: str, timeout: float = 10.0) -> float:
    """SIGKILL the service's process; seconds until the page's state no longer shows it running."""
    pid = page.service(name).get("pid")
    start = time.monotonic()
    os.kill(pid, 9)
    while time.monotonic() - start < timeout:
        row = page.service(name)
        if row.get("pid") != pid:
            return time.monotonic() - start
        time.sleep(0.002)
    raise SystemExit(f"the page never showed {name}'s process gone")


def measure(pids: dict[str, int], window: float, page: Page | None = None) -> dict[str, float]:
    before = {k: cpu_seconds(p) for k, p in pids.items()}
    lines_before = page.lines if page else 0
    start = time.monotonic()
    time.sleep(window)
    elapsed = time.monotonic() - start
    out = {k: 100 * (cpu_seconds(p) - before[k]) / elapsed for k, p in pids.items()}
    if page:
        out["lines/s"] = (page.lines - lines_before) / elapsed
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--window", type=float, default=5.0)
    parser.add_argument("--services", type=int, default=10)
    parser.add_argument("--rate", type=float, default=1000.0, help="log lines per second, all services together")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ldbench"))
    env = {**os.environ, "XDG_RUNTIME_DIR": str(work / "run"), "XDG_STATE_HOME": str(work / "state"),
           "XDG_CONFIG_HOME": str(work / "config"), "LOCALD_PROXY": "off", "PYTHONPATH": str(ROOT)}
    project = work / "stack"
    project.mkdir()
    (project / "chatter.py").write_text(CHATTER)
    services = "".join(f'\n[services.s{i:02}]\ntype = "worker"\ncommand = "{sys.executable} chatter.py"\n'
                       f'env = {{ NAME = "s{i:02}", RATE = "{args.rate / args.services:g}" }}\nrestart = "always"\n'
                       + (f'depends_on = ["s{i - 1:02}"]\n' if i % 3 else "")
                       for i in range(args.services))
    (project / "locald.toml").write_text(f'[project]\nname = "bench-dashboard"\n{services}')
    up = subprocess.run([*LOCALD, "up", "-d"], cwd=project, env=env, capture_output=True, text=True, timeout=120)
    if up.returncode:
        raise SystemExit(f"locald up failed:\n{up.stdout}{up.stderr}")
    server = subprocess.Popen([*LOCALD, "dashboard", "--port", "0"], cwd=work, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    try:
        url = server.stdout.readline().strip()
        port = int(url.rsplit(":", 1)[1].strip("/"))
        supervisor = json.loads((project / ".locald" / "state.json").read_text())["pid"]
        pids = {"dashboard": server.pid, "supervisor": supervisor}
        print(f"{args.services} services, {args.rate:g} lines/s in total; dashboard pid {server.pid} at {url}; "
              f"{args.rounds} rounds of {args.window:g} s windows", flush=True)
        time.sleep(2)  # the server's start-up is not its idle cost
        idle, open_, kills, delays = [], [], [], []
        for round_ in range(args.rounds):
            idle.append(measure(pids, args.window))
            page = Page(port)
            time.sleep(1.5)  # the first tick reads every file's backlog: steady state afterwards
            page.delays.clear()
            open_.append(measure(pids, args.window, page))
            delays.extend(page.delays)
            kills.append(kill_latency(page, f"s{round_ % args.services:02}"))
            page.close()
            time.sleep(1.0)  # the watch stops with the last page
            print(f"  round {round_ + 1}: idle {idle[-1]['dashboard']:.2f} %, page open "
                  f"{open_[-1]['dashboard']:.2f} % ({open_[-1]['lines/s']:.0f} lines/s to the page); supervisor "
                  f"{idle[-1]['supervisor']:.2f} % → {open_[-1]['supervisor']:.2f} %", flush=True)

        def median(rows, key):
            return statistics.median(r[key] for r in rows)

        print()
        print(f"{'':34}{'median':>10}{'goal':>10}")
        print(f"{'dashboard, no page open':34}{median(idle, 'dashboard'):>9.2f}%{'< 1 %':>10}")
        print(f"{'dashboard, one page open':34}{median(open_, 'dashboard'):>9.2f}%{'< 5 %':>10}")
        print(f"{'lines/s delivered to the page':34}{median(open_, 'lines/s'):>10.0f}{args.rate:>10.0f}")
        delays.sort()
        print(f"{'line print → page, p50 / p99':34}{1000 * delays[len(delays) // 2]:>8.0f}ms"
              f"{'< 1000 ms':>10} / {1000 * delays[int(len(delays) * 0.99)]:.0f} ms")
        print(f"{'process killed → page, median':34}{1000 * statistics.median(kills):>8.0f}ms{'< 500 ms':>10}"
              f" / max {1000 * max(kills):.0f} ms")
        print(f"{'supervisor, no page open':34}{median(idle, 'supervisor'):>9.2f}%")
        print(f"{'supervisor, one page open':34}{median(open_, 'supervisor'):>9.2f}%")
        ok = (median(idle, "dashboard") < 1 and median(open_, "dashboard") < 5 and statistics.median(kills) < 0.5
              and delays[len(delays) // 2] < 1)
        print("\ngoals met" if ok else "\ngoals NOT met")
    finally:
        server.terminate()
        server.wait(timeout=10)
        subprocess.run([*LOCALD, "down"], cwd=project, env=env, capture_output=True, timeout=120)
        subprocess.run(["rm", "-rf", str(work)])


if __name__ == "__main__":
    main()
