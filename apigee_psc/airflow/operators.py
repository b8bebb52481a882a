"""Operators: apply a southbound spec, destroy it, report its status.

Each pushes its report (the documented JSON shape of ``apigee-psc ... -o json``) to XCom as
its return value and fails with the library's own error (its diagnosis and advice in the
message). Apply and destroy are deferrable: the long waits run in
:class:`~apigee_psc.airflow.triggers.ApigeePscWaitTrigger` on the triggerer.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from apigee_psc import errors
from apigee_psc.airflow._compat import BaseOperator, default_deferrable
from apigee_psc.airflow._core import (
    DEFAULT_CONN_ID,
    PassResult,
    Wait,
    apply_pass,
    destroy_pass,
    error_for_event,
    load_spec,
    merge_destroy_reports,
)
from apigee_psc.airflow.hooks import ApigeePscHook
from apigee_psc.airflow.triggers import ApigeePscWaitTrigger
from apigee_psc.southbound.spec import SouthboundSpec

if TYPE_CHECKING:
    from apigee_psc.southbound import Southbound

__all__ = ["ApigeePscApplyOperator", "ApigeePscDestroyOperator", "ApigeePscStatusOperator"]

#: Passes in a row that stopped with nothing to wait on before a pass waits in the worker.
MAX_QUICK_PASSES = 3
#: Seconds Airflow gives a deferral beyond the trigger's own deadline (the trigger reports first).
DEFERRAL_GRACE = 120.0


def _seconds(field: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise errors.ValidationError(field, value, "a finite number of seconds, more than 0")
    return float(value)


class _SpecOperator(BaseOperator):
    """What apply, destroy and status share: the spec, the connection and the waits."""

    template_fields: Sequence[str] = ("spec", "gcp_conn_id", "impersonation_chain")
    template_ext: Sequence[str] = (".yaml", ".yml")
    ui_color = "#d5e8f7"

    def __init__(
        self,
        *,
        spec: str | Mapping[str, Any] | SouthboundSpec,
        gcp_conn_id: str = DEFAULT_CONN_ID,
        impersonation_chain: str | Sequence[str] | None = None,
        timeout: float = 1800.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(spec, (str, Mapping, SouthboundSpec)):
            raise errors.ValidationError("spec", spec, "a YAML file path, YAML text, a dict or a SouthboundSpec")
        self.spec = spec
        self.spec_source = spec if isinstance(spec, str) and spec.strip().endswith((".yaml", ".yml")) else None
        self.gcp_conn_id = gcp_conn_id
        self.impersonation_chain = impersonation_chain
        self.timeout = _seconds("timeout", timeout)

    def _southbound(self, hook: ApigeePscHook, **options: Any) -> Southbound:
        return hook.southbound(load_spec(self.spec, source=self.spec_source), timeout=self.timeout, **options)

    def _hook(self) -> ApigeePscHook:
        return ApigeePscHook(gcp_conn_id=self.gcp_conn_id, impersonation_chain=self.impersonation_chain)


class _DeferringOperator(_SpecOperator):
    """Runs passes in the worker and defers between them while Apigee works."""

    def __init__(self, *, deferrable: bool = default_deferrable(), poll_interval: float = 15.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.deferrable = bool(deferrable)
        self.poll_interval = _seconds("poll_interval", poll_interval)

    def _pass(self, southbound: Southbound, defer: bool) -> PassResult:
        raise NotImplementedError

    def _finish(self, context: Any, report: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
        context["ti"].xcom_push(key="deferrals", value=state["deferrals"])
        return report

    def _run(self, context: Any, state: dict[str, Any]) -> dict[str, Any]:
        hook = self._hook()
        southbound = self._southbound(hook)
        quick = 0
        while True:
            result = self._pass(southbound, self.deferrable and quick < MAX_QUICK_PASSES)
            if result.report is not None:
                return self._finish(context, result.report, state)
            self._remember(state, result)
            if result.waits:
                self._defer(context, southbound.spec.organization, result.waits, state)
            quick += 1
            self.log.info("apigee-psc: nothing in flight to wait on; running again (pass %d)", quick + 1)

    def _remember(self, state: dict[str, Any], result: PassResult) -> None:
        """Keep what a stopped pass did, for the final report (destroy)."""

    def _defer(self, context: Any, organization: str, waits: list[Wait], state: dict[str, Any]) -> None:
        now = time.time()
        deadline = now + self.timeout
        if self.execution_timeout is not None:
            deadline = min(deadline, state["started_at"] + self.execution_timeout.total_seconds())
        if deadline <= now:
            deadline = now + min(self.poll_interval, 1.0)  # one poll, then the diagnosis
        state = {**state, "deferrals": state["deferrals"] + 1}
        self.log.info(
            "apigee-psc: deferring (%d) on %s, until %.0fs from now",
            state["deferrals"], "; ".join(w.describe() for w in waits), deadline - now,
        )
        trigger = ApigeePscWaitTrigger(
            organization=organization,
            waits=[w.to_dict() for w in waits],
            deadline=deadline,
            gcp_conn_id=self.gcp_conn_id,
            impersonation_chain=self.impersonation_chain,
            poll_interval=self.poll_interval,
            carry=state,
        )
        self.defer(
            trigger=trigger,
            method_name="execute_complete",
            kwargs={"state": state},
            timeout=timedelta(seconds=deadline - now + self.poll_interval + DEFERRAL_GRACE),
        )

    def execute(self, context: Any) -> dict[str, Any]:
        """Run until done, deferring on the long waits when ``deferrable``."""
        return self._run(context, {"started_at": time.time(), "deferrals": 0, "previous": []})

    def execute_complete(
        self, context: Any, event: Mapping[str, Any] | None = None, state: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Resume after the trigger: raise the library's error if the wait failed, else go on."""
        event = event or {"status": "error", "message": "resumed without an event"}
        # The event carries the state of this deferral (Airflow 3.3's dag.test() resumes a second
        # deferral with the first one's kwargs).
        state = dict(event.get("carry") or state or {"started_at": time.time(), "deferrals": 1, "previous": []})
        self.log.info(
            "apigee-psc: resumed (deferral %d) after %.0fs on the triggerer: %s",
            state.get("deferrals", 0), float(event.get("elapsed") or 0), event.get("status"),
        )
        if event.get("status") != "done":
            organization = load_spec(self.spec, source=self.spec_source).organization
            error = error_for_event(self._hook().apigee_client(organization), event, organization=organization)
            self.log.error("apigee-psc: %s", error)
            raise error
        return self._run(context, state)


