"""The Apigee endpoint attachment the spec creates, and its connection.

Created under the organization lock (one Apigee operation at a time), then waited on until
ACTIVE and ACCEPTED. Its realization follows the connection state through the one
:func:`~apigee_psc.diagnosis.diagnose_connection`, so status and a failed apply explain a
connection the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from apigee_psc import errors
from apigee_psc.diagnosis import Diagnosis, diagnose_connection
from apigee_psc.models import EndpointAttachment, Operation
from apigee_psc.names import short
from apigee_psc.southbound.live import OrgInfo
from apigee_psc.southbound.plan import Action, Change, FieldDiff
from apigee_psc.southbound.reports import Realization
from apigee_psc.southbound.resources.base import (
    Assessment,
    Context,
    Reconciler,
    Seen,
    Snapshot,
    Step,
    delete_apigee,
    live_of,
    logger,
    read_or_error,
)
from apigee_psc.southbound.spec import SouthboundSpec

if TYPE_CHECKING:
    from apigee_psc.apigee import ApigeeClient

_SETTING_UP = ("CREATING", "UPDATING", "STATE_UNSPECIFIED")


def explain(ctx: Context, attachment: EndpointAttachment, service_attachment: Any) -> Diagnosis:
    """The diagnosis of ``attachment``'s connection with the live service attachment (or ``None``)."""
    return diagnose_connection(
        attachment.connection_state,
        apigee_project_id=ctx.org.apigee_project_id,
        service_attachment=attachment.service_attachment or ctx.spec.service_attachment_path,
        live_service_attachment=service_attachment,
    )


