"""`locald trust` really changes the system's trust store (Debian's update-ca-certificates), and
`--uninstall` really takes the CA out: curl without --cacert is the judge."""

from __future__ import annotations

import getpass
import subprocess
from pathlib import Path

from conftest import run_locald
from locald.proxy.client import Registration
from locald.proxy.routes import Route
from proxy_helpers import backends, proxy_env  # noqa: F401  (fixtures)

BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
ANCHORS = Path("/usr/local/share/ca-certificates")


def test_trust_and_uninstall(proxy_env, backends):
    web = backends()
    reg = Registration("shop", Path("/src/shop"))
    reg.open()
    reg.claim([Route("shop.localhost", "web", web.port, state="ready")])
    url = f"https://shop.localhost:{proxy_env.https_port}/echo"
    mine = f"locald-{getpass.getuser()}-"
    try:
        assert subprocess.run(["curl", "-sS", url], capture_output=True).returncode == 60  # not trusted yet
        out = run_locald("trust")
        assert out.returncode == 0, out.stderr
        installed = [p for p in ANCHORS.glob(f"{mine}*.crt") if p.read_bytes() == proxy_env.ca.read_bytes()]
        assert len(installed) == 1 and str(installed[0]) in out.stdout
        assert proxy_env.ca.read_text().strip() in BUNDLE.read_text()
        assert "certutil -d sql:$HOME/.pki/nssdb" in out.stdout and "Firefox" in out.stdout
        got = subprocess.run(["curl", "-sS", url], capture_output=True, text=True)
        assert got.returncode == 0 and '"name": "backend"' in got.stdout

        out = run_locald("trust", "--uninstall")
        assert out.returncode == 0, out.stderr
        assert not installed[0].exists()
        assert proxy_env.ca.read_text().strip() not in BUNDLE.read_text()
        assert subprocess.run(["curl", "-sS", url], capture_output=True).returncode == 60
        again = run_locald("trust", "--uninstall")
        assert again.returncode == 0 and "not in the system's trust store" in again.stdout
    finally:
        reg.close()
        for leftover in ANCHORS.glob(f"{mine}*.crt"):
            if leftover.read_bytes() == proxy_env.ca.read_bytes():
                leftover.unlink()
                subprocess.run(["update-ca-certificates"], capture_output=True)
