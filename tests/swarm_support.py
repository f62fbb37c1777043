"""The shared engine as a single-node swarm, for as long as a test module (or a bench) needs it.

The engine is shared by every agent and test run on the machine, so:
- one lock file (flock) in the temp dir: exclusive while a session decides whether to `swarm init`,
  shared while it uses the swarm; the session that can take it exclusively at the end is the last
  user and leaves.
- the swarm we create is marked with a node label; one found without the label belongs to someone
  else: we use it and never leave it. One with the label was left by a run that died: we adopt it.
- `docker swarm leave` keeps the docker_gwbridge network swarm created; we remove it when it did not
  exist before (and nothing is attached to it).
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import tempfile
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

LOCK = Path(tempfile.gettempdir()) / "locald-test-swarm.lock"
BRIDGE_FILE = LOCK.with_suffix(".gwbridge")  # whether the swarm's maker found docker_gwbridge absent
MARK = "dev.locald.test-swarm"
GWBRIDGE = "docker_gwbridge"
NEVER = ("--resolve-image", "never")  # no registry here: the images are local


def _docker(*args: str, check: bool = True) -> str:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout.strip()


def node_state() -> tuple[str, bool]:
    """(LocalNodeState, is a manager)."""
    out = _docker("info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}")
    state, _, manager = out.partition(" ")
    return state, manager == "true"


def _ours() -> bool:
    return _docker("node", "inspect", "self", "--format", '{{index .Spec.Labels "%s"}}' % MARK, check=False) == "1"


def _has_gwbridge() -> bool:
    return bool(_docker("network", "ls", "-q", "--filter", f"name=^{GWBRIDGE}$"))


def _init() -> bool:
    """Make the engine a swarm, marked as ours. Returns whether docker_gwbridge existed before."""
    had_bridge = _has_gwbridge()
    _docker("swarm", "init", "--advertise-addr", "127.0.0.1")
    try:
        node = _docker("info", "--format", "{{.Swarm.NodeID}}")  # `node update` does not know "self"
        _docker("node", "update", "--label-add", f"{MARK}=1", node)
    except BaseException:
        _leave(not had_bridge)  # an unmarked swarm would look like someone else's forever
        raise
    return had_bridge


def _leave(remove_bridge: bool) -> None:
    _docker("swarm", "leave", "--force", check=False)
    if remove_bridge and _has_gwbridge():
        _docker("network", "rm", GWBRIDGE, check=False)  # refused (and kept) while something uses it


@contextmanager
def swarm_mode():
    """Yield while the engine is a swarm manager; leave afterwards if we (or a dead run of ours) made it."""
    fd = os.open(LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        state, manager = node_state()
        if state == "inactive":
            had_bridge = _init()
            BRIDGE_FILE.write_text("keep" if had_bridge else "remove")
        elif state != "active" or not manager:
            raise RuntimeError(f"the engine's swarm state is {state!r} (manager: {manager}); "
                               "the swarm tests need an inactive engine or a swarm manager")
        fcntl.flock(fd, fcntl.LOCK_SH)  # others may use the same swarm now
        yield
    finally:
        _release(fd)


def _release(fd: int) -> None:
    """Leave when we are the last user (twice: two sessions ending together each see the other)."""
    try:
        for attempt in range(2):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if attempt == 0:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                continue
            _leave_ours()
            return
    finally:
        os.close(fd)


def _leave_ours() -> None:
    state, _ = node_state()
    if state == "active" and _ours():
        _leave(BRIDGE_FILE.exists() and BRIDGE_FILE.read_text() == "remove")
        BRIDGE_FILE.unlink(missing_ok=True)


@contextmanager
def without_swarm():
    """Yield while the engine is no swarm, and no run of ours can make it one (a dead run's is left)."""
    fd = os.open(LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        _leave_ours()
        state, _ = node_state()
        if state != "inactive":
            raise RuntimeError(f"the engine is in a swarm that is not ours (state {state!r}): cannot test without one")
        yield
    finally:
        os.close(fd)


# A one-shot and a service that waits until it completed.
JOB_STACK = '''
[services.first]
image = "debian:bookworm-slim"
command = ["sh", "-c", "sleep 1; echo done"]

[services.second]
image = "debian:bookworm-slim"
command = "sleep 1000"
depends_on = { first = "completed_successfully" }
'''

ORDER_STACK = '''
# A store that must be healthy, a one-shot migration, and an app that needs both. Every service
# records when it started in what they share at /shared (a volume on one node, or a host directory),
# so the order can be read afterwards (the two-node test also calls the store by name: services reach
# each other through locald's DNS round-robin endpoints, not through a virtual IP, which needs IPVS).
[services.store]
image = "redis:7"
command = ["redis-server", "--save", "", "--appendonly", "no", "--protected-mode", "no"]
port = {store_port}
volumes = ["{shared}:/shared"]
health_check = "redis-cli ping | grep -q PONG && {{ [ -e /shared/store-healthy ] || date +%s.%N > /shared/store-healthy; }}"
restart = "always"

[services.migrate]
image = "debian:bookworm-slim"
command = ["sh", "-c", "date +%s.%N > /shared/migrate-started; until [ -e /shared/store-healthy ]; do sleep 0.2; done; sleep 1; date +%s.%N > /shared/migrated"]
volumes = ["{shared}:/shared"]
depends_on = ["store"]

# Crashes unless the migration ran: `docker stack deploy` alone makes it crash-loop.
[services.app]
image = "debian:bookworm-slim"
command = ["sh", "-c", "date +%s.%N >> /shared/app-started; exec perl -MIO::Socket::INET -e \\"$APP\\""]
env = {{ APP = \'\'\'
-e "/shared/migrated" or die "app: the migration has not run\\n";
my $server = IO::Socket::INET->new(LocalPort => 8080, Listen => 16, ReuseAddr => 1) or die "app: $!\\n";
while (my $client = $server->accept) {{
  while (my $line = <$client>) {{ last if $line =~ /^\\r?$/ }}
  open my $file, "<", "/shared/migrated"; my $when = <$file>;
  print $client "HTTP/1.0 200 OK\\r\\nContent-Type: text/plain\\r\\n\\r\\nmigrated at $when";
  close $client;
}}
\'\'\' }}
volumes = ["{shared}:/shared"]
container_port = 8080
port = {port}
health_check = {{ type = "http", path = "/" }}
restart = "always"
depends_on = {{ store = "healthy", migrate = "completed_successfully" }}
'''


def order_stack(port: int, store_port: int, shared: str = "shared") -> str:
    """The services of the order example, published on these host ports (host mode binds every
    interface: fixed ports would clash with other runs on the machine). shared: what they mount at
    /shared, a named volume (one node) or a host directory (every node of a swarm on this machine)."""
    return ORDER_STACK.format(port=port, store_port=store_port, shared=shared)


def assert_ran_in_order(shared: Path) -> None:
    """What the order example wrote at /shared says: the migration started after the store was healthy,
    the app after it finished, and the app started once (it crashes without the migration)."""
    store_healthy = float((shared / "store-healthy").read_text())
    migrate_started = float((shared / "migrate-started").read_text())
    migrated = float((shared / "migrated").read_text())
    app_starts = [float(x) for x in (shared / "app-started").read_text().split()]
    assert store_healthy < migrate_started < migrated < app_starts[0]
    assert len(app_starts) == 1, "the app crash-looped"


def instant(text: str) -> datetime:
    """The manager's RFC 3339 nanosecond timestamps, to microseconds."""
    head, _, frac = text.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{head}.{(frac + '000000')[:6]}")
