"""What locald starts listens on 127.0.0.1 unless the user writes an address (issue 8, item 8): a `site`
serves its directory on loopback only; `compose = { ports = [...] }` publishes on loopback and keeps
locald's own mapping. Checked on real sockets and the real engine."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from locald.compose.translate import to_compose
from locald.config import load_project
from locald.plan import free_port, make_plan

from stack import Stack, wait_until


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a TCP socket in LISTEN on `port`, from the kernel's tables."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hexport = local.partition(":")
            if state == "0A" and int(hexport, 16) == port:
                found.add(_address(address, width))
    return found


def _address(hexaddr: str, width: int) -> str:
    if width == 8:
        return ".".join(str(b) for b in reversed(bytes.fromhex(hexaddr)))
    words = [bytes.fromhex(hexaddr[i:i + 8])[::-1].hex() for i in range(0, 32, 8)]
    return ":".join("".join(words)[i:i + 4] for i in range(0, 32, 4))


def test_a_site_serves_on_loopback_only(stack_factory):
    stack = stack_factory("""
        [services.docs]
        type = "site"
    """)
    (stack.root / "index.html").write_text("hello")
    stack.locald("up", "-d", check=True)
    port = stack.status()["docs"]["port"]
    addresses = wait_until(lambda: listening_addresses(port), what="the site to listen")
    assert addresses == {"127.0.0.1"}, f"the project directory is served on {addresses}"
    stack.locald("down", check=True)


def test_compose_ports_add_to_locald_mapping_on_loopback(tmp_path):
    stack = Stack.write(tmp_path, """
        [services.cache]
        image = "redis:7"
        container_port = 6379
        port = 16379
        compose = { ports = ["8080:80", "0.0.0.0:9090:90", 7000, { target = 53, published = 5353, protocol = "udp" }] }
    """)
    doc = to_compose(make_plan(load_project(stack.file), check_free=False), engine_api=(1, 41))
    assert doc["services"]["cache"]["ports"] == [
        "127.0.0.1:16379:6379", "127.0.0.1:8080:80", "0.0.0.0:9090:90", "127.0.0.1::7000",
        {"host_ip": "127.0.0.1", "target": 53, "published": 5353, "protocol": "udp"}]


def test_compose_ports_are_published_on_loopback_beside_locald_port(engine_stack_factory):
    extra = free_port()
    stack = engine_stack_factory(f"""
        [services.cache]
        image = "redis:7"
        container_port = 6379
        compose = {{ ports = ["{extra}:6379"] }}
    """)
    stack.locald("up", "-d", check=True)
    [cid] = stack.containers()
    bindings = json.loads(subprocess.run(["docker", "inspect", "--format", "{{json .HostConfig.PortBindings}}", cid],
                                         capture_output=True, text=True, check=True).stdout)["6379/tcp"]
    planned = stack.status()["cache"]["port"]
    assert sorted((b["HostIp"], int(b["HostPort"])) for b in bindings) == sorted(
        [("127.0.0.1", planned), ("127.0.0.1", extra)])
    stack.locald("down", check=True)
    stack.assert_nothing_left(engine=True)
