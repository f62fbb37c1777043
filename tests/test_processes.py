"""The host-process supervisor with real processes: env, commands, stop semantics, restarts, waits."""

from __future__ import annotations

import http.client
import os
import signal
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from locald.config.model import Project, build_service
from locald.errors import LocaldError
from locald.plan import make_plan
from locald.runtime.output import LogSink, Printer
from locald.runtime.processes import pgroups
from locald.runtime.processes.launch import process_env
from locald.runtime.processes.runner import TOKEN_VAR, ProcessRunner
from locald.runtime.service_runtime import Cancelled

PY = sys.executable


class Stack:
    """A project in tmp_path and the runners started for it; everything is stopped at the end."""

    def __init__(self, root: Path):
        self.root = root
        self.runners: list[ProcessRunner] = []
        self.spawns: list[tuple[str, int, float]] = []

    def plan(self, services: dict):
        project = Project("t", self.root / "locald.toml",
                          {name: build_service(name, raw) for name, raw in services.items()})
        return make_plan(project)

    def runner(self, raw: dict, name: str = "svc", others: dict | None = None, **attrs) -> ProcessRunner:
        plan = self.plan({name: raw, **(others or {})})
        sink = LogSink(name, plan.state_dir / "logs", None)
        r = ProcessRunner(plan.service(name), plan, sink,
                          on_spawn=lambda n, pid, pgid, st: self.spawns.append((n, pid, time.monotonic())))
        for k, v in attrs.items():
            setattr(r, k, v)
        self.runners.append(r)
        return r

    def log(self, r: ProcessRunner) -> str:
        return r.sink.path.read_text()

    def close(self) -> None:
        for r in self.runners:
            r.stop(grace=0.2)
            r.sink.close()
            assert pgroups.processes_with_env({TOKEN_VAR: r.token}) == [], f"{r.name} left processes behind"


@pytest.fixture
def stack(tmp_path):
    s = Stack(tmp_path)
    yield s
    s.close()


