"""A two-node Docker Swarm on this one machine, for a test or a bench: two extra engines, each in its own
network namespace, joined over a bridge; the shared engine is never touched (it only lends its images).

    hub netns: bridge br0 ── p1 ── node1 netns (eth1 10.231.X.11, dockerd, manager)
                          ├─ p2 ── node2 netns (eth1 10.231.X.12, dockerd, worker)
                          └─ up0 ── root netns (lswNNNN 10.231.X.1: the test reaches host-mode ports here)

Why a hub namespace and not a bridge in the root one: the shared engine sets the root FORWARD policy to
DROP and br_netfilter passes bridged frames through it, so node-to-node traffic would need a rule there.
Each dockerd runs under `nsenter --net` (not `ip netns exec`, which remounts /sys and hides the cgroup
mounts) and `unshare --uts` (its own hostname, so placement can say `node.hostname==…`); it has its own
data-root, exec-root (so its own managed containerd), socket, pidfile and cgroup parent, and sets up its
iptables inside its namespace only. Root, iproute2 and util-linux (nsenter, unshare) are needed.

Everything is undone on exit, even after a failure: engines stopped, namespaces, links, cgroups,
mounts and the temp dir removed.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator


@dataclass(frozen=True)
class Node:
    name: str  # its hostname, as `docker node ls` and placement constraints see it
    address: str  # on the bridge: its swarm address and where its host-mode ports answer
    host: str  # DOCKER_HOST for its engine

    def docker(self, *args: str, check: bool = True, timeout: float = 120) -> str:
        return _run(["docker", "-H", self.host, *args], check=check, timeout=timeout)


@dataclass(frozen=True)
class Cluster:
    manager: Node
    worker: Node

    @property
    def nodes(self) -> tuple[Node, Node]:
        return self.manager, self.worker

    def env(self) -> dict[str, str]:
        """The environment for a docker CLI (or locald) talking to the manager."""
        return {**os.environ, "DOCKER_HOST": self.manager.host}


def _run(argv: list[str], check: bool = True, timeout: float = 120, **kw) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout.strip()


def _free_subnet() -> int:
    """X of a 10.231.X.0/24 that no interface of the root namespace uses (another run may hold one)."""
    used = _run(["ip", "-o", "-4", "addr", "show"])
    for _ in range(50):
        x = secrets.randbelow(250) + 1
        if f" 10.231.{x}." not in used:
            return x
    raise RuntimeError("no free 10.231.X.0/24 subnet")


@contextmanager
def two_node_swarm(images: list[str]) -> Iterator[Cluster]:
    """Yield a swarm of a manager and a worker, each with `images` (from the shared engine) loaded."""
    tag = "lsw" + secrets.token_hex(2)  # short: interface names have 15 characters at most
    x = _free_subnet()
    with ExitStack() as undo:
        root = Path(tempfile.mkdtemp(prefix=f"{tag}-"))  # short too: a unix socket path has 108 bytes
        undo.callback(shutil.rmtree, root, ignore_errors=True)
        hub = _netns(undo, f"{tag}-hub")
        _run(["ip", "-n", hub, "link", "add", "br0", "type", "bridge"])
        _run(["ip", "-n", hub, "link", "set", "br0", "up"])
        _run(["ip", "link", "add", tag, "type", "veth", "peer", "name", "up0", "netns", hub])
        undo.callback(_run, ["ip", "link", "del", tag], check=False)
        _run(["ip", "addr", "add", f"10.231.{x}.1/24", "dev", tag])
        _run(["ip", "link", "set", tag, "up"])
        _run(["ip", "-n", hub, "link", "set", "up0", "master", "br0", "up"])

        tar = root / "images.tar"
        _run(["docker", "save", "-o", str(tar), *images], timeout=300)
        nodes = []
        for i in (1, 2):
            ns = _netns(undo, f"{tag}-n{i}")
            address = f"10.231.{x}.{10 + i}"
            _run(["ip", "link", "add", "eth1", "netns", ns, "type", "veth", "peer", "name", f"p{i}", "netns", hub])
            _run(["ip", "-n", ns, "addr", "add", f"{address}/24", "dev", "eth1"])
            _run(["ip", "-n", ns, "link", "set", "eth1", "up"])
            _run(["ip", "-n", ns, "link", "set", "lo", "up"])
            _run(["ip", "-n", hub, "link", "set", f"p{i}", "master", "br0", "up"])
            node = _engine(undo, root / f"n{i}", ns, address)
            node.docker("load", "-i", str(tar), timeout=300)
            nodes.append(node)
        tar.unlink()

        manager, worker = nodes
        manager.docker("swarm", "init", "--advertise-addr", manager.address)
        token = manager.docker("swarm", "join-token", "-q", "worker")
        worker.docker("swarm", "join", "--token", token, "--advertise-addr", worker.address,
                      f"{manager.address}:2377")
        _wait(lambda: manager.docker("node", "ls", "--format", "{{.Status}}").split() == ["Ready", "Ready"],
              "both nodes Ready")
        yield Cluster(manager, worker)


def _netns(undo: ExitStack, name: str) -> str:
    _run(["ip", "netns", "add", name])
    undo.callback(_run, ["ip", "netns", "del", name], check=False)  # its links go with it
    return name


def _engine(undo: ExitStack, home: Path, ns: str, address: str) -> Node:
    """A dockerd in the namespace `ns`, its hostname the namespace's name, everything of it under `home`."""
    home.mkdir()
    socket = f"unix://{home}/docker.sock"
    cgroup = f"/{ns}"
    log = open(home / "dockerd.log", "wb")
    undo.callback(log.close)
    proc = subprocess.Popen(
        ["nsenter", f"--net=/run/netns/{ns}", "unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', ns,
         "dockerd", "--data-root", str(home / "data"), "--exec-root", str(home / "exec"),
         "--pidfile", str(home / "docker.pid"), "-H", socket, "--cgroup-parent", cgroup,
         "--storage-driver", "overlay2"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    undo.callback(_cleanup_engine, proc, home, cgroup)
    node = Node(ns, address, socket)
    try:
        _wait(lambda: node.docker("version", "--format", "{{.Server.Version}}", check=False) != "", "dockerd to answer",
              timeout=60, dead=lambda: proc.poll() is not None)
    except RuntimeError as error:
        raise RuntimeError(f"{error}; its log ends:\n{(home / 'dockerd.log').read_text()[-2000:]}") from None
    return node


def _cleanup_engine(proc: subprocess.Popen, home: Path, cgroup: str) -> None:
    """Leave the swarm (its tasks stop), stop dockerd (it stops its containerd), then sweep what a
    killed one would leave: processes and mounts under `home`, its cgroups."""
    if proc.poll() is None:
        _run(["docker", "-H", f"unix://{home}/docker.sock", "swarm", "leave", "--force"], check=False, timeout=60)
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for pid in _pids_using(home):
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
    for mount in sorted(_mounts_under(home), reverse=True):
        _run(["umount", "-l", mount], check=False)
    for directory in sorted(Path("/sys/fs/cgroup").glob(f"*{cgroup}/**/"), key=lambda p: -len(p.parts)):
        try:
            directory.rmdir()
        except OSError:
            pass


def _pids_using(home: Path) -> list[int]:
    """Processes whose command line names `home` (a containerd or shim a killed dockerd left)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if str(home).encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def _mounts_under(home: Path) -> list[str]:
    prefix = str(home) + "/"
    return [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()
            if line.split()[1].startswith(prefix)]


def _wait(ready, what: str, timeout: float = 60, dead=lambda: False) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if dead() or time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}" if not dead() else f"gave up waiting for {what}")
        time.sleep(0.3)