class ApigeePscApplyOperator(_DeferringOperator):
    """Apply a southbound spec (:meth:`Southbound.apply <apigee_psc.Southbound.apply>`) and push
    its realization report to XCom.

    ``spec`` is a YAML file (templated: rendered with Jinja before it is read), YAML text, a
    dict or a :class:`~apigee_psc.SouthboundSpec`. ``deferrable`` (default: Airflow's
    ``[operators] default_deferrable``) hands the endpoint attachment's operation and
    connection wait and the DNS zone's wait to the triggerer, polled every
    ``poll_interval`` seconds, and resumes the apply afterwards (it converges: nothing is
    created twice). ``timeout`` bounds each wait (and the task's ``execution_timeout`` the
    whole). ``adopt`` lets it take over matching resources it did not create. Fails with
    :class:`~apigee_psc.errors.ConnectionNotAccepted` (which project to accept, and where)
    when the connection is rejected or still pending at the deadline.
    """

    template_fields: Sequence[str] = (*_SpecOperator.template_fields,)

    def __init__(self, *, adopt: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.adopt = bool(adopt)

    def _southbound(self, hook: ApigeePscHook, **options: Any) -> Southbound:
        return super()._southbound(hook, adopt=self.adopt, **options)

    def _pass(self, southbound: Southbound, defer: bool) -> PassResult:
        return apply_pass(southbound, defer=defer)


class ApigeePscDestroyOperator(_DeferringOperator):
    """Destroy what a southbound spec created (:meth:`Southbound.destroy
    <apigee_psc.Southbound.destroy>`) and push the destroy report to XCom.

    ``revoke_iam`` also removes the IAM grant; ``force`` deletes a service attachment that
    still serves other consumers. Deferrable like :class:`ApigeePscApplyOperator`: the waits
    for the endpoint attachment and the DNS zone to be deleted run on the triggerer. The
    report covers every pass (an entity deleted before a deferral stays ``deleted``).
    """

    def __init__(self, *, revoke_iam: bool = False, force: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.revoke_iam = bool(revoke_iam)
        self.force = bool(force)

    def _pass(self, southbound: Southbound, defer: bool) -> PassResult:
        return destroy_pass(southbound, defer=defer, revoke_iam=self.revoke_iam, force=self.force)

    def _remember(self, state: dict[str, Any], result: PassResult) -> None:
        if result.partial is not None:
            state["previous"] = [*state.get("previous", []), result.partial]

    def _finish(self, context: Any, report: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
        return super()._finish(context, merge_destroy_reports(state.get("previous", []), report), state)


class ApigeePscStatusOperator(_SpecOperator):
    """Read a southbound spec's realization report (:meth:`Southbound.status
    <apigee_psc.Southbound.status>`; no writes, no waits) and push it to XCom. With
    ``require_in_sync`` the task fails unless the state is ``in_sync``."""

    def __init__(self, *, require_in_sync: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.require_in_sync = bool(require_in_sync)

    def execute(self, context: Any) -> dict[str, Any]:
        """Read and return the report."""
        report = self._southbound(self._hook()).status().to_dict()
        self.log.info("apigee-psc: status %s", report["state"])
        if self.require_in_sync and report["state"] != "in_sync":
            raise errors.FailedPrecondition(
                f"the connection is {report['state']}: {report.get('failure_message') or 'not in sync'}",
                status_code=0,
            )
        return report
