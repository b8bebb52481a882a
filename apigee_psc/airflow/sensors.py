"""The sensor: an endpoint attachment is ACTIVE and its connection ACCEPTED."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from apigee_psc import errors
from apigee_psc.airflow._compat import AirflowSensorTimeout, BaseSensorOperator, default_deferrable
from apigee_psc.airflow._core import DEFAULT_CONN_ID, Wait, error_for_event, poll
from apigee_psc.airflow.hooks import ApigeePscHook
from apigee_psc.airflow.triggers import ApigeePscWaitTrigger

__all__ = ["ApigeeEndpointAttachmentSensor"]


class ApigeeEndpointAttachmentSensor(BaseSensorOperator):
    """Wait until endpoint attachment ``endpoint_attachment`` of ``organization`` is ACTIVE and
    its connection ACCEPTED (or ACCEPTED_LIMITED_CAPACITY).

    REJECTED, CLOSED and FROZEN fail at once, and a connection still PENDING when the
    sensor's ``timeout`` runs out fails too, each with
    :class:`~apigee_psc.errors.ConnectionNotAccepted` and the library's diagnosis (which
    project to accept on which service attachment). ``deferrable`` (default: Airflow's
    ``[operators] default_deferrable``) waits on the triggerer, polling every
    ``poke_interval`` seconds, instead of in a worker slot.
    """

    template_fields: Sequence[str] = ("organization", "endpoint_attachment", "gcp_conn_id", "impersonation_chain")
    ui_color = "#d5e8f7"

    def __init__(
        self,
        *,
        organization: str,
        endpoint_attachment: str,
        gcp_conn_id: str = DEFAULT_CONN_ID,
        impersonation_chain: str | Sequence[str] | None = None,
        deferrable: bool = default_deferrable(),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        for field, value in (("organization", organization), ("endpoint_attachment", endpoint_attachment)):
            if not isinstance(value, str) or not value:
                raise errors.ValidationError(field, value, "a non-empty name")
        self.organization = organization
        self.endpoint_attachment = endpoint_attachment
        self.gcp_conn_id = gcp_conn_id
        self.impersonation_chain = impersonation_chain
        self.deferrable = bool(deferrable)
        self._started = time.time()

    def _apigee(self) -> Any:
        hook = ApigeePscHook(gcp_conn_id=self.gcp_conn_id, impersonation_chain=self.impersonation_chain)
        return hook.apigee_client(self.organization)

    def _wait(self) -> Wait:
        return Wait("attachment_ready", self.endpoint_attachment)

    def poke(self, context: Any) -> bool:
        """One read: True when ready; raises the diagnosis when it cannot become ready."""
        apigee = self._apigee()
        outcome, state = poll(apigee, self._wait(), 0.0)
        self.log.info("apigee-psc: endpoint attachment %s is %s", self.endpoint_attachment, state)
        if outcome == "failure":
            event = {"status": "failed", "wait": self._wait().to_dict(), "state": state}
            raise error_for_event(apigee, event, organization=self.organization)
        return outcome == "success"

    def execute(self, context: Any) -> Any:
        """Poke (in the worker, or once and then on the triggerer when ``deferrable``)."""
        self._started = time.time()
        if not self.deferrable:
            try:
                return super().execute(context)
            except AirflowSensorTimeout as exc:
                event = {"status": "timeout", "wait": self._wait().to_dict(), "state": "unknown",
                         "elapsed": time.time() - self._started}
                raise error_for_event(self._apigee(), event, organization=self.organization) from exc
        if self.poke(context):
            return None
        deadline = time.time() + float(self.timeout)
        trigger = ApigeePscWaitTrigger(
            organization=self.organization,
            waits=[self._wait().to_dict()],
            deadline=deadline,
            gcp_conn_id=self.gcp_conn_id,
            impersonation_chain=self.impersonation_chain,
            poll_interval=float(self.poke_interval),
        )
        self.defer(
            trigger=trigger,
            method_name="execute_complete",
            timeout=timedelta(seconds=float(self.timeout) + float(self.poke_interval) + 120.0),
        )

    def execute_complete(self, context: Any, event: Mapping[str, Any] | None = None) -> None:
        """Resume after the trigger: done, or the library's error with its diagnosis."""
        event = event or {"status": "error", "message": "resumed without an event"}
        if event.get("status") == "done":
            self.log.info("apigee-psc: endpoint attachment %s is ACTIVE and ACCEPTED", self.endpoint_attachment)
            return
        error = error_for_event(self._apigee(), event, organization=self.organization)
        self.log.error("apigee-psc: %s", error)
        raise error
