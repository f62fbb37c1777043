"""Supervising host processes: one ProcessRunner per service.

Each process runs in its own session (so its own process group), spawned by honcho's Popen. We own the
loop instead of honcho's Manager: one thread per service blocks in poll() on the output pipe and on a
pidfd (readable when the child exits) and reaps its child at once, so an idle supervisor uses no CPU, no
child stays a zombie, and a grandchild that keeps the pipe open cannot hide the exit. Stopping (see
stopper.py, which stops many runners in one pass) signals the whole group and every escaped descendant,
and SIGKILLs after the grace period, counted from the signal.
"""

from __future__ import annotations

import fcntl
import os
import select
import signal
import subprocess
import threading
import time
import uuid
from typing import Callable, Mapping

from honcho.process import Popen

from ...config.signals import signal_number
from ...errors import LocaldError
from ..cleanup import PROCESS_MARKER
from ..output import LogSink
from ..service_runtime import COMPLETED, HEALTHY, STARTED, Cancelled, effective_condition
from . import pgroups
from .launch import command_of, process_env, service_cwd
from .probes import STARTING_INTERVAL, Probe, make_probe
from .restart import BACKOFF_BASE, BACKOFF_MAX, STABLE_AFTER, after_exit, describe_exit
from .stopper import stop_runners

TOKEN_VAR = PROCESS_MARKER  # unique per runner: finds this runner's escaped descendants, nobody else's
_F_SETPIPE_SZ = 1031
_PIPE_SIZE = 1 << 20  # fewer wake-ups when a service floods its output
_READ_SIZE = 1 << 18
# A process counts as started once it has run this long (or ended with 0): one that crashes at once,
# say on an import error, fails `up` instead of passing as started. The runner sees an exit at once
# (pidfd), so a second is enough; containers need two (the engine reports exits late).
STARTED_AFTER = 1.0


# --- the runner ------------------------------------------------------------------------------------


