"""User values are data, never code or options (issue 8, item 7): `$` reaches compose escaped in every
field, a health check's path cannot run commands in the container, an image named like an option is
not passed to docker as one. Checked with the real Compose and the real engine."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from locald.compose.fileformat import escape
from locald.compose.translate import http_probe, to_compose
from locald.config import load_project
from locald.errors import LocaldError
from locald.plan import make_plan
from locald.runtime.containers import engine as docker_engine
from locald.runtime.containers import images

from stack import Stack

PY = sys.executable
INJECT = "LOCALD_INJECT"  # set to PWNED in compose's environment: it must never be substituted


def compose_config(doc: dict, where: Path) -> str:
    """What Compose makes of the document, with $LOCALD_INJECT set in its environment."""
    file = where / "compose.yaml"
    file.write_text(yaml.safe_dump(doc, sort_keys=False))
    result = subprocess.run(["docker", "compose", "-f", str(file), "--env-file", os.devnull, "config", "--format",
                             "json"], capture_output=True, text=True, timeout=60, env={**os.environ, INJECT: "PWNED"})
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_dollar_reaches_compose_literally_in_every_field(tmp_path, engine):
    root = tmp_path / f"dir${INJECT}"  # the project's own path is a user value too
    root.mkdir()
    (root / f"app${INJECT}.env").write_text("A=1\n")
    stack = Stack.write(root, f"""
        [services.app]
        image = "redis:7"
        build = {{ context = ".", dockerfile = "Dockerfile${INJECT}", args = {{ V = "${INJECT}" }} }}
        workdir = "/srv/${INJECT}"
        user = "${INJECT}"
        command = "echo ${INJECT}"
        entrypoint = ["sh", "-c", "echo ${INJECT}"]
        env = {{ E = "${INJECT}" }}
        env_file = ["app${INJECT}.env"]
        volumes = ["./d${INJECT}:/data"]
        container_port = 6379
        health_check = {{ type = "http", path = "/h${INJECT}" }}
        compose = {{ labels = {{ note = "${INJECT}" }}, hostname = "h${INJECT}" }}
    """)
    doc = to_compose(make_plan(load_project(stack.file)), engine_api=(1, 41))
    seen = compose_config(doc, tmp_path)
    assert "PWNED" not in seen
    app = json.loads(seen.replace("$$", "$"))["services"]["app"]  # config prints `$` escaped again
    assert app["working_dir"] == f"/srv/${INJECT}" and app["user"] == f"${INJECT}"
    assert app["build"]["dockerfile"] == f"Dockerfile${INJECT}" and app["build"]["context"] == str(root)
    assert app["hostname"] == f"h${INJECT}" and app["labels"]["note"] == f"${INJECT}"
    assert app["volumes"][0]["source"] == f"{root}/d${INJECT}"


def test_http_health_check_path_is_data_not_code(engine):
    """The bash branch of the probe (an image with neither curl nor wget: debian slim) with paths that try
    to break out of every kind of quoting."""
    payloads = ["/x'; touch /tmp/pwned; echo '", '/x"; touch /tmp/pwned; echo "', "/$(touch /tmp/pwned)",
                "/`touch /tmp/pwned`", "/x\\'; touch /tmp/pwned #", "/%s%n\\n$(touch /tmp/pwned)"]
    script = "; ".join(f"({http_probe(8080, p)})" for p in payloads)
    script += "; if [ -e /tmp/pwned ]; then echo INJECTED; else echo CLEAN; fi"
    result = subprocess.run(["docker", "run", "--rm", "--network", "none", "debian:bookworm-slim", "sh", "-c", script],
                            capture_output=True, text=True, timeout=120)
    assert result.stdout.strip().splitlines()[-1] == "CLEAN", result.stdout + result.stderr
    # What compose gets is that script, `$` escaped (compose turns `$$` back into `$`).
    plan = make_plan(load_project(Path(__file__).parent / "golden" / "full.toml"), check_free=False)
    api = plan.project.services["api"]
    hc = dataclasses.replace(api.health_check, path=payloads[0])
    plan.project.services["api"] = dataclasses.replace(api, health_check=hc)
    test = to_compose(plan, engine_api=(1, 41))["services"]["api"]["healthcheck"]["test"]
    assert test == ["CMD-SHELL", escape(http_probe(plan.container_ports["api"], payloads[0]))]


def test_http_probe_without_curl_or_wget_still_checks(tmp_path):
    """The same bash branch, run on the host against a real server: the path arrives as written (encoded
    where a request line needs it), and the status decides."""
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.path)
            self.send_response(200 if self.path.startswith("/ok") else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    bin_dir = tmp_path / "bin"  # only sh and bash: no curl, no wget
    bin_dir.mkdir()
    for tool in ("sh", "bash"):
        (bin_dir / tool).symlink_to(shutil.which(tool))

    def probe(path: str) -> int:
        return subprocess.run(["sh", "-c", http_probe(port, path)], env={"PATH": str(bin_dir)},
                              capture_output=True, timeout=30).returncode

    try:
        assert probe("/ok?a=1&b='x'") == 0
        assert probe("/ok with space\r\nX: y") == 0
        assert probe("/missing") == 1
    finally:
        server.shutdown()
    assert seen[:2] == ["/ok?a=1&b='x'", "/ok%20with%20space%0D%0AX:%20y"]


def test_an_image_named_like_an_option_is_not_an_option(tmp_path, engine):
    """`validate` refuses it at its line; and should one reach the runtime anyway (an adopted compose file
    is Compose's to check), docker gets it after `--`, as a name, never as an option."""
    assert docker_engine.image_info(["--help"]) == {"--help": None}, "`docker image inspect --help` printed its help"
    stack = Stack.write(tmp_path, """
        [services.app]
        image = "redis:7"
    """)
    project = load_project(stack.file)
    app = dataclasses.replace(project.services["app"], image="--help")
    project = dataclasses.replace(project, services={"app": app})
    with pytest.raises(LocaldError, match="invalid reference format"):
        images.prepare(project, ["app"], say=lambda line: None)
    stack.file.write_text(stack.file.read_text().replace('"redis:7"', '"--help"'))
    try:
        up = stack.locald("up", "-d")
        assert up.returncode == 1 and "Traceback" not in up.stdout + up.stderr
        assert "$.services.app.image: the string \"--help\" is not an image reference" in up.stdout + up.stderr
        assert "Usage:" not in up.stdout + up.stderr
    finally:
        stack.cleanup(engine=True)


def test_a_service_named_like_an_option_is_refused():
    plan = make_plan(load_project(Path(__file__).parent / "golden" / "postgres.toml"), check_free=False)
    db = plan.project.services.pop("db")
    plan.project.services["--build"] = dataclasses.replace(db, name="--build")
    with pytest.raises(LocaldError, match="starting with '-'"):
        to_compose(plan)
