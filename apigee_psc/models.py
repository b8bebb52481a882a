"""Frozen dataclasses and ``str`` enums for the resources of the Apigee API.

camelCase lives only in ``from_api()`` / ``to_api()``: everything else is snake_case.
Enum values are the API's own strings, so ``State.ACTIVE == "ACTIVE"``. A value the API
adds later is kept as a plain string rather than failing the read.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from apigee_psc._answers import operation_error
from apigee_psc.errors import ApiError

__all__ = [
    "CONNECTED",
    "FINAL_FAILURES",
    "HOLDING_ENDPOINT_STATUSES",
    "OPEN_ENDPOINT_STATUSES",
    "WAITABLE",
    "ConnectionState",
    "DnsZone",
    "EndpointAttachment",
    "Operation",
    "OperationError",
    "Organization",
    "State",
    "WireEnum",
]


class _FromApi(Protocol):
    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Any: ...


R = TypeVar("R", bound=_FromApi)


class WireEnum(str, enum.Enum):
    """A ``str`` enum whose values are the API's strings and whose ``str()`` is the value."""

    def __str__(self) -> str:
        return str(self.value)


class State(WireEnum):
    """Lifecycle state of an Apigee resource (endpoint attachment, DNS zone, organization)."""

    STATE_UNSPECIFIED = "STATE_UNSPECIFIED"
    CREATING = "CREATING"
    ACTIVE = "ACTIVE"
    DELETING = "DELETING"
    UPDATING = "UPDATING"


class ConnectionState(WireEnum):
    """State of an endpoint attachment's PSC connection to its service attachment."""

    CONNECTION_STATE_UNSPECIFIED = "CONNECTION_STATE_UNSPECIFIED"
    UNAVAILABLE = "UNAVAILABLE"
    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    CLOSED = "CLOSED"
    FROZEN = "FROZEN"
    NEEDS_ATTENTION = "NEEDS_ATTENTION"
    ACCEPTED_LIMITED_CAPACITY = "ACCEPTED_LIMITED_CAPACITY"


def _values(*states: WireEnum) -> frozenset[str]:
    return frozenset(state.value for state in states)


# The one home of the PSC connection-state sets (the emulator keeps its own copy by design).
# Each holds the API's strings: test ``str(state) in CONNECTED``.

#: Connection states that carry traffic: the waits' success.
CONNECTED = _values(ConnectionState.ACCEPTED, ConnectionState.ACCEPTED_LIMITED_CAPACITY)
#: Connection states that waiting cannot fix: a wait fails at once.
FINAL_FAILURES = _values(ConnectionState.REJECTED, ConnectionState.CLOSED, ConnectionState.FROZEN)
#: Connection states that may still turn into ACCEPTED by themselves: a wait goes on.
WAITABLE = _values(
    ConnectionState.PENDING,
    ConnectionState.UNAVAILABLE,
    ConnectionState.NEEDS_ATTENTION,
    ConnectionState.CONNECTION_STATE_UNSPECIFIED,
)
#: Statuses of a service attachment's connected endpoint that are still open (a connection
#: the producer has not closed or rejected, so it counts against a connection limit).
OPEN_ENDPOINT_STATUSES = _values(ConnectionState.ACCEPTED, ConnectionState.PENDING, ConnectionState.NEEDS_ATTENTION)
#: Statuses of a connected endpoint whose connection holds NAT addresses.
HOLDING_ENDPOINT_STATUSES = _values(ConnectionState.ACCEPTED)


def _enum(cls: type[enum.Enum], value: Any, default: Any) -> Any:
    if value is None:
        return default
    try:
        return cls(value)
    except ValueError:
        return str(value)


def _short(name: str) -> str:
    return name.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Organization:
    """An Apigee organization, as far as southbound networking needs it.

    ``authorized_network`` is the VPC network peered with Apigee (``authorizedNetwork``:
    ``NAME`` in the organization's own project, or ``projects/P/global/networks/NAME``);
    ``None`` for an organization without VPC peering.
    """

    name: str
    apigee_project_id: str | None = None
    disable_vpc_peering: bool = False
    project_id: str | None = None
    runtime_type: str | None = None
    state: State | str = State.STATE_UNSPECIFIED
    authorized_network: str | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Organization:
        """Build from the API's JSON (``disableVpcPeering`` may arrive as a bool or ``"true"``)."""
        peering = data.get("disableVpcPeering", False)
        if isinstance(peering, str):
            peering = peering.strip().lower() == "true"
        return cls(
            name=_short(str(data.get("name", ""))),
            apigee_project_id=data.get("apigeeProjectId"),
            disable_vpc_peering=bool(peering),
            project_id=data.get("projectId"),
            runtime_type=data.get("runtimeType"),
            state=_enum(State, data.get("state"), State.STATE_UNSPECIFIED),
            authorized_network=data.get("authorizedNetwork") or None,
        )


