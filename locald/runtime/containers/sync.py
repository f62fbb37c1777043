"""`watch` sync: changed files into a running container, as Compose's watch does it — what is gone
here is removed there (`rm -rf` run inside the container), the rest travels as one tar archive that
the engine unpacks at `/` (`docker cp -a -`: the engine's archive API, so the image needs no `tar`;
`-a` keeps the files' owner, as Compose does). Missing parent directories are created by the engine.
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from typing import Iterable, Protocol

from . import engine
from .errors import ContainerError

DELETE_CHUNK = 500  # paths per `rm -rf`, well below any argv limit
SYNC_TIMEOUT = 120.0


class Change(Protocol):
    path: os.PathLike  # on this machine; gone: delete the target
    target: str  # absolute, inside the container


def sync(owner: engine.Owner, service: str, changes: Iterable[Change]) -> None:
    changes = list(changes)
    ids = [r.id for r in engine.containers(owner) if r.service == service and r.state == "running"]
    if not ids:
        raise ContainerError(f"container service '{service}' has no running container to sync into")
    gone = [c.target for c in changes if not os.path.lexists(c.path)]
    archive = _archive([c for c in changes if os.path.lexists(c.path)])
    for container in ids:
        for i in range(0, len(gone), DELETE_CHUNK):
            _docker(["exec", container, "rm", "-rf", "--", *gone[i:i + DELETE_CHUNK]], service, "delete")
        if archive is not None:
            _docker(["cp", "-a", "-", f"{container}:/"], service, "copy", archive)


def _archive(changes: list[Change]) -> bytes | None:
    """One tar of the files (directories and links as themselves), each named by its target."""
    if not changes:
        return None
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for change in changes:
            try:
                tar.add(os.fspath(change.path), arcname=change.target.lstrip("/"), recursive=False)
            except FileNotFoundError:
                continue  # gone since it changed: the next batch deletes it
    return buffer.getvalue()


def _docker(args: list[str], service: str, what: str, data: bytes | None = None) -> None:
    try:
        proc = subprocess.run([engine.docker(), *args], input=data, capture_output=True, timeout=SYNC_TIMEOUT,
                              stdin=None if data is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ContainerError(f"syncing into '{service}' did not finish within {SYNC_TIMEOUT:g}s") from None
    if proc.returncode != 0:
        detail = proc.stderr.decode(errors="replace").strip().splitlines()
        raise ContainerError(f"could not {what} files in container service '{service}': "
                             + (detail[-1] if detail else f"docker exited with {proc.returncode}"))
