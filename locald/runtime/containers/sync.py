"""`watch` sync: changed files into a running container, as Compose's watch does it — what is gone
here is removed there (`rm -rf` run inside the container), the rest travels as one tar archive that
the engine unpacks at `/` (`docker cp -a -`: the engine's archive API, so the image needs no `tar`;
`-a` keeps the files' owner, as Compose does), streamed file by file. The engine creates missing
parent directories.
"""

from __future__ import annotations

import os
import subprocess
import tarfile
import threading
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
    present = [c for c in changes if os.path.lexists(c.path)]
    for container in ids:
        for i in range(0, len(gone), DELETE_CHUNK):
            _docker(["exec", container, "rm", "-rf", "--", *gone[i:i + DELETE_CHUNK]], service, "delete")
        if present:
            _docker(["cp", "-a", "-", f"{container}:/"], service, "copy", present)


def _docker(args: list[str], service: str, what: str, archive: list[Change] | None = None) -> None:
    """Run `docker ARGS`; with `archive`, stream a tar of those files (each named by its target) to its
    stdin, file by file: a large file is never held in memory."""
    proc = subprocess.Popen([engine.docker(), *args], stdin=subprocess.PIPE if archive else subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    timer = threading.Timer(SYNC_TIMEOUT, engine.kill_group, args=(proc,))
    timer.start()
    try:
        if archive:
            try:
                with tarfile.open(fileobj=proc.stdin, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                    for change in archive:
                        try:
                            tar.add(os.fspath(change.path), arcname=change.target.lstrip("/"), recursive=False)
                        except FileNotFoundError:
                            continue  # gone since it changed: the next batch deletes it
            except BrokenPipeError:
                pass  # docker gave up early: its stderr says why
            finally:
                _close(proc.stdin)
        detail = proc.stderr.read().decode(errors="replace").strip().splitlines()
        code = proc.wait()
    finally:
        timer.cancel()
    if code < 0:
        raise ContainerError(f"syncing into '{service}' did not finish within {SYNC_TIMEOUT:g}s")
    if code != 0:
        raise ContainerError(f"could not {what} files in container service '{service}': "
                             + (detail[-1] if detail else f"docker exited with {code}"))


def _close(stream) -> None:
    try:
        stream.close()
    except BrokenPipeError:
        pass
