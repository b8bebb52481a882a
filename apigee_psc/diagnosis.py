"""Why an endpoint attachment's connection is in its state, and what to do about it.

:func:`diagnose` turns a ``connectionState`` into a :class:`Diagnosis` with a cause and a
fix, following the troubleshooting table of Apigee's southbound networking guide, for all
nine states of the API. Given the organization's ``apigeeProjectId`` and the service
attachment, the fix names the exact project and attachment to change.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from apigee_psc.models import FINAL_FAILURES, WAITABLE, ConnectionState

__all__ = ["Diagnosis", "diagnose", "diagnose_connection"]

@dataclass(frozen=True)
class Diagnosis:
    """The cause of a connection state and the fix a person can act on.

    ``ok`` is true when traffic can flow; ``terminal`` when waiting will not change the
    state (someone has to act); ``fix`` is ``None`` when there is nothing to do.
    """

    state: ConnectionState | str
    cause: str
    fix: str | None
    ok: bool = False
    terminal: bool = False

    def __str__(self) -> str:
        text = f"connectionState {self.state}: {self.cause}"
        return f"{text}; fix: {self.fix}" if self.fix else text


_UNKNOWN_TENANT = "the Apigee project (the organization's apigeeProjectId)"


def _sa_text(service_attachment: str | None) -> str:
    return service_attachment if service_attachment else "the service attachment"


def diagnose(
    connection_state: ConnectionState | str | None,
    *,
    apigee_project_id: str | None = None,
    service_attachment: str | None = None,
    accept_projects: Iterable[str] | None = None,
    reject_projects: Iterable[str] | None = None,
    connection_preference: str | None = None,
) -> Diagnosis:
    """Explain ``connection_state`` of an endpoint attachment.

    ``apigee_project_id`` is the organization's ``apigeeProjectId`` (the consumer project to
    accept-list) and ``service_attachment`` the producer's
    ``projects/P/regions/R/serviceAttachments/SA``. When the service attachment's lists and
    ``connection_preference`` are given, the cause says what they actually contain.
    """
    raw = str(connection_state or ConnectionState.CONNECTION_STATE_UNSPECIFIED)
    try:
        state: ConnectionState | str = ConnectionState(raw)
    except ValueError:
        state = raw
    tenant = f"'{apigee_project_id}'" if apigee_project_id else _UNKNOWN_TENANT
    sa = _sa_text(service_attachment)
    accepted = set(accept_projects or ())
    rejected = set(reject_projects or ())

    if state == ConnectionState.ACCEPTED:
        return Diagnosis(state, f"{sa} accepted the connection from {tenant}", None, ok=True)
    if state == ConnectionState.ACCEPTED_LIMITED_CAPACITY:
        return Diagnosis(
            state,
            f"{sa} accepted the connection from {tenant}, but it is short of capacity "
            "(its NAT subnets have too few addresses or a connection limit is reached)",
            f"add a NAT subnet to {sa} or raise the connection limit for {tenant}",
            ok=True,
        )
    if state == ConnectionState.PENDING:
        cause = f"{tenant} is on neither the accept list nor the reject list of {sa}"
        if connection_preference == "ACCEPT_AUTOMATIC":
            cause = f"{sa} accepts automatically, but the connection from {tenant} is still being set up"
            return Diagnosis(state, cause, "wait a few minutes; if it stays PENDING, describe the service attachment")
        if apigee_project_id and apigee_project_id in accepted:
            cause = f"{tenant} is on the accept list of {sa} but its connection limit may be used up"
            return Diagnosis(state, cause, f"raise the connection limit for {tenant} on {sa}")
        return Diagnosis(
            state,
            cause,
            f"add {tenant} to the accept list of {sa} (or switch it to ACCEPT_AUTOMATIC)",
        )
    if state == ConnectionState.REJECTED:
        if apigee_project_id and apigee_project_id in rejected:
            cause = f"{sa} rejected the connection from {tenant} (it is on the reject list)"
        elif connection_preference == "ACCEPT_AUTOMATIC" or (apigee_project_id and apigee_project_id in accepted):
            cause = (
                f"{sa} rejected the connection from {tenant} earlier; its lists accept it now, but Google keeps "
                "a decided connection as it is unless the service attachment has reconcileConnections"
            )
        else:
            cause = f"{sa} rejected the connection from {tenant}"
        return Diagnosis(
            state,
            cause,
            f"remove {tenant} from the reject list of {sa}, add it to the accept list and set reconcileConnections"
            " to true in the same change (or delete and recreate the endpoint attachment)",
            terminal=True,
        )
    if state == ConnectionState.FROZEN:
        return Diagnosis(
            state,
            f"{sa} is suspended or disabled, so the connection from {tenant} is frozen",
            f"describe {sa} (gcloud compute service-attachments describe) to see why, and re-enable it",
            terminal=True,
        )
    if state == ConnectionState.CLOSED:
        return Diagnosis(
            state,
            f"{sa} was deleted, which closed the connection from {tenant}",
            "recreate the service attachment, then delete and recreate the endpoint attachment",
            terminal=True,
        )
    if state == ConnectionState.NEEDS_ATTENTION:
        return Diagnosis(
            state,
            f"{sa} accepted the connection from {tenant}, but something on the service attachment needs attention",
            f"describe {sa} and check its connected endpoints, NAT subnets and forwarding rule",
        )
    if state == ConnectionState.UNAVAILABLE:
        return Diagnosis(
            state,
            f"the state of the connection from {tenant} to {sa} is not available yet, "
            "which is usual while the attachment is provisioned",
            "wait a few minutes and read the state again",
        )
    if state == ConnectionState.CONNECTION_STATE_UNSPECIFIED:
        return Diagnosis(
            state,
            f"the API reported no state yet for the connection from {tenant} to {sa} "
            "(the endpoint attachment is probably still being created)",
            "wait until the endpoint attachment is ACTIVE, then read the state again",
        )
    return Diagnosis(
        state,
        f"the connection from {tenant} to {sa} is in a state this version of apigee-psc does not know",
        f"describe the endpoint attachment and {sa}",
    )


def diagnose_connection(
    connection_state: ConnectionState | str | None,
    *,
    apigee_project_id: str | None,
    service_attachment: str | None,
    live_service_attachment: Any = None,
) -> Diagnosis:
    """The one diagnosis of an endpoint attachment's connection, used alike by status, by
    apply's failure and by ``apigee-psc diagnose``: :func:`diagnose` with the service
    attachment's real preference and lists when it could be read (``live_service_attachment``,
    a :class:`~apigee_psc.compute.ServiceAttachment`), or without them."""
    live = live_service_attachment
    return diagnose(
        connection_state,
        apigee_project_id=apigee_project_id,
        service_attachment=service_attachment,
        accept_projects=list(live.accepted_projects) if live is not None else None,
        reject_projects=list(live.consumer_reject_lists) if live is not None else None,
        connection_preference=str(live.connection_preference) if live is not None else None,
    )


def is_terminal(connection_state: ConnectionState | str | None) -> bool:
    """True for states that waiting cannot fix (REJECTED, CLOSED, FROZEN)."""
    return str(connection_state) in FINAL_FAILURES


def is_waitable(connection_state: ConnectionState | str | None) -> bool:
    """True for states that may still turn into ACCEPTED by themselves."""
    return str(connection_state or "CONNECTION_STATE_UNSPECIFIED") in WAITABLE
