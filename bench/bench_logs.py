"""Log throughput: locald's process runner + printer versus `honcho start`, same processes, same pipe.

Two services each print LINES lines; the subject's merged output goes to a pipe that this script
reads (like a terminal or `| less` would). Throughput = service lines received / time from launching
the subject to the last line (what a user waits for, start-up included); the rate from the first to
the last line (start-up excluded) is printed too. Producers stay alive after
printing, because honcho stops everything as soon as one process exits; once every line has arrived
the subject gets SIGINT (Ctrl-C) and its shutdown is not timed. Median of --runs runs per subject.

Workloads: `bulk` (each producer writes its lines in one go: a fast, block-buffered program) and
`per-line` (one write + flush per line: a chatty dev server).

Subjects are just argv lists run in a temp project that holds both a Procfile and a locald.toml:
`subject_commands()` is the one place to change, e.g. to measure the real CLI:
    "locald up": [sys.executable, "-m", "locald", "up", "--no-color"]

Run: .venv/bin/python bench/bench_logs.py [--lines 100000] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

PATTERN = b"| line "  # every service line, in honcho's prefix ("12:00:00 a.1 | line 7") and ours ("a | line 7")

PRODUCERS = {
    "bulk": "import sys, time; sys.stdout.write(''.join('line %d\\n' % i for i in range({n}))); "
            "sys.stdout.flush(); time.sleep(600)",
    "per-line": "import sys, time; w = sys.stdout.write; f = sys.stdout.flush; "
                "[(w('line %d\\n' % i), f()) for i in range({n})]; time.sleep(600)",
}


def subject_commands(project: Path) -> dict[str, list[str]]:
    """What to measure, each run with cwd = the temp project. Change here to measure something else."""
    return {
        "honcho start": [sys.executable, "-m", "honcho", "start", "-f", str(project / "Procfile")],
        "locald runner": [sys.executable, str(Path(__file__).resolve()), "--serve", str(project)],
        "locald up": [sys.executable, "-m", "locald", "-f", str(project / "locald.toml"), "up", "--no-color"],
    }


def write_project(directory: Path, workload: str, lines: int) -> None:
    command = f'{sys.executable} -c "{PRODUCERS[workload].format(n=lines)}"'
    (directory / "Procfile").write_text(f"a: {command}\nb: {command}\n")
    toml = '[project]\nname = "bench-logs"\n\n' + "".join(f"[services.{name}]\ntype = \"worker\"\ncommand = '''{command}'''\nstop_grace_period = 1\n\n"
                   for name in ("a", "b"))
    (directory / "locald.toml").write_text(toml)


def measure(argv: list[str], cwd: Path, expected: int, limit: float = 120.0) -> dict:
    """Run `argv`, read its stdout until `expected` service lines arrived, then Ctrl-C it."""
    launched = time.monotonic()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    timer = threading.Timer(limit, lambda: os.killpg(proc.pid, signal.SIGKILL))
    timer.start()
    fd = proc.stdout.fileno()
    count, tail, first, last = 0, b"", None, None
    try:
        while count < expected:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            data = tail + chunk
            found = data.count(PATTERN)
            if found:
                last = time.monotonic()
                if first is None:
                    first = last
                count += found
            tail = data[-(len(PATTERN) - 1):]
    finally:
        timer.cancel()
        try:
            os.killpg(proc.pid, signal.SIGINT)
        except ProcessLookupError:
            pass
        drain = threading.Thread(target=lambda: proc.stdout.read(), daemon=True)
        drain.start()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # anything the subject left behind
        except (ProcessLookupError, PermissionError):
            pass
    if count < expected or first is None:
        raise RuntimeError(f"{argv[:4]}: got {count} of {expected} lines")
    return {"lines_per_s": count / (last - launched), "streaming": count / max(last - first, 1e-6),
            "startup": first - launched}


def bench(lines: int, runs: int, workloads: list[str]) -> list[dict]:
    results = []
    for workload in workloads:
        with tempfile.TemporaryDirectory(prefix="locald-bench-logs-") as tmp:
            project = Path(tmp)
            write_project(project, workload, lines)
            per_subject: dict[str, list[dict]] = {}
            subjects = subject_commands(project)
            for _ in range(runs):  # interleave subjects so machine noise hits both alike
                for name, argv in subjects.items():
                    per_subject.setdefault(name, []).append(measure(argv, project, 2 * lines))
            row = {"workload": workload}
            for name, samples in per_subject.items():
                row[name] = {k: statistics.median(s[k] for s in samples) for k in samples[0]}
            results.append(row)
    return results


def report(results: list[dict], lines: int, runs: int) -> None:
    names = [k for k in results[0] if k != "workload"]
    base, ours = names[0], names[-1]
    print(f"log throughput: 2 processes x {lines:,} lines, output to a pipe, median of {runs} runs")
    print("  lines/s from launch to last line [lines/s from first to last line; start-up]")
    for row in results:
        cells = "   ".join(f"{n}: {row[n]['lines_per_s']:>9,.0f} [{row[n]['streaming']:>10,.0f}; {row[n]['startup']:.2f}s]"
                           for n in names)
        ratio = row[ours]["lines_per_s"] / row[base]["lines_per_s"]
        print(f"  {row['workload']:<9} {cells}   ratio {ratio:.1f}x (goal >= 3x)")


# --- the measured side: ProcessRunner + Printer, as `locald up` attached runs them ----------------------


def serve(project_dir: Path) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from locald.config import load_project
    from locald.plan import make_plan
    from locald.runtime.output import Printer, open_sinks
    from locald.runtime.processes.runner import ProcessRunner

    project = load_project(project_dir / "locald.toml")
    plan = make_plan(project)
    printer = Printer(sys.stdout)
    sinks = open_sinks({name: plan.state_dir / "logs" for name in project.services}, printer, truncate=True)
    runners = [ProcessRunner(s, plan, sinks[s.name]) for s in project.services.values()]
    done = threading.Event()
    signal.signal(signal.SIGINT, lambda *a: done.set())
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    for r in runners:
        r.start()
    while not done.wait(3600):
        pass
    for r in runners:
        r.stop()
    for s in sinks.values():
        s.close()
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000, help="lines per process")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workload", choices=sorted(PRODUCERS), action="append")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        sys.exit(serve(args.serve))
    report(bench(args.lines, args.runs, args.workload or ["bulk", "per-line"]), args.lines, args.runs)


if __name__ == "__main__":
    main()
