"""The Apigee v1 API, as far as southbound networking needs it.

:class:`ApigeeClient` gives the organization, its endpoint attachments, its DNS peering
zones and its long-running operations, returning the frozen dataclasses of
:mod:`apigee_psc.models` and raising the errors of :mod:`apigee_psc.errors`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from apigee_psc import errors, names, waiters
from apigee_psc._http import ClientKwargs, ClientOptions, Transport
from apigee_psc._retry import OnRetry, RetryEvent
from apigee_psc.diagnosis import Diagnosis, diagnose, is_waitable
from apigee_psc.models import DnsZone, EndpointAttachment, Operation, Organization

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "MAX_PAGE_SIZE",
    "ORGANIZATION_LOCK",
    "ApigeeClient",
    "AttachmentIterator",
    "DnsZones",
    "EndpointAttachments",
    "Operations",
    "organization_lock",
]

logger = logging.getLogger("apigee_psc.apigee")

Progress = Callable[[waiters.WaitProgress], None]
T = TypeVar("T")

#: The largest ``pageSize`` Apigee list calls take (AIP-158's ceiling); without one they answer 25.
MAX_PAGE_SIZE = 1000


def _page_size(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PAGE_SIZE:
        raise errors.ValidationError("page_size", value, f"an integer from 1 to {MAX_PAGE_SIZE}")
    return value


#: ``_path()`` without a name: the collection itself (``None`` is refused as a name).
_COLLECTION: object = object()

#: The ``waiter`` name of the progress reported while a change waits out the organization lock.
ORGANIZATION_LOCK = "ORGANIZATION_LOCK"


def _lock_progress(progress: Progress | None, subject: str) -> OnRetry | None:
    """Report each wait for the organization lock (or other retry) to a wait's ``progress``."""
    if progress is None:
        return None

    def hook(event: RetryEvent) -> None:
        waiter = ORGANIZATION_LOCK if event.cause == "organization_lock" else f"RETRY_{event.cause.upper()}"
        progress(
            waiters.WaitProgress(
                waiter=waiter,
                subject=event.holder or subject,
                state=event.describe(),
                elapsed=event.elapsed,
                polls=event.attempt,
            )
        )

    return hook


_ORG_LOCKS: dict[str, threading.Lock] = {}
_ORG_LOCKS_GUARD = threading.Lock()


def organization_lock(organization: str) -> threading.Lock:
    """The process-wide lock that serialises this library's Apigee operations on one organization.

    Apigee runs one long-running operation at a time per organization; holding this lock
    from a create until its operation is done keeps this process's own calls from colliding.
    Other processes are handled by waiting out the lock error (see :mod:`apigee_psc._http`).
    """
    with _ORG_LOCKS_GUARD:
        return _ORG_LOCKS.setdefault(organization, threading.Lock())


@dataclass(frozen=True)
class _Kind:
    collection: str
    field: str
    validate: Callable[[object, str], str]


