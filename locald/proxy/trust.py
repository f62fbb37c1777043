"""`locald trust`: the local CA into the system's trust store (and out again), and what to do for
browsers that keep their own store. Debian and Ubuntu read extra roots from ANCHORS (`*.crt`) once
`update-ca-certificates` has run; the privileged steps go through sudo when we are not root (running
all of locald under sudo would trust root's CA instead of this user's)."""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
from pathlib import Path

from ..errors import LocaldError
from .ca import LocalCA

ANCHORS = Path("/usr/local/share/ca-certificates")
NSS_NAME = "locald CA"


def _prefix() -> str:
    return f"locald-{getpass.getuser()}-"


def anchor(ca: LocalCA) -> Path:
    return ANCHORS / f"{_prefix()}{ca.fingerprint[:16]}.crt"


def _run(argv: list[str]) -> None:
    if os.geteuid() != 0:
        if not shutil.which("sudo"):
            raise LocaldError(f"changing the system's trust store needs root: run `{' '.join(argv)}` as root")
        argv = ["sudo", *argv]
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        raise LocaldError(f"`{' '.join(argv)}` failed: {(proc.stderr or proc.stdout).strip()}")


def _check_system() -> None:
    if not shutil.which("update-ca-certificates"):
        raise LocaldError("this system has no update-ca-certificates (Debian/Ubuntu's tool; "
                          "apt-get install ca-certificates): add the CA to its trust store by hand")


def install() -> list[str]:
    """Trust the user's CA (created now if there is none). Lines to show."""
    _check_system()
    ca = LocalCA.load_or_create()
    target = anchor(ca)
    _run(["install", "-D", "-m", "0644", str(ca.cert_path), str(target)])
    _run(["update-ca-certificates"])
    return [f"trusted the locald CA: {target} (from {ca.cert_path})",
            "curl, Python, Go and other programs that read the system store now accept https://*.localhost.",
            "Firefox and Chromium keep their own store; to add it there (certutil: apt-get install libnss3-tools):",
            f"  certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n '{NSS_NAME}' -i {ca.cert_path}    # Chromium, Chrome",
            f"  Firefox: Settings → Privacy & Security → Certificates → View Certificates → Authorities → "
            f"Import {ca.cert_path}"]


def uninstall() -> list[str]:
    """Remove every CA of this user that `install` put in the system store. Lines to show."""
    _check_system()
    found = sorted(ANCHORS.glob(f"{_prefix()}*.crt"))
    if not found:
        return ["the locald CA is not in the system's trust store"]
    _run(["rm", "-f", *map(str, found)])
    _run(["update-ca-certificates"])
    return [f"removed {', '.join(map(str, found))} from the system's trust store",
            f"browsers' own stores: certutil -d sql:$HOME/.pki/nssdb -D -n '{NSS_NAME}'; in Firefox, delete "
            "'locald CA' under Settings → Certificates → Authorities"]