def wait_for_output(r: ProcessRunner, text: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not any(text in line for line in r.sink.last_lines(50)):
        assert time.monotonic() < deadline, f"no {text!r} in {r.sink.last_lines()}"
        time.sleep(0.01)


def wait_done(r: ProcessRunner, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not r.done:
        assert time.monotonic() < deadline, r.status()
        time.sleep(0.01)


# --- environment and commands --------------------------------------------------------------------------


def test_env_layers(stack, tmp_path):
    (tmp_path / ".env").write_text("FROM_DOTENV=dot\nLAYER=dotenv\nexport EXPORTED='a b'\n")
    (tmp_path / "extra.env").write_text("# comment\nLAYER=env_file\nAPI=${services.api.url}\n")
    plan = stack.plan({
        "web": {"command": "x", "env_file": "extra.env", "env": {"LAYER": "env", "DB_PORT": "${services.api.port}"}},
        "api": {"command": "y", "port": 45678},
        "bg": {"type": "worker", "command": "z", "env": {"PYTHONUNBUFFERED": "0"}},
    })
    env = process_env(plan.service("web"), plan, base={"HOME": "/h", "LAYER": "inherited", "PORT": "1"})
    assert env["HOME"] == "/h"
    assert env["FROM_DOTENV"] == "dot" and env["EXPORTED"] == "a b"
    assert env["LAYER"] == "env"
    assert env["API"] == "http://localhost:45678" and env["DB_PORT"] == "45678"
    assert env["PORT"] == str(plan.ports["web"]) and env["PORT"] != "1"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["LOCALD_SERVICE"] == "web" and env["LOCALD_STATE_DIR"] == str(plan.state_dir.resolve())
    worker = process_env(plan.service("bg"), plan, base={})
    assert "PORT" not in worker
    assert worker["PYTHONUNBUFFERED"] == "0"  # the service's own choice wins


def test_missing_env_file_is_a_clear_error(stack):
    plan = stack.plan({"web": {"command": "x", "env_file": ["nope.env"]}})
    with pytest.raises(LocaldError, match="env_file nope.env not found"):
        process_env(plan.service("web"), plan)


def test_string_runs_in_a_shell_and_argv_does_not(stack, tmp_path):
    (tmp_path / "sub").mkdir()
    shell = stack.runner({"type": "worker", "command": "echo port=$PORT svc=$LOCALD_SERVICE; pwd", "workdir": "sub"},
                         name="sh")
    argv = stack.runner({"command": ["echo", "$PORT", "a  b"]}, name="argv")
    exec_port = stack.runner({"command": "echo port=$PORT", "port": 45999}, name="p")
    for r in (shell, argv, exec_port):
        r.start()
        r.wait("completed_successfully", 5)
    assert stack.log(shell).splitlines()[:2] == ["port= svc=sh", str(tmp_path / "sub")]
    assert stack.log(argv).splitlines()[0] == "$PORT a  b"
    assert stack.log(exec_port).splitlines()[0] == "port=45999"


def test_bad_command_or_workdir_fails_at_start(stack):
    missing = stack.runner({"command": ["/no/such/program"]}, name="m")
    with pytest.raises(LocaldError, match="could not start '/no/such/program'"):
        missing.start()
    assert missing.status()["state"] == "failed"
    with pytest.raises(LocaldError, match="workdir nowhere is not a directory"):
        stack.runner({"command": "true", "workdir": "nowhere"}, name="w").start()


# --- stop ----------------------------------------------------------------------------------------------

IGNORES_TERM = [PY, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                "print('ready'); time.sleep(60)"]


def test_stop_kills_after_grace_counted_from_the_signal(stack):
    r = stack.runner({"type": "worker", "command": IGNORES_TERM, "stop_grace_period": "0.6s"})
    r.start()
    wait_for_output(r, "ready")
    pgid = r.status()["pgid"]
    start = time.monotonic()
    r.stop()
    took = time.monotonic() - start
    assert 0.55 <= took < 1.2, took
    assert r.status()["state"] == "stopped" and r.status()["exit_code"] == -signal.SIGKILL
    assert not pgroups.group_alive(pgid)
    assert "did not stop within 0.6s of SIGTERM: killed" in stack.log(r)


def test_stop_signal_reaches_the_whole_group(stack, tmp_path):
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent("""
        import signal, sys, time
        signal.signal(signal.SIGINT, lambda *a: (print("child got INT", flush=True), sys.exit(0)))
        print("child up", flush=True)
        time.sleep(60)
    """))
    # The shell waits for its child; both are in the group and both get SIGINT.
    r = stack.runner({"type": "worker", "command": f"{PY} {script}; echo shell done",
                      "stop_signal": "INT", "stop_grace_period": 5})
    r.start()
    wait_for_output(r, "child up")
    start = time.monotonic()
    r.stop()
    assert time.monotonic() - start < 1.5
    assert "child got INT" in stack.log(r)
    assert r.status()["state"] == "stopped"


def test_escaped_grandchild_holding_the_pipe_does_not_hang_stop(stack):
    cmd = "setsid sleep 30 & echo spawned; sleep 30"
    r = stack.runner({"type": "worker", "command": cmd, "stop_grace_period": 3})
    r.start()
    wait_for_output(r, "spawned")
    time.sleep(0.1)
    escaped = [p for p in pgroups.processes_with_env({TOKEN_VAR: r.token})
               if os.getsid(p) != r.status()["pgid"]]
    assert escaped, "the grandchild should have its own session"
    start = time.monotonic()
    r.stop()
    assert time.monotonic() - start < 1.5  # sleep dies on SIGTERM at once; nothing waits for the pipe
    assert pgroups.processes_with_env({TOKEN_VAR: r.token}) == []


def test_exit_is_seen_while_an_escaped_grandchild_holds_the_pipe(stack):
    r = stack.runner({"type": "worker", "command": "setsid sleep 30 & echo bye; exit 4"})
    r.start()
    start = time.monotonic()
    with pytest.raises(LocaldError, match="exited with code 4"):
        r.wait("completed_successfully", 10)
    assert time.monotonic() - start < 2
    wait_done(r)
    assert r.status()["state"] == "failed"
    r.stop()  # the escaped sleep is swept too
    assert pgroups.processes_with_env({TOKEN_VAR: r.token}) == []


def test_leftovers_in_the_group_are_stopped_when_the_main_process_exits(stack, tmp_path):
    pidfile = tmp_path / "bg.pid"
    r = stack.runner({"type": "worker", "command": f"sleep 30 & echo $! > {pidfile}; exit 0",
                      "stop_grace_period": 1})
    r.start()
    r.wait("completed_successfully", 5)
    wait_done(r)
    bg = int(pidfile.read_text())
    assert not pgroups.is_same_process(bg, None)


def test_stop_is_idempotent_and_prevents_restarts(stack):
    r = stack.runner({"type": "worker", "command": "sleep 30", "restart": "always"})
    r.start()
    r.wait("started", 5)
    threads = [threading.Thread(target=r.stop) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    r.stop()
    time.sleep(0.3)
    status = r.status()
    assert status["state"] == "stopped" and status["pid"] is None and status["restarts"] == 0
    assert len(stack.spawns) == 1


def test_stop_before_start_and_start_after_stop(stack):
    r = stack.runner({"type": "worker", "command": "echo hi; sleep 30"})
    r.stop()
    assert r.status()["state"] == "stopped"
    r.start()
    wait_for_output(r, "hi")
    assert r.status()["state"] == "running"
    r.stop(grace=0.5)
    assert r.status()["state"] == "stopped"


# --- restart policies ----------------------------------------------------------------------------------


def test_on_failure_backs_off_and_gives_up(stack):
    r = stack.runner({"type": "worker", "command": "echo run; exit 1", "restart": "on-failure", "max_restarts": 3},
                     backoff_base=0.1)
    r.start()
    with pytest.raises(LocaldError, match="gave up after 3 restarts|exited with code 1"):
        r.wait("completed_successfully", 10)
    wait_done(r)
    status = r.status()
    assert status["state"] == "crash-looping" and status["restarts"] == 3
    assert "gave up after 3 restarts in a row" in status["message"]
    assert stack.log(r).count("run\n") == 4
    times = [t for _, _, t in stack.spawns]
    gaps = [b - a for a, b in zip(times, times[1:])]
    # 0.1, 0.2, 0.4 s of backoff (plus the run itself, a few ms)
    assert gaps[0] >= 0.09 and gaps[1] >= 0.19 and gaps[2] >= 0.39, gaps
    assert gaps[2] < 1.0, gaps


def test_on_failure_does_not_restart_a_success(stack):
    r = stack.runner({"type": "worker", "command": "exit 0", "restart": "on-failure"})
    r.start()
    r.wait("completed_successfully", 5)
    wait_done(r)
    assert r.status()["state"] == "exited" and r.status()["restarts"] == 0


def test_crash_looping_shows_while_backing_off(stack):
    r = stack.runner({"type": "worker", "command": "exit 2", "restart": "on-failure"}, backoff_base=0.2)
    r.start()
    deadline = time.monotonic() + 5
    while r.status()["state"] != "crash-looping":
        assert time.monotonic() < deadline, r.status()
        time.sleep(0.02)
    assert r.status()["restarts"] >= 2


def test_stable_runs_reset_the_backoff(stack):
    r = stack.runner({"type": "worker", "command": "sleep 0.3; exit 1", "restart": "on-failure", "max_restarts": 1},
                     stable_after=0.2, backoff_base=0.05)
    r.start()
    time.sleep(1.6)
    status = r.status()
    assert status["restarts"] >= 3, status  # more than max_restarts: each run was stable
    assert status["state"] != "crash-looping"


def test_always_restarts_after_success(stack):
    r = stack.runner({"type": "worker", "command": "echo tick", "restart": "always", "max_restarts": 2},
                     backoff_base=0.05)
    r.start()
    r.wait("completed_successfully", 5)  # the first success is enough for a dependent
    wait_done(r)
    assert r.status()["restarts"] == 2
    assert stack.log(r).count("tick\n") == 3


# --- waiting for conditions -------------------------------------------------------------------------------


def test_job_success_and_failure(stack):
    ok = stack.runner({"type": "worker", "command": "echo migrating; sleep 0.2; echo done"}, name="migrate")
    ok.start()
    with pytest.raises(LocaldError):
        ok.wait("completed_successfully", 0.05)  # not yet
    ok.wait("completed_successfully", 5)
    bad = stack.runner({"type": "worker", "command": "echo step 1; echo 'boom: no table' >&2; exit 1"}, name="seed")
    bad.start()
    with pytest.raises(LocaldError) as err:
        bad.wait("completed_successfully", 5)
    text = str(err.value)
    assert "service seed exited with code 1" in text and "boom: no table" in text and "step 1" in text


SERVER = f"{PY} -c \"import time, os; time.sleep(float(os.environ.get('DELAY', '0'))); " \
         "import http.server as h; h.HTTPServer(('127.0.0.1', int(os.environ['PORT'])), " \
         "h.SimpleHTTPRequestHandler).serve_forever()\""


def test_wait_healthy_uses_the_default_tcp_probe(stack):
    r = stack.runner({"command": SERVER, "env": {"DELAY": "0.4"}})
    assert r.has_readiness_check
    r.start()
    start = time.monotonic()
    r.wait("auto", 5)
    took = time.monotonic() - start
    assert 0.35 < took < 0.9, took  # noticed within one fast probe interval of being ready
    assert r.status()["state"] == "healthy" and r.status()["health"] == "healthy"


def test_wait_healthy_http_check(stack, tmp_path):
    """The http check asks for its path: a 404 keeps the service unready, a 2xx makes it healthy."""
    r = stack.runner({"command": SERVER, "workdir": ".", "health_check": {"type": "http", "path": "/ok.txt"}})
    r.start()
    with pytest.raises(LocaldError, match=r"did not answer HTTP 2xx/3xx at http://localhost:\d+/ok.txt .*HTTP 404"):
        r.wait("healthy", 1.0)
    (tmp_path / "ok.txt").write_text("ok")
    r.wait("healthy", 5)
    assert r.status()["health"] == "healthy"


def test_worker_without_check_is_ready_when_started(stack):
    r = stack.runner({"type": "worker", "command": "sleep 30"})
    assert not r.has_readiness_check
    r.start()
    r.wait("auto", 1)
    r.wait("healthy", 1)
    assert r.status()["state"] == "running" and r.status()["health"] is None


def test_timeout_names_what_was_awaited(stack):
    r = stack.runner({"command": "echo compiling; sleep 30"}, name="web")
    r.start()
    start = time.monotonic()
    with pytest.raises(LocaldError) as err:
        r.wait("healthy", 0.5)
    assert 0.45 < time.monotonic() - start < 1.0
    text = str(err.value)
    assert f"service web did not accept TCP connections on port {r.port} within 0.5s" in text
    assert "compiling" in text and "refused" in text.lower()


def test_exit_before_healthy_fails_at_once(stack):
    r = stack.runner({"command": "echo crashed; exit 3"}, name="api")
    r.start()
    start = time.monotonic()
    with pytest.raises(LocaldError, match="service api exited with code 3"):
        r.wait("healthy", 10)
    assert time.monotonic() - start < 1.5


def test_job_with_a_port_hints_at_completed_successfully(stack):
    r = stack.runner({"command": "exit 0"}, name="migrate")
    r.start()
    with pytest.raises(LocaldError, match='condition = "completed_successfully"'):
        r.wait("auto", 5)


def test_command_health_check_with_service_env(stack, tmp_path):
    r = stack.runner({"type": "worker", "command": "sleep 0.3; touch ready; sleep 30",
                      "env": {"FLAG": "ready"}, "health_check": 'test -f "$FLAG"'})
    r.start()
    r.wait("auto", 5)
    assert (tmp_path / "ready").exists()


def test_cancel_stops_a_wait(stack):
    r = stack.runner({"command": "sleep 30"})
    r.start()
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    start = time.monotonic()
    with pytest.raises(Cancelled):
        r.wait("healthy", 10, cancel)
    assert time.monotonic() - start < 0.6


def test_site_serves_its_directory(stack, tmp_path):
    (tmp_path / "public").mkdir()
    (tmp_path / "public" / "index.html").write_text("<h1>hello from locald</h1>")
    r = stack.runner({"type": "site", "path": "public"}, name="docs")
    r.start()
    r.wait("auto", 10)
    conn = http.client.HTTPConnection("127.0.0.1", r.port, timeout=5)
    conn.request("GET", "/index.html")
    response = conn.getresponse()
    assert response.status == 200 and b"hello from locald" in response.read()
    conn.close()


def test_output_reaches_printer_and_callbacks(stack):
    import io

    out = io.StringIO()
    printer = Printer(out)
    plan = stack.plan({"web": {"type": "worker", "command": "printf 'a\\nb'"}})
    exits = []
    sink = LogSink("web", plan.state_dir / "logs", printer)
    r = ProcessRunner(plan.service("web"), plan, sink, on_exit=lambda n, pid, code: exits.append((n, code)))
    stack.runners.append(r)
    r.start()
    r.wait("completed_successfully", 5)
    wait_done(r)
    sink.close()
    assert out.getvalue().splitlines() == ["web    | a", "locald | web exited with code 0", "web    | b"]
    assert exits == [("web", 0)]


def test_idle_supervisor_uses_no_cpu(stack):
    runners = [stack.runner({"type": "worker", "command": "sleep 30"}, name=f"w{i}") for i in range(10)]
    for r in runners:
        r.start()
    time.sleep(0.3)
    before = time.process_time()
    time.sleep(2)
    used = time.process_time() - before
    assert used < 0.02, f"{used:.3f}s of CPU in 2s while idle"
