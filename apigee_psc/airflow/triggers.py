"""The trigger: apigee-psc's long waits on Airflow's triggerer instead of a worker slot."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from apigee_psc import errors
from apigee_psc.airflow._compat import BaseTrigger, TriggerEvent
from apigee_psc.airflow._core import DEFAULT_CONN_ID, Wait, poll

__all__ = ["ApigeePscWaitTrigger"]


class ApigeePscWaitTrigger(BaseTrigger):
    """Wait, on the triggerer, until each of ``waits`` succeeds (in order), one fails, or
    ``deadline`` (epoch seconds) passes.

    ``waits`` are :class:`~apigee_psc.airflow._core.Wait` dicts (``{"kind": "operation",
    "name": "organizations/o/operations/..."}``, ``attachment_ready``, ``dns_zone_active``,
    ``attachment_deleted``, ``dns_zone_deleted``), judged by the library's declared waiters.
    Each poll is one request made in a thread (``asyncio.to_thread``), with an asyncio sleep
    of ``poll_interval`` seconds between polls: the triggerer's loop never blocks. Everything
    it needs is in its serialised arguments (names, not objects), so after a triggerer restart
    it resumes from the operation's or resource's name; ``started_at`` keeps the wait's age.

    Fires one event: ``{"status": "done"}``, or ``failed`` / ``timeout`` / ``error`` with the
    wait, the last state seen and the seconds waited, from which the task raises the
    library's error with its diagnosis. Every event returns ``carry`` (the deferring task's
    own state) as it was given: the task resumes from the event, not from the kwargs of its
    first deferral.
    """

    def __init__(
        self,
        *,
        organization: str,
        waits: Sequence[Mapping[str, Any]],
        deadline: float,
        gcp_conn_id: str = DEFAULT_CONN_ID,
        impersonation_chain: str | Sequence[str] | None = None,
        poll_interval: float = 15.0,
        started_at: float | None = None,
        carry: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call,unused-ignore]  # Airflow's is untyped
        self.organization = organization
        self.waits = [Wait.from_dict(w).to_dict() for w in waits]
        if not self.waits:
            raise errors.ValidationError("waits", waits, "at least one wait")
        self.deadline = float(deadline)
        self.gcp_conn_id = gcp_conn_id
        self.impersonation_chain = (
            impersonation_chain if impersonation_chain is None or isinstance(impersonation_chain, str)
            else list(impersonation_chain)
        )
        self.poll_interval = float(poll_interval)
        self.started_at = float(started_at) if started_at is not None else time.time()
        self.carry = dict(carry or {})

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The class path and the keyword arguments that re-create this trigger."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "organization": self.organization,
                "waits": self.waits,
                "deadline": self.deadline,
                "gcp_conn_id": self.gcp_conn_id,
                "impersonation_chain": self.impersonation_chain,
                "poll_interval": self.poll_interval,
                "started_at": self.started_at,
                "carry": self.carry,
            },
        )

    def _client(self) -> Any:
        from apigee_psc.airflow.hooks import ApigeePscHook

        hook = ApigeePscHook(gcp_conn_id=self.gcp_conn_id, impersonation_chain=self.impersonation_chain)
        return hook.apigee_client(self.organization)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll each wait until it succeeds, then fire ``done``; or fire why not."""
        try:
            apigee = await asyncio.to_thread(self._client)
            for wait in (Wait.from_dict(w) for w in self.waits):
                polls = 0
                while True:
                    elapsed = time.time() - self.started_at
                    outcome, state = await asyncio.to_thread(poll, apigee, wait, elapsed)
                    polls += 1
                    if outcome == "success":
                        self.log.info("apigee-psc: %s done (%s) after %.0fs, %d polls", wait.describe(), state,
                                      elapsed, polls)
                        break
                    if outcome == "failure" or time.time() >= self.deadline:
                        status = "failed" if outcome == "failure" else "timeout"
                        self.log.info("apigee-psc: %s %s (%s) after %.0fs", wait.describe(), status, state, elapsed)
                        yield self._event(status, wait=wait.to_dict(), state=state, elapsed=elapsed)
                        return
                    self.log.info("apigee-psc: waiting for %s: %s after %.0fs", wait.describe(), state, elapsed)
                    await asyncio.sleep(max(0.0, min(self.poll_interval, self.deadline - time.time())))
        except errors.ApigeePscError as exc:
            self.log.warning("apigee-psc: the wait failed: %s", exc)
            yield self._event("error", type=type(exc).__name__, message=str(exc))
            return
        yield self._event("done", waits=self.waits, elapsed=time.time() - self.started_at)

    def _event(self, status: str, **payload: Any) -> TriggerEvent:
        payload = {"status": status, **payload, "carry": self.carry}
        return TriggerEvent(payload)  # type: ignore[no-untyped-call,unused-ignore]  # Airflow's is untyped
