"""Service attachments: create, and in-place changes to their consumers with a JSON merge
patch that carries the fingerprint (re-read and recomputed when it is stale)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, cast

from apigee_psc import errors, names
from apigee_psc._retry import RereadPolicy
from apigee_psc.compute._base import DEFAULT_WAIT, Collection, Kind
from apigee_psc.compute.models import (
    ComputeOperation,
    ConnectionPreference,
    ConsumerProjectLimit,
    ServiceAttachment,
    relative,
)

if TYPE_CHECKING:
    # Named only in the string type arguments of the collections' bases, which ruff does not read.
    from google.cloud.compute_v1.types import compute  # noqa: F401

__all__ = ["FINGERPRINT_STALE", "ServiceAttachments"]

logger = logging.getLogger("apigee_psc.compute")

Patch = dict[str, object]


def _is_stale_fingerprint(error: BaseException) -> bool:
    return isinstance(error, errors.FailedPrecondition) and (
        error.status_code == 412 or error.reason == "conditionNotMet"
    )


#: A PATCH whose fingerprint is stale (412 ``conditionNotMet``) re-reads the attachment and
#: recomputes the change: up to 5 times within 30 s.
FINGERPRINT_STALE = RereadPolicy(
    "compute: service attachment", _is_stale_fingerprint, attempts=5, initial=0.2, maximum=2.0, deadline=30.0
)


def _consumer(project: object, field: str) -> str:
    if isinstance(project, str) and project.isdigit():
        return project
    return names.validate_project_id(project, field)


def _limit(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise errors.ValidationError(field, value, "a connection limit: an integer of at least 0")
    return value


def _preference(value: object) -> ConnectionPreference:
    allowed = {ConnectionPreference.ACCEPT_AUTOMATIC.value, ConnectionPreference.ACCEPT_MANUAL.value}
    if not isinstance(value, str) or str(value) not in allowed:
        raise errors.ValidationError(
            "service_attachment.connection_preference", value, "ACCEPT_AUTOMATIC or ACCEPT_MANUAL"
        )
    return ConnectionPreference(str(value))


def _accept_entries(values: Iterable[ConsumerProjectLimit | str]) -> tuple[ConsumerProjectLimit, ...]:
    field = "service_attachment.consumer_accept_lists"
    entries: list[ConsumerProjectLimit] = []
    for value in values:
        if isinstance(value, ConsumerProjectLimit):
            if value.project is not None:
                _consumer(value.project, field)
            _limit(value.connection_limit, f"{field}.connection_limit")
            entries.append(value)
        else:
            entries.append(ConsumerProjectLimit(_consumer(value, field), 10))
    return tuple(entries)


def _lists_field(accept: object) -> str:
    return f"service_attachment.consumer_{'accept' if accept else 'reject'}_lists"


def _check_lists_allowed(current: ServiceAttachment, patch: Mapping[str, object]) -> None:
    """Refuse, before writing, a PATCH that would leave ACCEPT_AUTOMATIC with consumer lists:
    Google answers 400 "Incorrect combination of connection preference with accept and/or
    reject list" (terraform-provider-google #17153)."""
    if patch.get("connectionPreference", str(current.connection_preference)) != "ACCEPT_AUTOMATIC":
        return
    accept = patch.get("consumerAcceptLists", [e.to_api() for e in current.consumer_accept_lists])
    reject = patch.get("consumerRejectLists", list(current.consumer_reject_lists))
    if accept or reject:
        raise errors.ValidationError(
            _lists_field(accept),
            accept or reject,
            "empty when connection_preference is ACCEPT_AUTOMATIC (switch to ACCEPT_MANUAL to list consumers)",
        )


