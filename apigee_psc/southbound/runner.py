"""Progress and the dependency-ordered, overlapping execution of one apply or destroy.

:class:`Run` reports :class:`~apigee_psc.southbound.reports.ProgressEvent` s and runs a step per
kind as soon as the kinds it depends on are done (:meth:`Run.graph`); :class:`StepReporter`
is what a reconciler's ``apply``/``delete`` sees: progress, waits and the organization lock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from apigee_psc import errors, waiters
from apigee_psc.apigee import organization_lock
from apigee_psc.southbound.reports import ProgressEvent
from apigee_psc.southbound.resources.base import Reconciler

if TYPE_CHECKING:
    from apigee_psc.southbound.engine import Southbound

__all__ = ["Cancellation", "ProgressCallback", "Run", "StepReporter", "Work"]

logger = logging.getLogger("apigee_psc.southbound")
ProgressCallback = Callable[[ProgressEvent], None]
#: One step: returns (whether it wrote or waited, the resource as it now is or ``None``).
Work = Callable[[Reconciler], tuple[bool, Any]]


class Cancellation:
    """The cancel event of a connection's running apply or destroy, and the pause that every
    wait and retry of that connection sleeps in: it wakes and raises
    :class:`~apigee_psc.errors.Cancelled` as soon as the event is set."""

    def __init__(self, sleep: Callable[[float], None]) -> None:
        self.sleep = sleep
        self.event: threading.Event | None = None
        self.phase = "apply"

    def is_set(self) -> bool:
        """True if the running call was cancelled."""
        return self.event is not None and self.event.is_set()

    def pause(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if the running call is cancelled meanwhile."""
        event = self.event
        if event is None:
            self.sleep(seconds)
            return
        if self.sleep is time.sleep:
            cancelled = event.wait(seconds)
        else:  # a test's clock: pause with it, then look
            self.sleep(seconds)
            cancelled = event.is_set()
        if cancelled:
            raise errors.Cancelled(self.phase)

    @contextmanager
    def running(self, phase: str, cancel: threading.Event | None) -> Iterator[threading.Event]:
        """Run one apply or destroy with ``cancel`` (or an event of its own, which an interrupt
        of the calling thread sets so that the steps running in other threads stop too)."""
        event = cancel if cancel is not None else threading.Event()
        if event.is_set():
            raise errors.Cancelled(phase)
        self.event, self.phase = event, phase
        try:
            yield event
        finally:
            self.event = None


class Run:
    """Progress reporting and the dependency-ordered, overlapping execution of one apply or destroy."""

    def __init__(self, owner: Southbound, phase: str, progress: ProgressCallback | None) -> None:
        self.owner, self.phase, self.progress = owner, phase, progress
        self.started = owner.clock()

    def event(
        self, r: Reconciler | None, status: str, detail: str = "", *, state: str | None = None, elapsed: float = 0.0
    ) -> None:
        spec = self.owner.spec
        kind, name = (r.kind, r.name(spec)) if r is not None else (None, None)
        label = f"{kind} {name}" if r is not None else f"SouthboundConnection {spec.endpoint_attachment.name}"
        event = ProgressEvent(self.phase, label, status, detail, state, elapsed, spec.source, kind, name)
        logger.info("%s", event.to_text())
        if self.progress is not None:
            self.progress(event)

    def graph(self, kinds: Sequence[Reconciler], work: Work, *, reverse: bool = False) -> dict[str, tuple[bool, Any]]:
        """Run ``work`` for each kind as soon as what it depends on (or, ``reverse``, what
        depends on it) is done; the first failure stops new starts and is raised once the
        running ones end."""
        present = {r.kind for r in kinds}
        after = {r.kind: {d for d in r.depends_on if d in present} for r in kinds}
        if reverse:
            after = {k: {o for o, deps in after.items() if k in deps} for k in after}
        waiting = {r.kind: r for r in kinds}
        reconcilers = dict(waiting)
        running: dict[Future[tuple[bool, Any]], str] = {}
        done: dict[str, tuple[bool, Any]] = {}
        failure: BaseException | None = None
        workers = max(1, min(self.owner.max_workers, len(kinds)))
        cancel = self.owner._cancellation.event
        with ThreadPoolExecutor(workers, thread_name_prefix=f"apigee-psc-{self.phase}") as pool:
            while waiting or running:
                if cancel is not None and cancel.is_set() and failure is None:
                    failure = errors.Cancelled(self.phase)  # start nothing more
                for kind in [k for k in waiting if failure is None and after[k] <= done.keys()]:
                    running[pool.submit(work, waiting.pop(kind))] = kind
                if not running:
                    break
                try:
                    finished, _ = wait(running, return_when=FIRST_COMPLETED)
                except BaseException:  # Ctrl-C or SIGTERM in this thread: stop the steps running in others
                    if cancel is not None:
                        cancel.set()
                    raise
                for future in finished:
                    kind = running.pop(future)
                    error = future.exception()
                    if error is not None:
                        if not isinstance(error, (errors.Cancelled, KeyboardInterrupt)):
                            # the row stops looking like it runs; the error itself is told once, by the caller
                            self.event(reconcilers[kind], "failed", type(error).__name__)
                        # A step that timed out waiting for another step's hold on the lock
                        # only echoes that step's trouble: report the cause when both fail.
                        if failure is None or (_lock_wait(failure) and not _lock_wait(error)):
                            failure = error
                    else:
                        done[kind] = future.result()
        if failure is not None:
            raise failure
        return done


class _ProcessLockTimeout(errors.WaitTimeout):
    """A step waited its whole timeout for the lock another step of this process held."""


def _lock_wait(error: BaseException) -> bool:
    return isinstance(error, _ProcessLockTimeout)


class StepReporter:
    """What a reconciler's apply/delete reports through: progress, waits, the org lock."""

    def __init__(self, run: Run, r: Reconciler, started: float) -> None:
        self.run, self.r, self.started = run, r, started
        self.label = f"{r.kind} {r.name(run.owner.spec)}"

    def event(self, status: str, detail: str = "", *, state: str | None = None) -> None:
        self.run.event(self.r, status, detail, state=state, elapsed=self.run.owner.clock() - self.started)

    def waiting(self) -> Callable[[waiters.WaitProgress], None]:
        def report(update: waiters.WaitProgress) -> None:
            waiter = waiters.WAITERS.get(update.waiter)
            if update.waiter == "ORGANIZATION_LOCK":
                awaited = f"for the organization lock (held by {update.subject})"
            else:
                awaited = f"for {waiter.awaits}" if waiter else update.waiter
            self.event("waiting", awaited, state=update.state)

        return report

    @contextmanager
    def org_lock(self) -> Iterator[None]:
        """Hold this process's lock on the organization, waiting at most the timeout for it."""
        owner = self.run.owner
        lock = organization_lock(owner.spec.organization)
        if not lock.acquire(blocking=False):
            self.event("waiting", "for the organization lock (another operation of this process)")
            deadline = time.monotonic() + owner.timeout  # a real wait for a thread, whatever the clock
            while not lock.acquire(timeout=max(0.0, min(1.0, deadline - time.monotonic()))):
                if owner._cancellation.is_set():
                    raise errors.Cancelled(self.run.phase)
                if time.monotonic() < deadline:
                    continue
                raise _ProcessLockTimeout(
                    f"the organization lock of {owner.spec.organization} (held by another operation of this process)",
                    last_state="locked",
                    elapsed=owner.clock() - self.started,
                )
        try:
            yield
        finally:
            lock.release()