class ProcessRunner:
    """Runs one host-process service: spawn, read output, probe readiness, restart by policy, stop.

    States: starting (spawned, readiness not proven yet), running (no readiness check), healthy,
    unhealthy (was healthy, then failed `retries` probes), restarting / crash-looping (waiting out a
    backoff; crash-looping from the second quick restart in a row, and for good once max_restarts is
    spent), exited (code 0), failed, stopping, stopped.
    """

    backoff_base = BACKOFF_BASE
    backoff_max = BACKOFF_MAX
    stable_after = STABLE_AFTER
    drain_limit = 0.3  # after the group is gone, how long to wait for an escaped process to release the pipe
    token_var = TOKEN_VAR

    def __init__(self, service, plan, sink: LogSink, on_spawn: Callable | None = None,
                 on_exit: Callable | None = None, base_env: Mapping[str, str] = os.environ):
        self.service = service
        self.plan = plan
        self.name = service.name
        self.sink = sink
        self.on_spawn = on_spawn  # (name, pid, pgid, start_time): record the group for crash cleanup
        self.on_exit = on_exit  # (name, pid, exit_code)
        self.base_env = base_env
        self.port = plan.ports.get(self.name) if service.kind != "worker" else None
        self.token = uuid.uuid4().hex[:16]
        self.stop_signal = signal_number(service.stop_signal)
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stop_event = threading.Event()
        self._reset()
        self._env: dict[str, str] | None = None
        self._probe: Probe | None = None
        self._probe_ready = False

    def _reset(self) -> None:
        self._state = "created"
        self._child: subprocess.Popen | None = None
        self._pid: int | None = None
        self._pgid: int | None = None
        self._exit_code: int | None = None
        self._health: str | None = None
        self._restarts = 0  # all restarts since start()
        self._in_a_row = 0  # restarts since the last stable run
        self._spawned = False
        self._completed_ok = False
        self._done = False  # no run will follow: the thread is finished
        self._stopping = False
        self._started_at: float | None = None
        self._run_began = 0.0  # monotonic start of the current run
        self._first_start: float | None = None  # boot-time seconds of the first run: older processes are not ours
        self._ended_at: float | None = None  # wall clock of the end of the last run, once no run follows
        self._message = ""
        self._generation = 0

    # --- public ------------------------------------------------------------------------------------

    @property
    def probe(self) -> Probe | None:
        if not self._probe_ready:
            env = self._env if self._env is not None else self._launch_env()
            self._probe = make_probe(self.service, self.port, env, service_cwd(self.service, self.plan))
            self._probe_ready = True
        return self._probe

    @property
    def has_readiness_check(self) -> bool:
        """A health_check, or the default TCP probe of a service with a port (exec, site); not a worker."""
        return self.probe is not None

    def start(self) -> None:
        """Spawn now (a configuration mistake raises LocaldError here) and supervise in the background.
        Calling it on a running runner does nothing; after stop() it starts afresh."""
        with self._cond:
            if self._thread is not None and self._thread.is_alive():
                return
            self._reset()
            self._stop_event.clear()
        self._env = self._launch_env()
        self._cwd = service_cwd(self.service, self.plan)
        self._command, self._shell = command_of(self.service, self.plan)
        _ = self.probe
        try:
            child = self._spawn()
        except OSError as exc:
            with self._cond:
                self._state, self._done, self._message = "failed", True, self._spawn_error(exc)
                self._cond.notify_all()
            raise LocaldError(self._message) from None
        self._thread = threading.Thread(target=self._supervise, args=(child,), name=f"locald-{self.name}",
                                        daemon=True)
        self._thread.start()

    def _launch_env(self) -> dict[str, str]:
        env = process_env(self.service, self.plan, self.base_env)
        env[TOKEN_VAR] = self.token
        return env

    def stop(self, grace: float | None = None) -> None:
        """Send stop_signal to the group (and to escaped descendants), SIGKILL after the grace period
        counted from that signal; no restart afterwards. Idempotent; returns once everything is gone."""
        stop_runners([self], grace)

    def begin_stop(self) -> int | None:
        """No run may start from now on (until start()); the group to signal, None when nothing runs."""
        with self._cond:
            self._stopping = True
            self._stop_event.set()
            pgid = self._pgid if self._child is not None and self._child.returncode is None else None
            if pgid is not None:
                self._state = "stopping"
            self._cond.notify_all()
            return pgid

    def supervising_done(self) -> bool:
        """The supervising thread has ended (its child reaped), or never began."""
        thread = self._thread
        return thread is None or not thread.is_alive() or thread is threading.current_thread()

    def reap(self) -> None:
        """Collect the exit status of a child that has ended, now (Popen keeps it for the supervising
        thread's wait): no zombie while a thousand supervising threads queue for the GIL."""
        child = self._child
        if child is not None:
            child.poll()

    def finish_stop(self) -> None:
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        with self._cond:
            if self._state in ("stopping", "created") or not self._done:
                self._state = "stopped"
            self._done = True
            self._cond.notify_all()

    def spawned_since(self) -> float | None:
        """Boot-time seconds at which the first run of this runner started (None: never ran)."""
        return self._first_start

    def final_exit(self) -> tuple[int, float] | None:
        """(exit code, wall-clock time) once the service has ended on its own and no run will follow;
        None while it runs, may be restarted, or was stopped by locald."""
        with self._cond:
            if not self._done or self._stopping or not self._spawned or self._ended_at is None:
                return None
            return self._exit_code if self._exit_code is not None else 127, self._ended_at

    def wait(self, condition: str, timeout: float, cancel: threading.Event | None = None) -> None:
        """Block until `condition` holds: "started", "healthy", "completed_successfully", or "auto"
        (healthy when the service has a readiness check, else started). "healthy" without a readiness check
        means started. Raises LocaldError naming the service, what was awaited and its last log lines when
        the process ends first, when `timeout` passes, or (Cancelled) when `cancel` is set."""
        condition = effective_condition(condition, self.has_readiness_check)
        if condition == HEALTHY and not self.has_readiness_check:
            condition = STARTED  # a process without a probe is as healthy as it gets once started
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                ok, failure = self._check(condition)
                if ok:
                    return
                if failure:
                    raise LocaldError(self._explain(failure))
                if cancel is not None and cancel.is_set():
                    raise Cancelled(f"stopped waiting for {self.name}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise LocaldError(self._explain(self._timeout_text(condition, timeout)))
                # With a cancel event to watch, wake up now and then; otherwise sleep until notified
                # (or until a run that keeps going counts as started).
                step = min(remaining, self._until_started(condition))
                self._cond.wait(min(step, 0.1) if cancel is not None else step)

    def status(self) -> dict:
        with self._cond:
            return {
                "name": self.name,
                "kind": self.service.kind,
                "state": self._state,
                "pid": self._pid if self._child is not None and self._child.returncode is None else None,
                "pgid": self._pgid,
                "port": self.port,
                "exit_code": self._exit_code,
                "restarts": self._restarts,
                "health": self._health,
                "health_output": self._probe.last_error if self._probe is not None else None,
                "started_at": self._started_at,
                "message": self._message,
            }

    @property
    def done(self) -> bool:
        """No run is going on and none will follow (exited for good, gave up, failed to spawn, stopped)."""
        return self._done

    # --- conditions and messages -------------------------------------------------------------------

    def _check(self, condition: str) -> tuple[bool, str]:
        """(satisfied, failure text). Called with the lock held."""
        if self._stopping:
            return False, "was stopped"
        if condition == COMPLETED:
            if self._completed_ok:
                return True, ""
            if self._done:
                return False, describe_exit(self._exit_code) if self._spawned else self._message
            return False, ""
        if condition == STARTED:
            if self._done and (self._exit_code or not self._spawned):
                return False, describe_exit(self._exit_code) if self._spawned else self._message
            # A run that ended with 0 counts (a ticker restarted after each exit 0 is no crash).
            return self._done or self._completed_ok or self._until_started(condition) == 0, ""
        # healthy
        if self._health == "healthy" and self._state in ("healthy",):
            return True, ""
        if self._done:
            text = describe_exit(self._exit_code) if self._spawned else self._message
            if self._exit_code == 0 and self.service.health_check is None:
                text += (f" before it could {self._probe.describe()}; to wait for a one-shot job, depend on it"
                         f' with condition = "completed_successfully"')
            return False, text
        return False, ""

    def _until_started(self, condition: str) -> float:
        """Seconds until the current run counts as started (0: it does; inf: nothing to wait for, as for
        another condition or between runs). Called with the lock held."""
        if condition != STARTED or not self._spawned or self._exit_code is not None:
            return float("inf")
        return max(0.0, STARTED_AFTER - (time.monotonic() - self._run_began))

    def _timeout_text(self, condition: str, timeout: float) -> str:
        if condition == HEALTHY and self._probe is not None:
            why = f" (last probe: {self._probe.last_error})" if self._probe.last_error else ""
            return f"did not {self._probe.describe()} within {timeout:g}s{why}"
        if condition == COMPLETED:
            return f"did not complete within {timeout:g}s (state: {self._state})"
        if self._restarts:
            last = f"; it last {describe_exit(self._exit_code)}" if self._exit_code is not None else ""
            return (f"did not keep running for {STARTED_AFTER:g}s within {timeout:g}s: it was restarted "
                    f"{self._restarts} time{'s' if self._restarts != 1 else ''}{last}")
        return f"did not start within {timeout:g}s"

    def _explain(self, failure: str) -> str:
        lines = self.sink.last_lines(15)
        text = f"service {self.name} {failure}."
        if lines:
            where = f" ({self.sink.path})" if self.sink.path else ""
            text += f"\nLast lines of its output{where}:\n" + "\n".join("  " + l for l in lines)
        else:
            text += " It printed nothing."
        return text

    def _spawn_error(self, exc: OSError) -> str:
        what = self._command if isinstance(self._command, str) else self._command[0]
        return f"service {self.name} could not start {what!r}: {exc.strerror or exc}"

    # --- supervision -------------------------------------------------------------------------------

    def _spawn(self) -> subprocess.Popen:
        """Start one run of the process (lock held only around the bookkeeping). Raises OSError."""
        with self._cond:
            if self._stopping:
                raise InterruptedError("stopping")
            child = Popen(self._command, shell=self._shell, env=self._env, cwd=self._cwd,
                          stdin=subprocess.DEVNULL, start_new_session=True)
            self._child, self._pid, self._pgid = child, child.pid, child.pid
            self._spawned = True
            self._started_at, self._run_began = time.time(), time.monotonic()
            self._exit_code = None
            self._generation += 1
            self._health = "starting" if self._probe is not None else None
            self._state = "starting" if self._probe is not None else "running"
            self._cond.notify_all()
        try:
            fcntl.fcntl(child.stdout.fileno(), _F_SETPIPE_SZ, _PIPE_SIZE)
        except OSError:
            pass
        started = pgroups.process_start_time(child.pid)
        if self._first_start is None:
            self._first_start = started
        if self.on_spawn is not None:
            self.on_spawn(self.name, child.pid, child.pid, started)
        return child

    def _supervise(self, child: subprocess.Popen | None) -> None:
        try:
            while child is not None:
                began = time.monotonic()
                code = self._run(child)
                delay = self._after_exit(child, code, time.monotonic() - began)
                child = None
                if delay is None or self._stop_event.wait(delay):
                    break
                try:
                    child = self._spawn()
                except InterruptedError:
                    break
                except OSError as exc:
                    self.sink.note(self._spawn_error(exc))
                    with self._cond:
                        self._state, self._done, self._message = "failed", True, self._spawn_error(exc)
                        self._exit_code = 127  # as a shell reports a command it could not run
        finally:
            with self._cond:
                if self._stopping:
                    self._state = "stopped"
                else:
                    self._ended_at = time.time()
                self._done = True
                self._cond.notify_all()

    def _after_exit(self, child: subprocess.Popen, code: int, ran: float) -> float | None:
        """Record an exit and apply the restart policy: the backoff delay, or None for no restart."""
        if self.on_exit is not None:
            self.on_exit(self.name, child.pid, code)
        with self._cond:
            self._exit_code = code
            self._health = None
            self._completed_ok = self._completed_ok or code == 0
            decision = after_exit(self.service.restart, self.service.max_restarts, code, ran, self._in_a_row,
                                  self._stopping, base=self.backoff_base, cap=self.backoff_max,
                                  stable_after=self.stable_after)
            if decision.delay is not None:
                self._restarts += 1
            self._in_a_row, self._state = decision.in_a_row, decision.state
            if decision.state != "stopped":
                self._message = decision.message
            self._cond.notify_all()
        self.sink.note(decision.message)
        return decision.delay

    def _run(self, child: subprocess.Popen) -> int:
        """Read the output of one run until the process has exited and the pipe is done; return the code."""
        out = child.stdout.fileno()
        pidfd = os.pidfd_open(child.pid)
        ended = threading.Event()
        prober = None
        if self._probe is not None:
            prober = threading.Thread(target=self._probe_loop, args=(self._generation, ended),
                                      name=f"locald-probe-{self.name}", daemon=True)
            prober.start()
        poller = select.poll()
        poller.register(out, select.POLLIN)
        poller.register(pidfd, select.POLLIN)
        code: int | None = None
        kill_at: float | None = None  # leftovers of a process that exited on its own get the grace period too
        exited_at = 0.0
        try:
            while True:
                timeout = None if code is None else 100  # ms; only while winding down
                for fd, _ in poller.poll(timeout):
                    if fd == out:
                        data = os.read(out, _READ_SIZE)
                        if data:
                            self.sink.feed(data)
                        else:
                            poller.unregister(out)
                            out = -1
                    elif fd == pidfd:
                        poller.unregister(pidfd)
                        code = child.wait()
                        exited_at = time.monotonic()
                        ended.set()
                        with self._cond:
                            self._cond.notify_all()
                        # Members left in the group get the stop signal (killpg fails at once when none is).
                        if not self._stopping and pgroups.signal_group(child.pid, self.stop_signal):
                            kill_at = exited_at + self.service.stop_grace_period
                if code is None:
                    continue
                if out == -1:
                    break
                now = time.monotonic()
                if kill_at is not None and now >= kill_at:
                    pgroups.signal_group(child.pid, signal.SIGKILL)
                    kill_at = None
                # The pipe is still open a while after the exit: if the group is gone, an escaped
                # descendant holds it. Do not wait for it. (Asked only then: it may read /proc.)
                if now - exited_at >= self.drain_limit and not pgroups.group_alive(child.pid):
                    break
        finally:
            ended.set()
            os.close(pidfd)
            child.stdout.close()
            if code is None:
                code = child.wait()
        return code

    def _probe_loop(self, generation: int, ended: threading.Event) -> None:
        """Probe at once, then every STARTING_INTERVAL until the first success (so a ready service is
        noticed quickly), then every `interval` to keep `health` current: unhealthy after `retries`
        failures in a row. Before the first success, failures count only past the start_period, which
        defaults to how long `up` waits for the service (as its container health check's does)."""
        probe = self._probe
        check = self.service.health_check
        interval = check.interval if check else 1.0
        retries = check.retries if check else 3
        start_period = (check and check.start_period) or self.plan.project.ready_timeout(self.name)
        began = time.monotonic()
        failures = attempts = 0
        was_healthy = False
        while not ended.is_set():
            ok = probe()
            attempts += 1
            with self._cond:
                if ended.is_set() or generation != self._generation or self._stopping:
                    return
                if ok:
                    failures = 0
                    was_healthy = True
                    if self._health != "healthy":
                        self._health = self._state = "healthy"
                        self._cond.notify_all()
                else:
                    failures += 1
                    counts = was_healthy or time.monotonic() - began >= start_period
                    if counts and failures >= retries and self._health != "unhealthy":
                        self._health = self._state = "unhealthy"
                        self._cond.notify_all()
            # While starting: 50, 100, ... then every 250 ms, so a quick service is not held back.
            if ended.wait(interval if was_healthy else min(STARTING_INTERVAL, 0.05 * attempts)):
                return
