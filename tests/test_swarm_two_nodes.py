"""`locald deploy swarm` on a two-node swarm: the order example spread over a manager and a worker
(tests/swarm_cluster.py builds them from two engines in network namespaces; the shared engine only
lends its images), placed with `compose = { deploy = { placement = … } }`.

The services record their order in a host directory bind-mounted on both nodes (both engines see this
machine's filesystem; a named volume would exist on one node only), and the swarm's task timestamps
come from one manager.
"""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request

import pytest

from conftest import run_locald
from locald.swarm import cluster
from stack import wait_until
from swarm_cluster import two_node_swarm
from swarm_support import JOB_STACK, NEVER, assert_ran_in_order, instant, order_stack

IMAGES = ["redis:7", "debian:bookworm-slim"]
PORT, STORE_PORT = 8080, 6379  # each node has its own network namespace: no clash with the machine's ports


@pytest.fixture(scope="module")
def two_nodes(engine):
    with two_node_swarm(IMAGES) as swarm:
        yield swarm


def placed(service: str, node: str) -> str:
    return f'\n[services.{service}.compose.deploy.placement]\nconstraints = ["node.hostname=={node}"]\n'


def on_cluster(swarm, stack):
    """`locald -f STACK …` run against the cluster's manager."""
    return lambda *args: run_locald("-f", str(stack.file), *args, cwd=stack.root, timeout=300, env=swarm.env(),
                                    stdin=subprocess.DEVNULL)


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


def test_deploy_across_two_nodes_keeps_the_order_and_down_leaves_nothing(two_nodes, stack_factory, tmp_path,
                                                                          monkeypatch):
    manager, worker = two_nodes.nodes
    monkeypatch.setenv("DOCKER_HOST", manager.host)  # for the in-process questions to the swarm below
    shared = tmp_path / "shared"
    shared.mkdir()
    stack = stack_factory(order_stack(PORT, STORE_PORT, shared=str(shared)) + placed("store", manager.name)
                          + placed("migrate", worker.name) + placed("app", worker.name))

    locald = on_cluster(two_nodes, stack)

    try:
        result = locald("deploy", "swarm", *NEVER)
        assert result.returncode == 0, result.stderr
        for line in ("[1/3] store: healthy", "[2/3] migrate: completed", "[3/3] app: healthy"):
            assert line in result.stderr

        # Each service ran where it was placed, once, and nothing failed.
        services = cluster.services(stack.name)
        names = cluster.node_names([t.node_id for s in services.values() for t in s.tasks])
        assert {n: [(names[t.node_id], t.state) for t in s.tasks] for n, s in services.items()} == {
            "store": [(manager.name, "running")], "migrate": [(worker.name, "complete")],
            "app": [(worker.name, "running")]}

        # Order across the nodes, from inside (one clock: one machine) and from the manager's task times.
        assert_ran_in_order(shared)
        store, migrate, app = (services[n].tasks[0] for n in ("store", "migrate", "app"))
        assert instant(store.updated) < instant(migrate.created)
        assert instant(migrate.updated) < instant(app.created)

        # Host mode: the app answers on its node's address, and only there.
        assert get(f"http://{worker.address}:{PORT}/").startswith("migrated at ")
        with pytest.raises(urllib.error.URLError):
            get(f"http://{manager.address}:{PORT}/")

        # Service to service by name, across the nodes (the app on the worker, the store on the manager):
        # DNS round-robin endpoints need no IPVS, which this kernel lacks (a virtual IP never answers).
        [app_container] = worker.docker("ps", "-q", "--filter", f"label=com.docker.swarm.service.name={stack.name}_app"
                                        ).split()
        ping = ('my $s = IO::Socket::INET->new(PeerAddr => "store:6379", Timeout => 5) or die "$@\\n";'
                'print $s "PING\\r\\n"; print scalar <$s>;')
        assert worker.docker("exec", app_container, "perl", "-MIO::Socket::INET", "-e", ping).strip() == "+PONG"

        rows = {r["name"]: r for r in json.loads(locald("status", "--swarm", "--json").stdout)["services"]}
        assert {n: (r["status"], r["node"]) for n, r in rows.items()} == {
            "store": ("running", manager.name), "migrate": ("complete", worker.name), "app": ("running", worker.name)}

        removed = locald("down", "--swarm")
        assert removed.returncode == 0, removed.stderr
        assert f"removed stack {stack.name}" in removed.stdout
        assert cluster.leftovers(stack.name) == {"services": [], "networks": [], "containers": []}
        assert cluster.orphan_tasks(stack.name) == []
        # `down` waits for the containers of the node it talks to; the worker removes its own a moment
        # later (measured: ~2 s after `down` returned), and no manager API lists them.
        wait_until(lambda: stack_containers(worker, stack.name) == [], timeout=60, interval=0.5,
                   what="the worker's containers gone")
    finally:
        locald("down", "--swarm")


def stack_containers(node, stack: str) -> list[str]:
    return node.docker("ps", "-aq", "--filter", f"label={cluster.STACK_LABEL}={stack}").split()


def test_down_names_the_node_a_finished_job_left_its_container_on(two_nodes, stack_factory):
    """The swarm leaves a removed job's finished container behind (moby/moby#44312); `down` removes it
    on the node it talks to, and can only name the others."""
    manager, worker = two_nodes.nodes
    stack = stack_factory(JOB_STACK + placed("first", worker.name) + placed("second", manager.name))

    locald = on_cluster(two_nodes, stack)

    try:
        deployed = locald("deploy", "swarm", "--jobs", *NEVER)
        assert deployed.returncode == 0, deployed.stderr
        removed = locald("down", "--swarm")
        assert removed.returncode == 0, removed.stderr
        prune = f"docker container prune --filter label={cluster.STACK_LABEL}={stack.name}"
        assert f"their finished containers stay on {worker.name}: there, `{prune}` removes them" in removed.stderr
        assert manager.name not in removed.stderr
        assert stack_containers(manager, stack.name) == []
        wait_until(lambda: len(stack_containers(worker, stack.name)) == 1, timeout=60, interval=0.5,
                   what="only the job's container left on the worker")
        worker.docker(*prune.split()[1:], "--force")
        assert stack_containers(worker, stack.name) == []
    finally:
        locald("down", "--swarm")
