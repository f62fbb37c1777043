"""Helper children of the supervisor (`docker events`, `docker compose logs`, image builds and pulls)
die with it, even when it is killed with SIGKILL.

Each helper gets PR_SET_PDEATHSIG(SIGKILL), set in the child between fork and exec: the kernel kills
it the moment its parent dies, with no cooperation from the helper (the docker CLI then closes the
socket its compose plugin watches, and the plugin ends too). Chosen over a watchdog pipe, which only
works for a child that reads it (docker does not) or through one wrapper process per helper.

The kernel's "parent" is the *thread* that forked the child: a helper forked by a short-lived waiter
thread would be killed when that thread ends. So every helper is forked by one thread that lives as
long as the process.
"""

from __future__ import annotations

import ctypes
import functools
import os
import signal
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor

PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)  # resolved in the parent: the child only calls it
_lock = threading.Lock()
_spawner: ThreadPoolExecutor | None = None


def _die_with_parent(parent: int) -> None:
    """preexec_fn, in the child: SIGKILL when the forking thread ends; exit if the parent is already gone."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # it died between fork and prctl: nobody would send the signal
        os._exit(1)


def spawn_helper(argv: list[str], **popen_kwargs) -> subprocess.Popen:
    """subprocess.Popen(argv, **popen_kwargs) for a child that must not outlive this process."""
    global _spawner
    popen = functools.partial(subprocess.Popen, argv, preexec_fn=functools.partial(_die_with_parent, os.getpid()),
                              **popen_kwargs)
    with _lock:
        if _spawner is None:
            _spawner = ThreadPoolExecutor(1, thread_name_prefix="locald-helpers")
        try:
            future = _spawner.submit(popen)
        except RuntimeError:  # the interpreter is shutting down: no long-lived thread any more
            future = None
    return popen() if future is None else future.result()