class _Collection:
    """What the organization's collections share: the path of a resource (its id or its full
    name in this organization), changes that wait out the organization lock, and waits."""

    _kind: ClassVar[_Kind]

    def __init__(self, client: ApigeeClient) -> None:
        self._client = client

    def _path(self, name: object = _COLLECTION) -> str:
        base = f"v1/{self._client.parent}/{self._kind.collection}"
        if name is _COLLECTION:
            return base
        short = names.own_name(
            name,
            parent=self._client.parent,
            collection=self._kind.collection,
            validate=self._kind.validate,
            field=self._kind.field,
        )
        return f"{base}/{short}"

    def _change(
        self,
        method: str,
        name: str,
        *,
        timeout: float | None,
        progress: Progress | None,
        params: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> Operation:
        """Start a create (``method`` POST, ``name`` the new id) or a delete; the organization
        lock is waited out within ``timeout``, each wait reported to ``progress``."""
        own = self._path(name)
        path, subject = (self._path() if method == "POST" else own), own.removeprefix("v1/")
        data = self._client.transport.request(
            method, path, params=params, json=json, deadline=timeout, on_retry=_lock_progress(progress, subject)
        )
        return Operation.from_api(data)

    def _wait(
        self,
        waiter: waiters.Waiter,
        poll: Callable[[], T],
        name: str,
        *,
        timeout: float,
        schedule: waiters.Schedule | None,
        progress: Progress | None,
        **rules: Any,
    ) -> T | None:
        """Run ``waiter`` on ``poll`` with this client's schedule, clock and sleep."""
        return waiters.wait(
            waiter,
            poll,
            timeout=timeout,
            subject=self._path(name).removeprefix("v1/"),
            schedule=schedule or self._client.schedule,
            progress=progress,
            clock=self._client.clock,
            sleep=self._client.sleep,
            **rules,
        )


class Operations(_Collection):
    """Long-running operations of one organization (``organizations/{org}/operations``)."""

    _kind = _Kind("operations", "operation", names.validate_operation_id)

    def get(self, name: str) -> Operation:
        """Read an operation by its full name or its id."""
        return Operation.from_api(self._client.transport.request("GET", self._path(name)))

    def list(self, *, page_size: int = MAX_PAGE_SIZE) -> Iterator[Operation]:
        """Every operation of the organization, over all pages of ``page_size`` (default 1000)."""
        for item in self._client.transport.paginate(self._path(), "operations", page_size=_page_size(page_size)):
            yield Operation.from_api(item)

    def wait(
        self,
        operation: Operation | str,
        *,
        timeout: float = 1800.0,
        schedule: waiters.Schedule | None = None,
        progress: Progress | None = None,
    ) -> Operation:
        """Wait until ``operation`` is done and return it.

        Raises :class:`~apigee_psc.errors.OperationFailed` if it ended with an error and
        :class:`~apigee_psc.errors.WaitTimeout` (naming the operation, to resume with this
        method) at the deadline. An operation name may be passed to resume a wait.
        """
        name = operation if isinstance(operation, str) else operation.name

        run = partial(
            waiters.wait,
            waiters.OPERATION_DONE,
            lambda: self.get(name),
            timeout=timeout,
            subject=f"{name} ({_describe_target(operation)})" if not isinstance(operation, str) else name,
            schedule=schedule or self._client.schedule,
            operation=name,
            resume=f"ApigeeClient.operations.wait({name!r})",
            progress=progress,
            clock=self._client.clock,
            sleep=self._client.sleep,
        )
        result: Operation | None = run() if isinstance(operation, str) else run(first=operation)
        assert result is not None
        return result


def _describe_target(operation: Operation) -> str:
    kind = operation.operation_type or "operation"
    return f"{kind} {operation.target}" if operation.target else kind


class AttachmentIterator(Iterator[EndpointAttachment]):
    """The endpoint attachments of :meth:`EndpointAttachments.list`, read page by page as
    they are iterated; a notebook displays the ones not iterated yet as an HTML table."""

    def __init__(self, items: Iterator[EndpointAttachment]) -> None:
        self._items = items

    def __iter__(self) -> AttachmentIterator:
        return self

    def __next__(self) -> EndpointAttachment:
        return next(self._items)

    def _repr_html_(self) -> str:
        rest = list(self._items)
        self._items = iter(rest)  # displaying does not use them up
        return EndpointAttachment.html_table(rest)


class EndpointAttachments(_Collection):
    """Endpoint attachments of one organization."""

    _kind = _Kind("endpointAttachments", "endpoint_attachment", names.validate_endpoint_attachment_id)

    def create(
        self,
        name: str,
        *,
        location: str,
        service_attachment: str,
        timeout: float | None = None,
        progress: Progress | None = None,
    ) -> Operation:
        """Start creating endpoint attachment ``name`` for ``service_attachment`` in ``location``.

        Returns the long-running :class:`~apigee_psc.models.Operation` (wait on it with
        ``operations.wait``). Raises :class:`~apigee_psc.errors.AlreadyExists` if the id is
        taken. The organization lock is waited out for up to ``timeout`` seconds (default:
        the retry policy's ``lock_deadline``), each wait reported to ``progress`` as a
        :class:`~apigee_psc.waiters.WaitProgress` whose ``waiter`` is ``"ORGANIZATION_LOCK"``;
        then :class:`~apigee_psc.errors.LockTimeout` names the operation holding it.
        """
        names.validate_endpoint_attachment_id(name, "endpoint_attachment")
        names.validate_region(location, "location")
        sa = names.validate_service_attachment(service_attachment)
        body = EndpointAttachment(name=name, location=location, service_attachment=sa).to_api()
        logger.info("apigee: creating endpoint attachment %s -> %s", name, sa)
        return self._change(
            "POST", name, params={"endpointAttachmentId": name}, json=body, timeout=timeout, progress=progress
        )

    def get(self, name: str) -> EndpointAttachment:
        """Read one endpoint attachment (by id or full name)."""
        return EndpointAttachment.from_api(self._client.transport.request("GET", self._path(name)))

    def list(self, *, page_size: int = MAX_PAGE_SIZE) -> AttachmentIterator:
        """Every endpoint attachment of the organization, over all pages of ``page_size``
        (default 1000, the API's maximum; Apigee answers 25 a page when not asked).

        Lazy: pages are read as you iterate. In a notebook the result displays as a table."""
        pages = self._client.transport.paginate(self._path(), "endpointAttachments", page_size=_page_size(page_size))
        return AttachmentIterator(EndpointAttachment.from_api(item) for item in pages)

    def find_by_service_attachment(
        self, service_attachment: str, *, page_size: int = MAX_PAGE_SIZE
    ) -> EndpointAttachment | None:
        """The endpoint attachment that uses ``service_attachment``, if any (one is allowed per
        org). It scans the organization's attachments ``page_size`` at a time (by default the
        API's maximum, 1000: an organization with 10,000 attachments costs 10 requests)."""
        wanted = names.validate_service_attachment(service_attachment)
        for attachment in self.list(page_size=page_size):
            if _same_service_attachment(attachment.service_attachment, wanted):
                return attachment
        return None

    def delete(self, name: str, *, timeout: float | None = None, progress: Progress | None = None) -> Operation:
        """Start deleting an endpoint attachment; returns the operation. The organization lock
        is waited out as for :meth:`create`."""
        self._path(name)
        logger.info("apigee: deleting endpoint attachment %s", name)
        return self._change("DELETE", name, timeout=timeout, progress=progress)

    def diagnose(self, attachment: EndpointAttachment | str, **context: Any) -> Diagnosis:
        """Explain the attachment's connection state, naming the organization's Apigee project."""
        if isinstance(attachment, str):
            attachment = self.get(attachment)
        apigee_project_id = context.pop("apigee_project_id", None) or self._client.apigee_project_id()
        return diagnose(
            attachment.connection_state,
            apigee_project_id=apigee_project_id,
            service_attachment=attachment.service_attachment or None,
            **context,
        )

    def wait_until_ready(
        self,
        name: str,
        *,
        timeout: float = 1800.0,
        schedule: waiters.Schedule | None = None,
        progress: Progress | None = None,
        explain: Callable[[EndpointAttachment], Diagnosis] | None = None,
    ) -> EndpointAttachment:
        """Wait until the attachment is ACTIVE and its connection ACCEPTED, and return it.

        REJECTED, CLOSED and FROZEN raise :class:`~apigee_psc.errors.ConnectionNotAccepted`
        at once; PENDING, NEEDS_ATTENTION and UNAVAILABLE are waited on and raise it (with
        the diagnosis) if they last until ``timeout``. An attachment that never becomes
        ACTIVE raises :class:`~apigee_psc.errors.WaitTimeout`. ``explain`` makes the
        diagnosis of a connection that is not accepted (by default from the attachment and
        the organization's Apigee project, read then); it runs once per failure.
        """
        self._path(name)
        tenant: list[str | None] = []

        def organization_only(value: EndpointAttachment) -> Diagnosis:
            if not tenant:
                try:
                    tenant.append(self._client.apigee_project_id())
                except errors.ApiError as exc:
                    logger.warning("wait: could not read the organization for the diagnosis: %s", exc)
                    tenant.append(None)
            return diagnose(
                value.connection_state, apigee_project_id=tenant[0], service_attachment=value.service_attachment
            )

        explained: dict[int, Diagnosis] = {}

        def diagnosis_of(value: EndpointAttachment) -> Diagnosis:
            if id(value) not in explained:
                explained[id(value)] = (explain or organization_only)(value)
            return explained[id(value)]

        def failed(value: EndpointAttachment | None, error: BaseException | None) -> BaseException:
            assert value is not None
            if str(value.state) == "DELETING":
                return errors.ConnectionNotAccepted(
                    Diagnosis(value.connection_state, "the endpoint attachment is being deleted", None, terminal=True),
                    attachment=value,
                )
            return errors.ConnectionNotAccepted(diagnosis_of(value), attachment=value)

        def timed_out(value: EndpointAttachment | None, elapsed: float) -> BaseException | None:
            if value is None:
                return None
            diagnosis = diagnosis_of(value)
            if str(value.state) == "ACTIVE" and is_waitable(value.connection_state):
                return errors.ConnectionNotAccepted(diagnosis, attachment=value)
            return errors.WaitTimeout(
                f"endpoint attachment {value.name} to be ACTIVE and ACCEPTED",
                last_state=f"{value.state}/{value.connection_state}",
                elapsed=elapsed,
                diagnosis=diagnosis,
            )

        result = self._wait(
            waiters.ATTACHMENT_READY,
            lambda: self.get(name),
            name,
            timeout=timeout,
            schedule=schedule,
            progress=progress,
            on_failure=failed,
            on_timeout=timed_out,
        )
        assert result is not None
        return result

    def wait_until_deleted(
        self,
        name: str,
        *,
        timeout: float = 7200.0,
        schedule: waiters.Schedule | None = None,
        progress: Progress | None = None,
    ) -> None:
        """Wait until the attachment is gone (deletes have been seen to take up to 2 hours)."""
        self._wait(
            waiters.ATTACHMENT_DELETED,
            lambda: self.get(name),
            name,
            timeout=timeout,
            schedule=schedule,
            progress=progress,
        )


class DnsZones(_Collection):
    """DNS peering zones of one organization."""

    _kind = _Kind("dnsZones", "dns_zone", names.validate_dns_zone_id)

    def create(
        self,
        name: str,
        *,
        domain: str,
        description: str = "",
        target_project_id: str,
        target_network_id: str,
        timeout: float | None = None,
        progress: Progress | None = None,
    ) -> Operation:
        """Start creating a DNS peering zone that resolves ``domain`` in the producer's network.

        The organization's Apigee service agent needs ``roles/dns.peer`` on
        ``target_project_id`` first. Returns the long-running operation. The organization
        lock is waited out as for :meth:`EndpointAttachments.create` (``timeout``, ``progress``).
        """
        names.validate_dns_zone_id(name, "dns_zone")
        names.validate_domain(domain, "domain")
        names.validate_description(description, "description")
        names.validate_project_id(target_project_id, "target_project_id")
        names.validate_compute_name(target_network_id, "target_network_id")
        zone = DnsZone(
            name=name,
            domain=domain,
            description=description or f"apigee-psc peering zone for {domain}",
            target_project_id=target_project_id,
            target_network_id=target_network_id,
        )
        logger.info("apigee: creating DNS zone %s for %s", name, domain)
        return self._change(
            "POST", name, params={"dnsZoneId": name}, json=zone.to_api(), timeout=timeout, progress=progress
        )

    def get(self, name: str) -> DnsZone:
        """Read one DNS zone."""
        return DnsZone.from_api(self._client.transport.request("GET", self._path(name)))

    def list(self, *, page_size: int = MAX_PAGE_SIZE) -> Iterator[DnsZone]:
        """Every DNS zone of the organization, over all pages of ``page_size`` (default 1000)."""
        for item in self._client.transport.paginate(self._path(), "dnsZones", page_size=_page_size(page_size)):
            yield DnsZone.from_api(item)

    def delete(self, name: str, *, timeout: float | None = None, progress: Progress | None = None) -> Operation:
        """Start deleting a DNS zone; returns the operation. The organization lock is waited
        out as for :meth:`EndpointAttachments.create`."""
        self._path(name)
        logger.info("apigee: deleting DNS zone %s", name)
        return self._change("DELETE", name, timeout=timeout, progress=progress)

    def wait_until_active(
        self,
        name: str,
        *,
        timeout: float = 1800.0,
        schedule: waiters.Schedule | None = None,
        progress: Progress | None = None,
    ) -> DnsZone:
        """Wait until the zone is ACTIVE and return it."""
        result = self._wait(
            waiters.DNS_ZONE_ACTIVE, lambda: self.get(name), name, timeout=timeout, schedule=schedule, progress=progress
        )
        assert result is not None
        return result

    def wait_until_deleted(
        self,
        name: str,
        *,
        timeout: float = 1800.0,
        schedule: waiters.Schedule | None = None,
        progress: Progress | None = None,
    ) -> None:
        """Wait until the zone is gone."""
        self._wait(
            waiters.DNS_ZONE_DELETED,
            lambda: self.get(name),
            name,
            timeout=timeout,
            schedule=schedule,
            progress=progress,
        )


def _same_service_attachment(a: str, b: str) -> bool:
    try:
        return names.parse_service_attachment(a) == names.parse_service_attachment(b)
    except errors.ValidationError:
        return a == b


class ApigeeClient:
    """Client of one Apigee organization.

    ``organization`` is the organization id (``my-organization``). ``schedule`` is the
    default polling schedule of every wait (``DEFAULT_SCHEDULE``, or ``FAST_SCHEDULE``
    against a plain-http emulator). The other keyword arguments are the options every client
    takes (:class:`~apigee_psc._http.ClientOptions`): ``credentials`` (Application Default
    Credentials unless given), ``quota_project_id``, ``endpoint`` (or
    ``APIGEE_PSC_EMULATOR_HOST``), ``retry`` (the :class:`~apigee_psc._retry.RetryPolicy` of
    every request), ``on_retry`` (hears of every retry, a
    :class:`~apigee_psc._retry.RetryEvent`), ``timeout`` (seconds a request waits for its
    answer) and ``sleep`` / ``clock`` (injectable for tests).
    """

    def __init__(
        self,
        organization: str,
        *,
        schedule: waiters.Schedule | None = None,
        transport: Transport | None = None,
        **options: Unpack[ClientKwargs],
    ) -> None:
        self.organization = names.validate_organization(organization)
        self.parent = f"organizations/{self.organization}"
        self.options = ClientOptions(**options)
        self.sleep = self.options.sleep
        self.clock = self.options.clock
        self.transport = transport or self.options.transport("apigee")
        #: Against the emulator, operations take a second, not minutes: poll fast unless told otherwise.
        self.schedule = schedule or (waiters.FAST_SCHEDULE if self.transport.is_emulator else waiters.DEFAULT_SCHEDULE)
        self.endpoint_attachments = EndpointAttachments(self)
        """The organization's endpoint attachments (:class:`EndpointAttachments`): ``create``,
        ``get``, ``list``, ``wait_until_ready``, ``diagnose``, ``delete``."""
        self.dns_zones = DnsZones(self)
        """The organization's DNS peering zones (:class:`DnsZones`)."""
        self.operations = Operations(self)
        """The organization's long-running operations (:class:`Operations`): ``get``, ``wait``."""
        self._organization: Organization | None = None

    @property
    def lock(self) -> threading.Lock:
        """This process's lock for Apigee operations on the organization."""
        return organization_lock(self.organization)

    def get_organization(self) -> Organization:
        """Read the organization (``apigeeProjectId``, ``disableVpcPeering``, ...)."""
        org = Organization.from_api(self.transport.request("GET", f"v1/{self.parent}"))
        self._organization = org
        return org

    def organization_info(self) -> Organization:
        """The organization as last read (read once if it never was)."""
        return self._organization if self._organization is not None else self.get_organization()

    def apigee_project_id(self) -> str | None:
        """The organization's ``apigeeProjectId`` (read once, then remembered)."""
        return self.organization_info().apigee_project_id

    def close(self) -> None:
        """Close the HTTP session."""
        self.transport.close()

    def __enter__(self) -> ApigeeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ApigeeClient({self.organization!r}, endpoint={self.transport.root_url!r})"