class EndpointAttachmentReconciler(Reconciler):
    """``endpoint_attachment``: in the spec's region, on the spec's service attachment."""

    kind = "EndpointAttachment"
    depends_on = ("ServiceAttachment",)

    def name(self, spec: SouthboundSpec) -> str:
        return spec.endpoint_attachment.name

    def path(self, spec: SouthboundSpec, org: OrgInfo) -> str:
        return spec.endpoint_attachment_path

    def read(self, ctx: Context, *, full: bool) -> Seen:
        attachments = ctx.clients.apigee.endpoint_attachments
        seen = read_or_error(lambda: attachments.get(self.name(ctx.spec)))
        if not full or seen.error is not None:
            return seen
        live: EndpointAttachment | None = seen.live
        if live is not None and live.service_attachment == ctx.spec.service_attachment_path:
            return seen  # it holds the spec's service attachment: no other attachment can (one each)
        extra: dict[str, Any] = {}
        side = read_or_error(lambda: attachments.find_by_service_attachment(ctx.spec.service_attachment_path))
        if side.error is not None:
            return Seen(seen.live, side.error)
        extra["attachment_for_sa"] = side.live
        if seen.live is None:
            pending = read_or_error(lambda: self._pending(ctx))
            if pending.error is not None:
                return Seen(None, pending.error)
            extra["pending_operation"] = pending.live
        return Seen(seen.live, None, extra)

    @staticmethod
    def _pending(ctx: Context) -> Operation | None:
        for operation in ctx.clients.apigee.operations.list():
            if not operation.done and operation.target == ctx.spec.endpoint_attachment_path:
                return operation
        return None

    def diff(self, ctx: Context, snap: Snapshot) -> Assessment:
        spec = ctx.spec
        seen = snap.get(self.kind, Seen())
        wanted = EndpointAttachment(
            spec.endpoint_attachment.name, spec.region, spec.service_attachment_path, spec.endpoint_attachment_path
        )
        problems: list[str] = []
        other: EndpointAttachment | None = seen.extra.get("attachment_for_sa")
        if other is not None and other.name != wanted.name:
            problems.append(
                f"endpoint attachment {other.name} of organization {spec.organization} already uses "
                f"{spec.service_attachment_path}; Apigee allows one endpoint attachment per service "
                f"attachment (rename endpoint_attachment.name to {other.name!r} to adopt it)"
            )
        live: EndpointAttachment | None = seen.live
        if live is None:
            pending: Operation | None = seen.extra.get("pending_operation")
            if pending is not None:
                note = f"operation {pending.name} in progress"
                return Assessment(self.change(ctx, Action.WAIT, None, wanted, (), note, pending.name), tuple(problems))
            created = [FieldDiff("service_attachment", None, spec.service_attachment_path)]
            return Assessment(self.change(ctx, Action.CREATE, None, wanted, created), tuple(problems))
        if short(live.service_attachment) != spec.service_attachment.name or live.location != spec.region:
            moved = FieldDiff("service_attachment", live.service_attachment, spec.service_attachment_path)
            return Assessment(self.change(ctx, Action.REPLACE, live, wanted, [moved]), tuple(problems))
        if not live.ready:
            note = f"{live.state}/{live.connection_state}"
            return Assessment(self.change(ctx, Action.WAIT, live, wanted, note=note), tuple(problems))
        return Assessment(self.change(ctx, Action.NOOP, live, wanted, note=f"host {live.host}"), tuple(problems))

    def lifecycle(self, ctx: Context, snap: Snapshot, assessment: Assessment) -> tuple[Realization, str]:
        live: EndpointAttachment = snap[self.kind].live
        if assessment.change.action is not Action.WAIT:
            return super().lifecycle(ctx, snap, assessment)
        if str(live.state) in _SETTING_UP:
            return Realization.IN_PROGRESS, f"state {live.state}"
        if str(live.state) == "DELETING":
            return Realization.FAILED, "the endpoint attachment is being deleted"
        diagnosis = explain(ctx, live, live_of(snap, "ServiceAttachment"))
        return (Realization.FAILED if diagnosis.terminal else Realization.IN_PROGRESS), str(diagnosis)

    def in_sync_note(self, ctx: Context, snap: Snapshot, change: Change) -> str | None:
        diagnosis = explain(ctx, snap[self.kind].live, live_of(snap, "ServiceAttachment"))
        return str(diagnosis) if diagnosis.fix else None

    def observed(self, seen: Seen) -> dict[str, Any]:
        live: EndpointAttachment | None = seen.live
        if live is None:
            return {}
        return {"state": str(live.state), "connection_state": str(live.connection_state), "host": live.host}

    def summary(self, live: Any) -> tuple[str, str | None]:
        if not isinstance(live, EndpointAttachment):
            return "", None
        return f"host {live.host}", f"{live.state}/{live.connection_state}"

    def apply(self, ctx: Context, change: Change, snap: Snapshot, step: Step) -> Any:
        spec = ctx.spec
        apigee = ctx.clients.apigee
        name = self.name(spec)
        if change.action is Action.CREATE:
            with step.org_lock():
                try:
                    operation = apigee.endpoint_attachments.create(
                        name,
                        location=spec.region,
                        service_attachment=spec.service_attachment_path,
                        timeout=ctx.timeout,
                        progress=step.waiting(),
                    )
                except errors.AlreadyExists:
                    logger.info("apply: endpoint attachment %s already exists; adopting it", name)
                else:
                    step.event("waiting", f"operation {operation.name}", state=operation.state)
                    finished = apigee.operations.wait(operation, timeout=ctx.timeout, progress=step.waiting())
                    made = finished.result(EndpointAttachment)
                    # The operation answers with the attachment: ACTIVE and ACCEPTED there
                    # (as the waiter would have found it), it needs no other read.
                    if made is not None and made.ready and made.name == name:
                        return made
        elif change.operation:
            apigee.operations.wait(change.operation, timeout=ctx.timeout, progress=step.waiting())

        def with_service_attachment(attachment: EndpointAttachment) -> Diagnosis:
            service_attachment = read_or_error(
                lambda: ctx.clients.compute.service_attachments.get(spec.service_attachment.name)
            ).live
            return explain(ctx, attachment, service_attachment)

        return apigee.endpoint_attachments.wait_until_ready(
            name, timeout=ctx.timeout, progress=step.waiting(), explain=with_service_attachment
        )

    def delete(self, ctx: Context, seen: Seen, step: Step) -> None:
        attachments = ctx.clients.apigee.endpoint_attachments
        delete_apigee(ctx, step, self.name(ctx.spec), attachments.delete, attachments.wait_until_deleted)


def diagnose_attachment(
    organization: str, name: str, *, apigee: ApigeeClient | None = None, **options: Any
) -> tuple[EndpointAttachment, Diagnosis]:
    """Read an endpoint attachment and explain its connection state, with the same diagnosis
    as status and apply: the service attachment it points to is read too when the credentials
    allow (else the diagnosis relies on the attachment alone). ``options`` are client options."""
    from apigee_psc import names
    from apigee_psc.apigee import ApigeeClient
    from apigee_psc.compute import ComputeClient

    client = apigee or ApigeeClient(organization, **options)
    attachment = client.endpoint_attachments.get(name)

    def read_service_attachment() -> Any:
        project, region, sa_name = names.parse_service_attachment(attachment.service_attachment)
        return ComputeClient(project, region, **options).service_attachments.get(sa_name)

    seen = read_or_error(read_service_attachment)
    if seen.error is not None:
        logger.info("diagnose: service attachment %s not read: %s", attachment.service_attachment, seen.error)
    diagnosis = diagnose_connection(
        attachment.connection_state,
        apigee_project_id=client.apigee_project_id(),
        service_attachment=attachment.service_attachment,
        live_service_attachment=seen.live,
    )
    return attachment, diagnosis
