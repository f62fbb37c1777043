"""The edit loop's speed, through the real CLI, with anchors measured in the same run.

  watch: edit-to-restarted latency of a host process whose readiness is a TCP probe, under
         `watch = [...]`: from the write of a watched file until the *new* process answers on its port
         (goal: <= 300 ms on top of the service's own start time, the anchor: the same command started
         directly, timed from spawn until it answers). Median over the rounds.

  converge: a 20-service stack (host processes with TCP readiness) where one service's env changes:
         `locald up -d` on the running stack (goal: only that one restarts, in <= 1.2x the time of the
         anchor: `locald restart` of that service alone, through the same CLI). Medians over the rounds.
  edit:  the same change saved while the stack runs: from the save until the new process answers.

Run: .venv/bin/python bench/bench_reload.py [--rounds N] [--only watch|converge]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from locald.plan import free_port  # noqa: E402
from stack import wait_until  # noqa: E402

LOCALD = [sys.executable, "-m", "locald"]
PY = sys.executable
GOAL_WATCH = 0.300  # seconds on top of the service's own start time
GOAL_CONVERGE = 1.2  # converging one changed service, as a ratio of restarting it alone
SERVICES = 20
POLL = 0.002  # seconds between two looks at the port: the resolution of every time measured here

APP = """
import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(str(os.getpid()).encode())
    def log_message(self, *args): pass
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"""


def served_pid(port: int) -> int | None:
    """The pid the service answers with, or None while nothing answers (a raw GET: no client to import)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
        return int(data.split(b"\r\n\r\n", 1)[1])
    except (OSError, ValueError, IndexError):
        return None


def own_start_time(app: Path) -> float:
    """Spawn to first answer of the service started directly (the anchor)."""
    port = free_port()
    t0 = time.perf_counter()
    proc = subprocess.Popen([PY, str(app)], env={**os.environ, "PORT": str(port)})
    try:
        wait_until(lambda: served_pid(port) == proc.pid, interval=POLL)
        return time.perf_counter() - t0
    finally:
        proc.terminate()
        proc.wait()


def bench_watch(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "src").mkdir()
        app = root / "src" / "app.py"
        app.write_text(APP)
        f = root / "locald.toml"
        f.write_text(f'[project]\nname = "lbench-{uuid.uuid4().hex[:6]}"\n\n[services.web]\n'
                     f'command = ["{PY}", "src/app.py"]\nhealth_check = {{ type = "tcp" }}\nwatch = ["src/**/*.py"]\n')
        anchors = [own_start_time(app) for _ in range(rounds)]
        subprocess.run([*LOCALD, "-f", str(f), "up", "-d"], check=True, capture_output=True, cwd=root)
        try:
            port = json.loads((root / ".locald" / "state.json").read_text())["ports"]["web"]
            latencies = []
            for i in range(rounds):
                before = wait_until(lambda: served_pid(port), interval=POLL)
                time.sleep(0.3)  # settled: no batch of the previous round still open
                t0 = time.perf_counter()
                app.write_text(APP + f"\n# edit {i}\n")
                wait_until(lambda: (pid := served_pid(port)) is not None and pid != before, interval=POLL)
                latencies.append(time.perf_counter() - t0)
        finally:
            subprocess.run([*LOCALD, "-f", str(f), "down"], capture_output=True, cwd=root)
    own, edit = statistics.median(anchors), statistics.median(latencies)
    print(f"watch: edit -> new process answering   median {edit * 1000:6.0f} ms over {rounds} rounds "
          f"(min {min(latencies) * 1000:.0f}, max {max(latencies) * 1000:.0f})")
    print(f"       anchor: the service's own start   median {own * 1000:6.0f} ms")
    print(f"       on top of its own start: {(edit - own) * 1000:.0f} ms (goal <= {GOAL_WATCH * 1000:.0f} ms: "
          f"{'met' if edit - own <= GOAL_WATCH else 'NOT met'})")


def pids(f: Path) -> dict[str, int]:
    out = subprocess.run([*LOCALD, "-f", str(f), "status", "--json"], capture_output=True, text=True, check=True)
    return {r["name"]: r["pid"] for r in json.loads(out.stdout)}


def bench_converge(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "app.py").write_text(APP)
        f = root / "locald.toml"
        text = f'[project]\nname = "lbench-{uuid.uuid4().hex[:6]}"\n\n' + "".join(
            f'[services.s{i}]\ncommand = ["{PY}", "app.py"]\nhealth_check = {{ type = "tcp" }}\nenv = {{ ROUND = "0" }}\n\n'
            for i in range(SERVICES))
        f.write_text(text)
        cli = [*LOCALD, "-f", str(f)]
        subprocess.run([*cli, "up", "-d"], check=True, capture_output=True, cwd=root)
        try:
            port = json.loads((root / ".locald" / "state.json").read_text())["ports"]["s7"]
            converge, restart, saved, others_restarted = [], [], [], 0
            for i in range(1, rounds + 1):
                before = pids(f)
                marker = f'[services.s7]\ncommand = ["{PY}", "app.py"]\nhealth_check = {{ type = "tcp" }}\nenv = {{ ROUND = "'
                body = f.read_text()
                head, _, rest = body.partition(marker)
                value, _, tail = rest.partition('"')
                t0 = time.perf_counter()
                f.write_text(head + marker + f"{i}" + '"' + tail)
                subprocess.run([*cli, "up", "-d", "--no-color"], check=True, capture_output=True, cwd=root)
                converge.append(time.perf_counter() - t0)
                after = pids(f)
                others_restarted += sum(1 for n in before if n != "s7" and after[n] != before[n])
                t0 = time.perf_counter()
                subprocess.run([*cli, "restart", "s7"], check=True, capture_output=True, cwd=root)
                restart.append(time.perf_counter() - t0)
                old = served_pid(port)
                time.sleep(0.5)
                t0 = time.perf_counter()  # the same edit, saved: the supervisor's file watcher converges
                f.write_text(f.read_text().replace(f'ROUND = "{i}"', f'ROUND = "{i}b"'))
                wait_until(lambda: (pid := served_pid(port)) is not None and pid != old, interval=POLL, timeout=30)
                saved.append(time.perf_counter() - t0)
                time.sleep(0.5)
        finally:
            subprocess.run([*LOCALD, "-f", str(f), "down"], capture_output=True, cwd=root)
    c, r, e = statistics.median(converge), statistics.median(restart), statistics.median(saved)
    print(f"converge: `up -d` with one of {SERVICES} changed  median {c * 1000:6.0f} ms over {rounds} rounds; "
          f"other services restarted: {others_restarted}")
    print(f"          anchor: `restart` of that one alone    median {r * 1000:6.0f} ms")
    print(f"          ratio {c / r:.2f} (goal <= {GOAL_CONVERGE}: {'met' if c / r <= GOAL_CONVERGE else 'NOT met'})")
    print(f"edit:     save -> new process answering          median {e * 1000:6.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--only", choices=["watch", "converge"])
    args = parser.parse_args()
    if args.only != "converge":
        bench_watch(args.rounds)
    if args.only != "watch":
        bench_converge(args.rounds)


if __name__ == "__main__":
    main()