class ServiceAttachments(Collection["compute.ServiceAttachment", ServiceAttachment]):
    """Service attachments of the client's region, and in-place changes to their consumers.

    Changes (:meth:`set_connection_preference`, :meth:`accept_project`, :meth:`reject_project`,
    :meth:`remove_project`, :meth:`update`) read the attachment, compute a JSON merge patch
    and send it with ``name``, ``enableProxyProtocol`` and the current fingerprint (as the
    Terraform provider's update encoder does); a stale fingerprint re-reads and tries again
    (:data:`FINGERPRINT_STALE`). They return ``None`` without any write when nothing would change.
    """

    _kind = Kind(
        "serviceAttachments",
        "service_attachment",
        "service_attachments",
        "ServiceAttachmentsClient",
        "service_attachment",
        True,
        ServiceAttachment.from_proto,
    )

    def create(
        self,
        name: str,
        *,
        target_service: str,
        nat_subnets: Sequence[str],
        connection_preference: ConnectionPreference | str = ConnectionPreference.ACCEPT_AUTOMATIC,
        consumer_accept_lists: Iterable[ConsumerProjectLimit | str] = (),
        consumer_reject_lists: Iterable[str] = (),
        enable_proxy_protocol: bool = False,
        domain_names: Sequence[str] = (),
        reconcile_connections: bool | None = None,
        description: str = "",
        propagated_connection_limit: int | None = None,
        wait: bool = True,
        timeout: float = DEFAULT_WAIT,
    ) -> ComputeOperation:
        """Create a service attachment publishing ``target_service`` (the producer forwarding
        rule, name or URL) through ``nat_subnets`` (names or URLs).

        ``consumer_accept_lists`` takes :class:`ConsumerProjectLimit` or plain project ids
        (limit 10); accept and reject lists need ``ACCEPT_MANUAL``. ``domain_names`` end with
        a dot. ``reconcile_connections`` makes later list changes apply to connections that
        are already ACCEPTED or REJECTED. ``propagated_connection_limit`` (0 allowed) caps the
        NCC spokes each consumer's endpoints are propagated to (Google's default: 250).
        """
        names.validate_compute_name(name, "service_attachment.name")
        spokes = _spokes(propagated_connection_limit)
        preference = _preference(connection_preference)
        accept = _accept_entries(consumer_accept_lists)
        reject = tuple(_consumer(p, "service_attachment.consumer_reject_lists") for p in consumer_reject_lists)
        if (accept or reject) and preference is ConnectionPreference.ACCEPT_AUTOMATIC:
            raise errors.ValidationError(
                _lists_field(accept),
                [entry.project for entry in accept] if accept else list(reject),
                "empty unless connection_preference is ACCEPT_MANUAL",
            )
        subnets = tuple(
            self._b.reference(subnet, "subnetworks", regional=True, field="service_attachment.nat_subnets")
            for subnet in nat_subnets
        )
        if not subnets:
            raise errors.ValidationError("service_attachment.nat_subnets", [], "at least one NAT subnet")
        for domain in domain_names:
            names.validate_domain(domain, "service_attachment.domain_names")
        attachment = ServiceAttachment(
            name=name,
            connection_preference=preference,
            target_service=self._b.reference(
                target_service, "forwardingRules", regional=True, field="service_attachment.target_service"
            ),
            nat_subnets=subnets,
            consumer_accept_lists=accept,
            consumer_reject_lists=reject,
            enable_proxy_protocol=bool(enable_proxy_protocol),
            domain_names=tuple(domain_names),
            reconcile_connections=reconcile_connections,
            propagated_connection_limit=spokes,
            description=names.validate_description(description, "service_attachment.description")
            if description
            else "",
        )
        return self._insert(attachment.to_proto(), name, wait=wait, timeout=timeout)

    def set_connection_preference(
        self, name: str, preference: ConnectionPreference | str, *, wait: bool = True, timeout: float = DEFAULT_WAIT
    ) -> ComputeOperation | None:
        """Switch to ``ACCEPT_AUTOMATIC`` or ``ACCEPT_MANUAL``.

        Switching to ``ACCEPT_AUTOMATIC`` also clears the accept and reject lists (sent as an
        explicit ``[]``): Compute only allows them with ``ACCEPT_MANUAL``. Returns ``None`` if
        already so.
        """
        return self.update(name, connection_preference=_preference(preference), wait=wait, timeout=timeout)

    def accept_project(
        self, name: str, project: str, limit: int = 10, *, wait: bool = True, timeout: float = DEFAULT_WAIT
    ) -> ComputeOperation | None:
        """Accept-list ``project`` (id or number) with ``limit`` connections, taking it off the
        reject list. Returns ``None`` if it is already accepted with that limit."""
        project, limit = _consumer(project, "project"), _limit(limit, "limit")

        def change(current: ServiceAttachment) -> Patch:
            patch: Patch = {}
            if project in current.consumer_reject_lists:
                patch["consumerRejectLists"] = [p for p in current.consumer_reject_lists if p != project]
            if current.accepted_projects.get(project) != limit:
                entries = [e for e in current.consumer_accept_lists if e.project != project]
                patch["consumerAcceptLists"] = [e.to_api() for e in (*entries, ConsumerProjectLimit(project, limit))]
            return patch

        return self._change(name, change, wait=wait, timeout=timeout)

    def reject_project(
        self, name: str, project: str, *, wait: bool = True, timeout: float = DEFAULT_WAIT
    ) -> ComputeOperation | None:
        """Put ``project`` on the reject list, taking it off the accept list. Returns ``None``
        if it is already rejected and not accepted."""
        project = _consumer(project, "project")

        def change(current: ServiceAttachment) -> Patch:
            patch = self._without(current, project, reject_list=False)
            if project not in current.consumer_reject_lists:
                patch["consumerRejectLists"] = [*current.consumer_reject_lists, project]
            return patch

        return self._change(name, change, wait=wait, timeout=timeout)

    def remove_project(
        self, name: str, project: str, *, wait: bool = True, timeout: float = DEFAULT_WAIT
    ) -> ComputeOperation | None:
        """Take ``project`` off both the accept and the reject list (an emptied list is sent as
        ``[]``). Returns ``None`` if it is on neither."""
        project = _consumer(project, "project")
        return self._change(name, lambda current: self._without(current, project), wait=wait, timeout=timeout)

    @staticmethod
    def _without(current: ServiceAttachment, project: str, *, reject_list: bool = True) -> Patch:
        patch: Patch = {}
        if reject_list and project in current.consumer_reject_lists:
            patch["consumerRejectLists"] = [p for p in current.consumer_reject_lists if p != project]
        if project in current.accepted_projects:
            patch["consumerAcceptLists"] = [e.to_api() for e in current.consumer_accept_lists if e.project != project]
        return patch

    def update(
        self,
        name: str,
        *,
        connection_preference: ConnectionPreference | str | None = None,
        consumer_accept_lists: Iterable[ConsumerProjectLimit | str] | None = None,
        consumer_reject_lists: Iterable[str] | None = None,
        nat_subnets: Sequence[str] | None = None,
        enable_proxy_protocol: bool | None = None,
        reconcile_connections: bool | None = None,
        propagated_connection_limit: int | None = None,
        wait: bool = True,
        timeout: float = DEFAULT_WAIT,
    ) -> ComputeOperation | None:
        """Replace any of these fields (``None`` leaves a field alone; an empty list clears it).

        Only fields that differ from the current attachment are sent, in one JSON merge
        patch that also carries ``name``, ``enableProxyProtocol`` and the fingerprint.
        Switching to ``ACCEPT_AUTOMATIC`` clears both consumer lists in the same patch
        (non-empty lists with it are a :class:`~apigee_psc.errors.ValidationError`). A
        project's ``connection_limit`` changes by passing its :class:`ConsumerProjectLimit`
        with the new limit. ``reconcile_connections=True`` makes Google apply list changes to
        connections that are already ACCEPTED or REJECTED, not only to new or pending ones.
        Returns ``None`` when nothing differs.
        """
        wanted: Patch = {}
        if connection_preference is not None:
            wanted["connectionPreference"] = _preference(connection_preference).value
        if consumer_accept_lists is not None:
            wanted["consumerAcceptLists"] = [e.to_api() for e in _accept_entries(consumer_accept_lists)]
        if consumer_reject_lists is not None:
            wanted["consumerRejectLists"] = [
                _consumer(p, "service_attachment.consumer_reject_lists") for p in consumer_reject_lists
            ]
        if nat_subnets is not None:
            wanted["natSubnets"] = [
                self._b.reference(s, "subnetworks", regional=True, field="service_attachment.nat_subnets")
                for s in nat_subnets
            ]
        if enable_proxy_protocol is not None:
            wanted["enableProxyProtocol"] = bool(enable_proxy_protocol)
        if reconcile_connections is not None:
            wanted["reconcileConnections"] = bool(reconcile_connections)
        if propagated_connection_limit is not None:
            wanted["propagatedConnectionLimit"] = _spokes(propagated_connection_limit)
        if wanted.get("connectionPreference") == "ACCEPT_AUTOMATIC":
            given = wanted.get("consumerAcceptLists") or wanted.get("consumerRejectLists")
            if given:
                raise errors.ValidationError(
                    _lists_field(wanted.get("consumerAcceptLists")),
                    given,
                    "empty when connection_preference is ACCEPT_AUTOMATIC",
                )
            # Automatic takes no lists: those not given are cleared (an explicit []) in the same PATCH.
            wanted.setdefault("consumerAcceptLists", [])
            wanted.setdefault("consumerRejectLists", [])

        def change(current: ServiceAttachment) -> Patch:
            have: Patch = {
                "connectionPreference": str(current.connection_preference),
                "consumerAcceptLists": [e.to_api() for e in current.consumer_accept_lists],
                "consumerRejectLists": list(current.consumer_reject_lists),
                "natSubnets": [relative(s) for s in current.nat_subnets],
                "enableProxyProtocol": current.enable_proxy_protocol,
                "reconcileConnections": bool(current.reconcile_connections),
                "propagatedConnectionLimit": current.propagated_connection_limit,
            }
            patch: Patch = {}
            for key, value in wanted.items():
                compare = [relative(str(v)) for v in cast("list[str]", value)] if key == "natSubnets" else value
                if have[key] != compare:
                    patch[key] = value
            return patch

        return self._change(name, change, wait=wait, timeout=timeout)

    def _change(
        self, name: str, change: Callable[[ServiceAttachment], Patch], *, wait: bool, timeout: float
    ) -> ComputeOperation | None:
        path = self.path(name)
        started = self._b.clock()

        def cycle() -> ComputeOperation | None:
            current = self.get(name)
            patch = change(current)
            if not patch:
                logger.debug("compute: service attachment %s already as wanted", name)
                return None
            _check_lists_allowed(current, patch)
            # Like the Terraform provider's update encoder: the API validates these on every PATCH.
            body = {"name": current.name, "enableProxyProtocol": current.enable_proxy_protocol, **patch}
            body["fingerprint"] = current.fingerprint
            data = self._b.rest.request(
                "PATCH", f"compute/v1/{path}", params={"requestId": str(uuid.uuid4())}, json=body, deadline=timeout
            )
            return ComputeOperation.from_api(data)

        operation = FINGERPRINT_STALE.call(cycle, sleep=self._b.sleep, clock=self._b.clock)
        if operation is None or not wait:
            return operation
        return self._b.wait_operation(operation, timeout=max(0.0, timeout - (self._b.clock() - started)))


def _spokes(limit: int | None) -> int | None:
    """A checked ``propagatedConnectionLimit`` (a uint32; 0 allowed), or ``None``."""
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= 2**32 - 1:
        raise errors.ValidationError(
            "service_attachment.propagated_connection_limit", limit, "a whole number from 0 to 4294967295"
        )
    return limit