@dataclass(frozen=True)
class EndpointAttachment:
    """An Apigee endpoint attachment: the consumer end of a PSC connection.

    ``name`` is the short id (``gkebackend``); ``resource_name`` the full
    ``organizations/{org}/endpointAttachments/{id}``.
    """

    name: str
    location: str
    service_attachment: str
    resource_name: str = ""
    host: str | None = None
    state: State | str = State.STATE_UNSPECIFIED
    connection_state: ConnectionState | str = ConnectionState.CONNECTION_STATE_UNSPECIFIED

    @property
    def ready(self) -> bool:
        """True when ACTIVE and ACCEPTED (or ACCEPTED_LIMITED_CAPACITY): traffic can flow."""
        return self.state == State.ACTIVE and str(self.connection_state) in CONNECTED

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> EndpointAttachment:
        """Build from the API's JSON."""
        resource_name = str(data.get("name", ""))
        return cls(
            name=_short(resource_name),
            resource_name=resource_name,
            location=str(data.get("location", "")),
            service_attachment=str(data.get("serviceAttachment", "")),
            host=data.get("host"),
            state=_enum(State, data.get("state"), State.STATE_UNSPECIFIED),
            connection_state=_enum(
                ConnectionState, data.get("connectionState"), ConnectionState.CONNECTION_STATE_UNSPECIFIED
            ),
        )

    def to_api(self) -> dict[str, Any]:
        """The JSON body that creates this attachment."""
        return {"location": self.location, "serviceAttachment": self.service_attachment}

    _HTML_COLUMNS = ("name", "location", "host", "state", "connection", "service attachment")

    def _html_row(self) -> tuple[str, ...]:
        return (
            self.name,
            self.location,
            self.host or "-",
            str(self.state),
            str(self.connection_state),
            self.service_attachment,
        )

    def _repr_html_(self) -> str:
        """A one-row HTML table (what a notebook shows for an attachment)."""
        return EndpointAttachment.html_table([self])

    @staticmethod
    def html_table(attachments: Iterable[EndpointAttachment]) -> str:
        """An HTML table of attachments, every cell escaped; a notebook shows a list with
        ``IPython.display.HTML(EndpointAttachment.html_table(attachments))``."""
        import html

        head = "".join(f"<th>{html.escape(h)}</th>" for h in EndpointAttachment._HTML_COLUMNS)
        rows = "".join(
            "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in a._html_row()) + "</tr>" for a in attachments
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


@dataclass(frozen=True)
class DnsZone:
    """An Apigee DNS peering zone."""

    name: str
    domain: str
    description: str = ""
    target_project_id: str | None = None
    target_network_id: str | None = None
    resource_name: str = ""
    state: State | str = State.STATE_UNSPECIFIED
    create_time: str | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> DnsZone:
        """Build from the API's JSON."""
        resource_name = str(data.get("name", ""))
        peering = data.get("peeringConfig") or {}
        return cls(
            name=_short(resource_name),
            resource_name=resource_name,
            domain=str(data.get("domain", "")),
            description=str(data.get("description", "")),
            target_project_id=peering.get("targetProjectId"),
            target_network_id=peering.get("targetNetworkId"),
            state=_enum(State, data.get("state"), State.STATE_UNSPECIFIED),
            create_time=data.get("createTime"),
        )

    def to_api(self) -> dict[str, Any]:
        """The JSON body that creates this zone."""
        return {
            "domain": self.domain,
            "description": self.description,
            "peeringConfig": {
                "targetProjectId": self.target_project_id,
                "targetNetworkId": self.target_network_id,
            },
        }


@dataclass(frozen=True)
class OperationError:
    """The ``error`` of a failed operation (a google.rpc.Status)."""

    code: int
    message: str
    details: tuple[Mapping[str, Any], ...] = ()

    def __str__(self) -> str:
        return f"code {self.code}: {self.message}"


@dataclass(frozen=True)
class Operation:
    """A long-running operation of the Apigee API (or Service Networking).

    ``metadata`` and ``response`` are the decoded JSON objects; ``operation_type``,
    ``target`` and ``progress`` read the Apigee ``OperationMetadata``.
    """

    name: str
    done: bool = False
    error: OperationError | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    response: Mapping[str, Any] | None = None

    @property
    def operation_type(self) -> str | None:
        """``INSERT``, ``DELETE`` or ``UPDATE``, when the metadata says."""
        value = self.metadata.get("operationType")
        return str(value) if value else None

    @property
    def target(self) -> str | None:
        """The resource the operation changes (``targetResourceName``)."""
        value = self.metadata.get("targetResourceName")
        return str(value) if value else None

    @property
    def state(self) -> str:
        """A short state for progress: ``DONE``, ``FAILED`` or the metadata state."""
        if self.done:
            return "FAILED" if self.error else "DONE"
        return str(self.metadata.get("state") or "IN_PROGRESS")

    def response_of(self, kind: str) -> Mapping[str, Any] | None:
        """The resource a done operation answers with (its ``response``) if it is of ``kind``
        (the last part of its ``@type``, e.g. ``"DnsZone"``), else ``None``."""
        response = self.response
        if not isinstance(response, Mapping) or not str(response.get("@type", "")).endswith(f".{kind}"):
            return None
        return response

    def result(self, kind: type[R]) -> R | None:
        """The typed resource a done operation answers with (``op.result(DnsZone)``), or
        ``None`` when its ``response`` is not a ``kind``; raises :meth:`exception` if it failed."""
        failure = self.exception()
        if failure is not None:
            raise failure
        response = self.response_of(kind.__name__)
        return None if response is None else kind.from_api(response)

    def exception(self, resource_name: str | None = None) -> ApiError | None:
        """What this operation's ``error`` means as an exception (``None`` if it has none):
        see :func:`~apigee_psc._answers.operation_error`."""
        if self.error is None:
            return None
        return operation_error(
            self.name,
            self.error.message,
            code=self.error.code,
            details=list(self.error.details),
            resource_name=resource_name or self.target,
        )

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Operation:
        """Build from the API's JSON."""
        error = data.get("error")
        return cls(
            name=str(data.get("name", "")),
            done=bool(data.get("done", False)),
            error=(
                OperationError(
                    code=int(error.get("code", 0)),
                    message=str(error.get("message", "")),
                    details=tuple(error.get("details", []) or ()),
                )
                if isinstance(error, Mapping)
                else None
            ),
            metadata=dict(data.get("metadata") or {}),
            response=dict(data["response"]) if isinstance(data.get("response"), Mapping) else None,
        )
