"""Security of a running stack (issue 8, items 5 and 6): the control channel serves only its owner and
cannot be exhausted, and everything under .locald/ (which holds passwords) is private.

The other user is real: created for the test with useradd (removed even when the test fails), and a
forked child drops to its uid/gid (it could not exec root's interpreter). Projects live in a directory
everyone may traverse, so only .locald/'s own bits stand between that user and the secrets.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from locald.config import load_project
from locald.errors import LocaldError
from locald.runtime import control, status as stack_inspect  # imported now: the child runs what is loaded

from stack import Stack, wait_until

PY = sys.executable
SECRET = "s3cret-do-not-share"
SERVER = f"{PY} -m http.server $PORT --bind 127.0.0.1"
PROCESS_STACK = f"""
    [services.web]
    command = "echo starting with $DB_PASSWORD; exec {SERVER}"
    env = {{ DB_PASSWORD = "{SECRET}" }}
"""
MIB = 1024 * 1024


# --- fixtures and helpers ----------------------------------------------------------------------------

@pytest.fixture
def stranger():
    """A throwaway OS user: (uid, gid)."""
    name = f"lt{uuid.uuid4().hex[:10]}"
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True,
                   capture_output=True)
    try:
        entry = pwd.getpwnam(name)
        yield entry.pw_uid, entry.pw_gid
    finally:
        subprocess.run(["userdel", name], capture_output=True)


@pytest.fixture
def open_dir():
    """A directory any user may enter (pytest's tmp_path is 0700, which would hide .locald by itself)."""
    path = Path(tempfile.mkdtemp(prefix="locald-sec-", dir="/tmp"))
    path.chmod(0o755)
    stacks: list[Stack] = []

    def make(toml: str, engine: bool = False) -> Stack:
        root = path / f"p{len(stacks)}"
        root.mkdir(mode=0o755)
        stack = Stack.write(root, toml)
        stack.file.chmod(0o644)
        stacks.append((stack, engine))
        return stack

    try:
        yield make
    finally:
        for stack, engine in stacks:
            stack.cleanup(engine=engine)
        shutil.rmtree(path, ignore_errors=True)


def up_detached(stack: Stack, umask: int = 0o022) -> None:
    """`locald up -d` run under the given umask (inherited by the supervisor it starts)."""
    proc = subprocess.run([PY, "-m", "locald", "-f", str(stack.file), "up", "-d"], cwd=stack.root,
                          capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL,
                          preexec_fn=lambda: os.umask(umask))
    log = stack.state_dir / "supervisor.log"
    assert proc.returncode == 0, proc.stdout + proc.stderr + (log.read_text() if log.exists() else "")


def as_user(uid: int, gid: int, fn):
    """fn() in a forked child running as uid/gid; returns its JSON-able result."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            out = json.dumps({"result": fn()}).encode()
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, which fails the test
            out = json.dumps({"crash": repr(exc)}).encode()
        try:
            with os.fdopen(write_end, "wb") as fh:
                fh.write(out)
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as fh:
        data = fh.read()
    os.waitpid(pid, 0)
    reply = json.loads(data)
    assert "crash" not in reply, reply["crash"]
    return reply["result"]


def outcome(action) -> str:
    """What happened, in a word: the exception's class name, or 'ok'."""
    try:
        action()
    except LocaldError as exc:
        return f"LocaldError: {exc}"
    except Exception as exc:  # noqa: BLE001
        return type(exc).__name__
    return "ok"


def control_addresses(pid: int) -> list[str]:
    """The abstract Unix names the process listens on, found from outside (/proc), so the test does not
    depend on how the CLI discovers the address."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    names = []
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        parts = line.split()
        listening = len(parts) >= 8 and int(parts[3], 16) & 0x10000
        if listening and parts[6] in inodes and parts[7].startswith("@locald"):
            names.append("\0" + parts[7][1:])
    return names


def the_address(stack: Stack) -> str:
    addresses = wait_until(lambda: control_addresses(stack.supervisor_pid()), what="the control socket")
    assert len(addresses) == 1, addresses
    return addresses[0]


def connect(address: str, timeout: float = 10) -> socket.socket:
    """A connected client socket; a full listen backlog (EAGAIN on Unix sockets) is retried."""
    deadline = time.monotonic() + timeout
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(address)
            return sock
        except BlockingIOError:
            sock.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def ask(address: str, payload: bytes, timeout: float = 10) -> bytes:
    """Send raw bytes, return everything the server sends back before closing."""
    with connect(address, timeout) as sock:
        sock.sendall(payload)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        return data


def private_modes(state_dir: Path) -> dict[str, str]:
    """Every entry under state_dir whose mode is not 0700 (dirs) / 0600 (files), with its mode."""
    wrong = {}
    for path in [state_dir, *state_dir.rglob("*")]:
        mode = path.lstat().st_mode
        want = 0o700 if stat.S_ISDIR(mode) else 0o600
        if not stat.S_ISLNK(mode) and stat.S_IMODE(mode) != want:
            wrong[str(path.relative_to(state_dir.parent))] = oct(stat.S_IMODE(mode))
    return wrong


def threads_of(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


# --- item 5 and 6 with a second user -------------------------------------------------------------------

def test_another_user_can_neither_control_nor_read_a_running_stack(open_dir, stranger, engine):
    stack = open_dir(f"""
        [services.cache]
        image = "redis:7"
        env = {{ REDIS_PASSWORD = "{SECRET}" }}

        [services.web]
        command = "echo starting with $DB_PASSWORD; exec {SERVER}"
        env = {{ DB_PASSWORD = "{SECRET}", CACHE = "${{services.cache.url}}" }}
        depends_on = ["cache"]
    """, engine=True)
    up_detached(stack)
    stack.wait_log("web", SECRET)
    state_dir = stack.state_dir
    files = sorted(str(p) for p in state_dir.rglob("*") if p.is_file())
    assert {"state.json", "compose.yaml", "ports.json", "supervisor.log"} <= {Path(f).name for f in files}
    assert any(SECRET in Path(f).read_text(errors="replace") for f in files), "the test needs secrets at rest"
    address = the_address(stack)
    project = load_project(stack.file)

    def stranger_tries() -> dict:
        seen = {"listdir": outcome(lambda: os.listdir(state_dir)),
                "files": {f: outcome(lambda f=f: open(f, "rb").read(1)) for f in files},
                "request": outcome(lambda: control.request(state_dir, {"action": "status"}, timeout=10)),
                "status": outcome(lambda: stack_inspect.stack_status(project))}
        try:  # straight to the socket, with a well-formed request
            seen["socket"] = ask(address, json.dumps({"action": "status"}).encode() + b"\n").decode(errors="replace")
        except OSError as exc:
            seen["socket"] = type(exc).__name__
        return seen

    seen = as_user(*stranger, stranger_tries)
    assert seen["listdir"] == "PermissionError"
    assert set(seen["files"].values()) == {"PermissionError"}, seen["files"]
    assert seen["socket"] in ("", "ConnectionResetError", "BrokenPipeError"), \
        f"the supervisor answered another user: {seen['socket'][:300]}"
    assert "another user" in seen["request"] and "run locald as that user" in seen["request"], seen["request"]
    assert seen["status"].startswith("LocaldError") and "another user" in seen["status"], seen["status"]

    # The owner still can, through the CLI and straight on the socket.
    assert stack.status()["web"]["pid"], "status came from the running supervisor"
    assert "services" in control.request(state_dir, {"action": "status"}, timeout=10)
    assert b'"services"' in ask(address, b'{"action": "status"}\n')
    assert private_modes(state_dir) == {}
    stack.locald("down", check=True)
    stack.assert_nothing_left(engine=True)


def test_state_dir_is_private_even_after_a_loose_older_run_and_with_umask_0(open_dir):
    stack = open_dir(PROCESS_STACK)
    old = stack.state_dir
    (old / "logs").mkdir(parents=True)
    old.chmod(0o755)
    (old / "logs").chmod(0o755)
    for name in ("state.json", "ports.json", "supervisor.log", "logs/web.log", "logs/gone.log"):
        (old / name).write_text("{}")
        (old / name).chmod(0o644)
    up_detached(stack, umask=0)
    stack.wait_log("web", SECRET)
    assert private_modes(stack.state_dir) == {}
    stack.locald("down", check=True)
    assert private_modes(stack.state_dir) == {}, "files written while stopping are private too"


# --- item 5: bounded and quiet -----------------------------------------------------------------------

def test_a_huge_request_is_refused_without_growing_the_supervisor(stack_factory):
    stack = stack_factory(PROCESS_STACK)
    stack.locald("up", "-d", check=True)
    pid, address = stack.supervisor_pid(), the_address(stack)
    before = rss_kib(pid)
    sent, reply = 0, b""
    with connect(address) as sock:
        chunk = b"x" * 65536
        try:
            while sent < 32 * MIB:
                sent += sock.send(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            while data := sock.recv(65536):
                reply += data
        except (ConnectionResetError, socket.timeout):
            pass
    assert sent < 32 * MIB, "the supervisor kept reading a request without end"
    assert b"larger than" in reply, reply[:200]
    assert rss_kib(pid) - before < 16 * 1024
    assert stack.status()["web"]["pid"], "still serving"
    stack.locald("down", check=True)


def test_idle_connections_neither_spawn_threads_nor_block_status(stack_factory):
    stack = stack_factory(PROCESS_STACK)
    stack.locald("up", "-d", check=True)
    pid, address = stack.supervisor_pid(), the_address(stack)
    before = threads_of(pid)
    idle = [connect(address) for _ in range(500)]
    try:
        rows = json.loads(stack.locald("status", "--json", check=True, timeout=60).stdout)
        assert {r["name"]: r for r in rows}["web"]["pid"], "status came from the running supervisor"
        assert "services" in control.request(stack.state_dir, {"action": "status"}, timeout=10)
        assert threads_of(pid) - before < 20, f"{threads_of(pid) - before} more threads for 500 idle connections"
    finally:
        for sock in idle:
            sock.close()
    stack.locald("down", check=True)


def test_clients_that_go_away_leave_no_traceback(stack_factory):
    stack = stack_factory(PROCESS_STACK)
    stack.locald("up", "-d", check=True)
    address = the_address(stack)
    for _ in range(5):
        with connect(address) as sock:  # half a request, then gone
            sock.sendall(b'{"action": "sta')
        with connect(address) as sock:  # a whole request, gone before the answer
            sock.sendall(b'{"action": "status"}\n')
        with connect(address):  # nothing at all
            pass
    assert stack.status()["web"]["pid"], "still serving"
    stack.locald("down", check=True)
    log = (stack.state_dir / "supervisor.log").read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]


def test_garbage_gets_an_error_reply(stack_factory):
    stack = stack_factory(PROCESS_STACK)
    stack.locald("up", "-d", check=True)
    address = the_address(stack)
    for garbage in (b"not json\n", b"\xff\xfe\x00\n", b"[1, 2]\n", b"[" * 60000 + b"\n"):
        reply = ask(address, garbage)
        assert reply.startswith(b'{"error": "bad request'), (garbage[:20], reply)
    assert b"unknown request" in ask(address, b'{"action": "format-disk"}\n')
    assert stack.status()["web"]["pid"], "still serving"
    stack.locald("down", check=True)
    log = (stack.state_dir / "supervisor.log").read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]


def test_the_client_says_clearly_when_nothing_listens(stack_factory):
    stack = stack_factory(PROCESS_STACK)
    with pytest.raises(LocaldError, match="not running"):
        control.request(stack.state_dir, {"action": "status"})
    stack.locald("up", "-d", check=True)
    pid = stack.supervisor_pid()
    os.kill(pid, 9)  # a crashed supervisor leaves its address behind: still "not running", no traceback
    wait_until(lambda: not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower(),
               what="the supervisor to die")
    result = stack.locald("restart", "web")
    assert result.returncode == 1 and "not running" in result.stderr and "Traceback" not in result.stderr, result.stderr
