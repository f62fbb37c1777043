"""`watch` on real processes and containers, through the real CLI: a restart goes through the
lifecycle (a new process answers, status is ready again), one save is one restart, ignored files
act on nothing, a sync reaches the running container (deletions too), a rebuild serves the new
image, a failed rebuild leaves the stack running, and `down` leaves nothing behind."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import urllib.request

import psutil
import pytest

from stack import wait_until

PY = sys.executable
APP = """
import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(str(os.getpid()).encode())
    def log_message(self, *args): pass
print("serving", os.getpid(), flush=True)
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"""


class Attached:
    """`locald up` in the foreground, its output collected line by line."""

    def __init__(self, stack):
        self.proc = stack.up_attached()
        self.lines: list[str] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()

    def matching(self, text: str) -> list[str]:
        with self._cond:
            return [line for line in self.lines if text in line]

    def wait_for(self, text: str, count: int = 1, timeout: float = 120) -> list[str]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(found := [line for line in self.lines if text in line]) < count:
                if self.proc.poll() is not None or not self._cond.wait(max(0.0, deadline - time.monotonic())):
                    if time.monotonic() >= deadline or self.proc.poll() is not None:
                        raise AssertionError(f"{text!r} ×{count} never printed:\n" + "\n".join(self.lines))
            return found

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(2)
            self.proc.wait(120)


def log_followers(pid: int) -> list[list[str] | str]:
    """The `docker compose logs --follow` children of a supervisor, and its children nobody waited for."""
    found = []
    for child in psutil.Process(pid).children():  # not recursive: the docker CLI runs the compose plugin as its child
        try:
            found.append("zombie" if child.status() == psutil.STATUS_ZOMBIE else child.cmdline())
        except psutil.Error:  # gone meanwhile (a `docker ps`, a probe)
            pass
    return [argv for argv in found if argv == "zombie" or {"logs", "--follow"} <= set(argv)]


def pid_served(port: int) -> int:
    return int(urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read())


def test_process_restart_through_the_lifecycle(stack_factory):
    s = stack_factory(f"""
        [services.web]
        command = ["{PY}", "src/app.py"]
        watch = {{ paths = "src", ignore = ["*.tmp"] }}
    """)
    (s.root / "src").mkdir()
    (s.root / "src" / "app.py").write_text(APP)
    (s.root / ".gitignore").write_text("*.log\nbuild/\n")
    up = Attached(s)
    try:
        up.wait_for("ready:")
        port = s.status()["web"]["port"]
        first = pid_served(port)
        # One save of ten files: one restart.
        for i in range(10):
            (s.root / "src" / f"m{i}.py").write_text("x = 1\n")
        up.wait_for("watch: web restarted (src/m0.py, src/m1.py, src/m2.py and 7 more)")
        second = pid_served(port)
        assert second != first
        assert s.status()["web"]["status"] in ("healthy", "ready")
        # Ignored by `ignore`, by .gitignore and by default, each in a batch of its own: nothing restarts...
        for name in ("x.tmp", "a.log", "build/out.js", ".app.py.swp", "__pycache__/app.cpython-311.pyc"):
            (s.root / "src" / name).parent.mkdir(exist_ok=True)
            (s.root / "src" / name).write_text("ignored\n")
            time.sleep(0.2)
        # ...so the next restart line names only the file that counts, and it is the second one.
        (s.root / "src" / "app.py").write_text(APP + "\n# edited\n")
        up.wait_for("watch: web restarted", count=2)
        assert up.matching("watch: web restarted")[1].endswith("watch: web restarted (src/app.py)")
        assert pid_served(port) not in (first, second)
        assert len(up.matching("watch:")) == 2, "\n".join(up.lines)
    finally:
        up.stop()
    assert up.proc.returncode == 130 or up.proc.returncode == 0, "\n".join(up.lines)
    s.assert_nothing_left()


def app_stack(stack_factory, watch: str):
    """A project whose `web` serves APP from app.py, watching `watch`."""
    s = stack_factory(f"""
        [services.web]
        command = ["{PY}", "app.py"]
        watch = {watch}
    """)
    (s.root / "app.py").write_text(APP)
    return s


def test_process_that_fails_after_a_watched_restart_is_reported(stack_factory):
    s = app_stack(stack_factory, '["app.py"]')
    up = Attached(s)
    try:
        up.wait_for("ready:")
        (s.root / "app.py").write_text("raise SystemExit(3)\n")
        line = up.wait_for("watch: web not restarted (app.py)")[0]
        assert "exit" in line and "3" in line, line
        (s.root / "app.py").write_text(APP)  # fixed: the next save brings it back, the stack never stopped
        up.wait_for("watch: web restarted (app.py)")
        assert pid_served(s.status()["web"]["port"])
    finally:
        up.stop()
    s.assert_nothing_left()


def test_detached_supervisor_watches_and_down_leaves_nothing(stack_factory):
    s = app_stack(stack_factory, '["*.py"]')
    s.locald("up", "-d", check=True)
    port = s.status()["web"]["port"]
    first = pid_served(port)
    (s.root / "app.py").write_text(APP + "\n# edited\n")
    log = s.state_dir / "supervisor.log"
    wait_until(lambda: "watch: web restarted (app.py)" in log.read_text(), timeout=30, what="the restart line")
    assert pid_served(port) != first
    s.locald("down", check=True)
    s.assert_nothing_left()


DOCKERFILE = """FROM debian:bookworm-slim
COPY version.txt /version.txt
CMD ["sleep", "infinity"]
"""


@pytest.mark.usefixtures("engine")
def test_container_sync_rebuild_and_nothing_left(engine_stack_factory):
    s = engine_stack_factory("""
        [services.box]
        build = "ctx"
        watch = [
          { paths = "src", action = "sync", target = "/app", ignore = ["*.tmp"] },
          { paths = "ctx", action = "rebuild" },
        ]
    """)
    (s.root / "ctx").mkdir()
    (s.root / "ctx" / "Dockerfile").write_text(DOCKERFILE)
    (s.root / "ctx" / "version.txt").write_text("v1\n")
    (s.root / "src").mkdir()

    def in_box(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(["docker", "exec", s.containers()[0], *argv], capture_output=True, text=True)

    up = Attached(s)
    try:
        up.wait_for("ready:")
        first = s.containers()
        # sync: a new file and a new directory with a file arrive; the ignored file does not
        (s.root / "src" / "skip.tmp").write_text("no\n")
        (s.root / "src" / "new.txt").write_text("hello\n")
        (s.root / "src" / "dir").mkdir()
        (s.root / "src" / "dir" / "deep.txt").write_text("deep\n")
        wait_until(lambda: in_box("cat", "/app/new.txt", "/app/dir/deep.txt").stdout == "hello\ndeep\n",
                   timeout=30, what="the synced files in the container")
        assert in_box("test", "-e", "/app/skip.tmp").returncode == 1
        # a deletion propagates
        (s.root / "src" / "new.txt").unlink()
        wait_until(lambda: in_box("test", "-e", "/app/new.txt").returncode == 1, timeout=30,
                   what="the deletion in the container")
        up.wait_for("watch: box synced (src/new.txt deleted)")
        assert s.containers() == first  # a sync restarts nothing
        # rebuild: the new image's content, in a new container
        (s.root / "ctx" / "version.txt").write_text("v2\n")
        up.wait_for("watch: box rebuilt (ctx/version.txt)")
        assert s.containers() != first
        assert in_box("cat", "/version.txt").stdout == "v2\n"
        # the log follower of the removed container went with it (before: one zombie more per rebuild)
        assert len(log_followers(up.proc.pid)) == 1, log_followers(up.proc.pid)
        # a rebuild that fails is reported; the running container stays
        (s.root / "ctx" / "Dockerfile").write_text(DOCKERFILE.replace("COPY", "COPY missing-file"))
        line = up.wait_for("watch: box not rebuilt (ctx/Dockerfile)")[0]
        assert "building the image of 'box' failed" in line, line
        assert in_box("cat", "/version.txt").stdout == "v2\n"
        assert up.proc.poll() is None
    finally:
        up.stop()
    s.assert_nothing_left(engine=True)
