"""Named-URL proxy cost: the locald proxy next to direct access and to Caddy's `reverse_proxy` (the
anchor), in one run, on the same backends, medians of --rounds rounds (subjects alternate).

Backends
  fast     Caddy answering "hello" (and serving a 100 MB file), the trivial fast server
  devsrv   `python3 -m http.server` on a small file, a typical development server
Subjects
  direct   wrk straight at the backend
  caddy    Caddy 2 `reverse_proxy` in front of it (Debian package `caddy`)
  locald   the locald proxy (a real proxy process, the route registered as `locald up` does)
Measures: requests/s and p50/p99 latency with wrk at 1 and 50 connections; a 100 MB download (curl).
Goals (issue 10): locald ≥ 50 % of Caddy's requests/s at 50 connections, ≤ 0.5 ms added p50 at 1
connection, ≥ 90 % of direct requests/s in front of the dev server, ≥ 80 % of Caddy's download speed.

Needs wrk and caddy (apt-get install wrk caddy). The machine has 2 cores: wrk, the proxy and the
backend share them, as they would on a developer's laptop running its stack.

Run: .venv/bin/python bench/bench_proxy.py [--rounds 3] [--duration 5]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from locald.plan import free_port  # noqa: E402

HOST = "shop.localhost"  # what direct and Caddy requests carry (they ignore it)
BIG = 100 * 1024 * 1024


def wait_port(port: int, timeout: float = 15) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def caddy(config: str, workdir: Path) -> subprocess.Popen:
    path = workdir / f"Caddyfile-{free_port()}"
    path.write_text("{\n  admin off\n  auto_https off\n}\n" + config)
    env = {**os.environ, "XDG_DATA_HOME": str(workdir), "XDG_CONFIG_HOME": str(workdir), "HOME": str(workdir)}
    return subprocess.Popen(["caddy", "run", "--adapter", "caddyfile", "--config", str(path)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def wrk(port: int, host: str, connections: int, seconds: float) -> dict[str, float]:
    argv = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{int(seconds)}s", "--latency",
            "-H", f"Host: {host}", f"http://127.0.0.1:{port}/"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {}
    for pct in ("50", "99"):
        value, unit = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        lat[pct] = float(value) * _UNITS[unit]
    # an overloaded backend (http.server listens with a backlog of 5) drops connections: some requests
    # time out (wrk gives up after 2 s) or fail
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    timeouts = re.search(r"Socket errors:.* timeout (\d+)", out)
    return {"rps": rps, "p50": lat["50"], "p99": lat["99"], "non2xx": int(bad.group(1)) if bad else 0,
            "timeouts": int(timeouts.group(1)) if timeouts else 0}


def download(port: int, host: str) -> float:
    """MB/s of one 100 MB download."""
    out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-H", f"Host: {host}", "-w", "%{speed_download} %{size_download}",
                          f"http://127.0.0.1:{port}/big"], capture_output=True, text=True, check=True).stdout
    speed, size = out.split()
    assert int(size) == BIG, out
    return float(speed) / 1e6


class Setup:
    """Backends and proxies, all on loopback; everything stops at the end."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.procs: list[subprocess.Popen] = []
        www = workdir / "www"
        www.mkdir()
        (www / "index.html").write_text("<!doctype html><title>dev</title><p>hello from a dev server</p>\n" * 4)
        with open(www / "big", "wb") as fh:
            fh.truncate(BIG)
        self.fast = free_port()
        self.procs.append(caddy(f"http://:{self.fast} {{\n  bind 127.0.0.1\n  handle /big {{\n    root * {www}\n"
                                f"    file_server\n  }}\n  handle {{\n    respond \"hello\" 200\n  }}\n}}\n", workdir))
        self.devsrv = free_port()
        self.procs.append(subprocess.Popen([sys.executable, "-m", "http.server", str(self.devsrv), "--bind", "127.0.0.1"],
                                           cwd=www, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        self.caddy_ports = {}
        for name, backend in (("fast", self.fast), ("devsrv", self.devsrv)):
            port = free_port()
            self.procs.append(caddy(f"http://:{port} {{\n  bind 127.0.0.1\n  reverse_proxy 127.0.0.1:{backend}\n}}\n",
                                    workdir))
            self.caddy_ports[name] = port
        for port in (self.fast, self.devsrv, *self.caddy_ports.values()):
            wait_port(port)
        self.registrations = self._locald_proxy()

    def _locald_proxy(self) -> list:
        """The locald proxy: private directories and port, one route per backend, as a supervisor registers."""
        for var in ("XDG_RUNTIME_DIR", "XDG_STATE_HOME", "XDG_CONFIG_HOME"):
            os.environ[var] = str(self.workdir / var.lower())
        self.locald_port = free_port()
        os.environ["LOCALD_HTTP_PORT"] = str(self.locald_port)
        os.environ["LOCALD_HTTPS_PORT"] = str(free_port())
        from locald.proxy.client import Registration
        from locald.proxy.routes import Route

        regs = []
        for name, backend in (("fast", self.fast), ("devsrv", self.devsrv)):
            reg = Registration(name, self.workdir / name)
            reg.open()
            reg.claim([Route(f"{name}.localhost", "web", backend, state="ready")])
            regs.append(reg)
        return regs

    def port(self, subject: str, backend: str) -> tuple[int, str]:
        """(port, Host header) wrk uses for this subject and backend."""
        if subject == "direct":
            return (self.fast if backend == "fast" else self.devsrv), HOST
        if subject == "caddy":
            return self.caddy_ports[backend], HOST
        return self.locald_port, f"{backend}.localhost"

    def close(self) -> None:
        for reg in self.registrations:
            reg.close()
        for proc in self.procs:
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    args = parser.parse_args()
    for tool in ("wrk", "caddy", "curl"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is missing: apt-get install wrk caddy curl")
    subjects = ("direct", "caddy", "locald")
    results: dict[tuple, list[dict]] = {}
    speeds: dict[str, list[float]] = {s: [] for s in subjects}
    with tempfile.TemporaryDirectory(prefix="bench-proxy-") as tmp:
        setup = Setup(Path(tmp))
        try:
            for _ in range(args.rounds):
                for backend in ("fast", "devsrv"):
                    for conns in (1, 50):
                        for subject in subjects:
                            target = setup.port(subject, backend)
                            wrk(*target, conns, 1)  # warm-up: pools filled, caches hot
                            results.setdefault((backend, conns, subject), []).append(
                                wrk(*target, conns, args.duration))
                for subject in subjects:
                    speeds[subject].append(download(*setup.port(subject, "fast")))
        finally:
            setup.close()

    def med(key, field):
        return statistics.median(r[field] for r in results[key])

    print(f"bench_proxy: medians of {args.rounds} rounds, wrk {args.duration:g}s per run")
    print(f"{'backend':8} {'conns':>5} {'subject':8} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>7} {'t/o':>5}  ratios")
    for backend in ("fast", "devsrv"):
        for conns in (1, 50):
            direct = med((backend, conns, "direct"), "rps")
            caddy_rps = med((backend, conns, "caddy"), "rps")
            for subject in subjects:
                key = (backend, conns, subject)
                rps, p50, p99 = med(key, "rps"), med(key, "p50"), med(key, "p99")
                bad, slow = (sum(r[k] for r in results[key]) for k in ("non2xx", "timeouts"))
                ratio = f"{rps / direct:5.0%} of direct"
                if subject == "locald":
                    ratio += f", {rps / caddy_rps:5.0%} of caddy"
                if subject != "direct":
                    ratio += f", +{p50 - med((backend, conns, 'direct'), 'p50'):.2f} ms p50"
                print(f"{backend:8} {conns:5} {subject:8} {rps:9.0f} {p50:8.2f} {p99:8.2f} {bad:7} {slow:5}  {ratio}")
    mbs = {s: statistics.median(v) for s, v in speeds.items()}
    print("100 MB download: " + ", ".join(f"{s} {v:.0f} MB/s" for s, v in mbs.items())
          + f"  (locald {mbs['locald'] / mbs['caddy']:.0%} of caddy, {mbs['locald'] / mbs['direct']:.0%} of direct)")
    locald50, caddy50 = med(("fast", 50, "locald"), "rps"), med(("fast", 50, "caddy"), "rps")
    added = med(("fast", 1, "locald"), "p50") - med(("fast", 1, "direct"), "p50")
    dev = med(("devsrv", 50, "locald"), "rps") / med(("devsrv", 50, "direct"), "rps")
    print("goals: "
          f"req/s at 50 vs caddy {locald50 / caddy50:.0%} (≥ 50 %); added p50 at 1 {added:.2f} ms (≤ 0.5); "
          f"dev server at 50 {dev:.0%} of direct (≥ 90 %); download {mbs['locald'] / mbs['caddy']:.0%} of caddy (≥ 80 %)")


if __name__ == "__main__":
    main()
