"""What every Compute collection shares: the backend (endpoint, credentials, cached
google-cloud-compute clients, calls, mutations and operation waits) and the generic
collection (get, list, delete and the insert behind each ``create``)."""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Generic, TypeVar, cast

from apigee_psc import errors, names, waiters
from apigee_psc._endpoints import endpoint_source, resolve_endpoint, unreachable_warning
from apigee_psc._http import ClientOptions, Transport, credentials_for
from apigee_psc._retry import RetryPolicy, retry_call
from apigee_psc.compute import _gapic
from apigee_psc.compute.models import ComputeOperation

if TYPE_CHECKING:
    import google.auth.credentials
    from google.cloud.compute_v1.types import compute
    from proto import Message


__all__ = ["DEFAULT_WAIT", "LONG_POLL_SCHEDULE", "MAX_PAGE", "OPERATION_LINK", "Backend", "Collection", "Kind"]

logger = logging.getLogger("apigee_psc.compute")
#: Polls of an operation are server-side long polls, so the client side barely waits between them.
LONG_POLL_SCHEDULE = waiters.Schedule(windows=((0.0, 0.01),), grow_after=1.0, multiplier=2.0, maximum=1.0)

_WAIT_CALL_TIMEOUT = 150.0  # regionOperations.wait holds a request for up to ~2 minutes
DEFAULT_WAIT = 600.0
MAX_PAGE = 500  # Compute's maxResults ceiling
OPERATION_LINK = re.compile(
    r"projects/(?P<project>[^/]+)/(?:regions/(?P<region>[^/]+)|global)/operations/(?P<op>[^/?]+)"
)

M = TypeVar("M")
R = TypeVar("R")


@dataclass(frozen=True)
class Kind(Generic[M, R]):
    """How one collection maps onto google-cloud-compute: its URL segment, its service
    module and client, the request key of a resource's name, and its conversion."""

    collection: str
    field: str
    module: str
    client: str
    key: str
    regional: bool
    convert: Callable[[M], R]


class Backend:
    """What every collection shares: endpoint, credentials, cached clients, calls and waits."""

    def __init__(self, project: str, region: str, options: ClientOptions) -> None:
        self.project, self.region, self.options = project, region, options
        self.root_url, self.is_emulator = resolve_endpoint("compute", options.endpoint)
        self.chosen_by = endpoint_source(options.endpoint)  # None: Google's own endpoint
        self.on_retry = unreachable_warning(self.root_url, self.chosen_by, options.on_retry)
        self.retry = options.retry or RetryPolicy()
        self.timeout, self.sleep, self.clock = options.read_timeout, options.sleep, options.clock
        self._credentials: google.auth.credentials.Credentials | None = None
        self._clients: dict[str, object] = {}
        self._rest: Transport | None = None
        self._lock = threading.RLock()

    @property
    def credentials(self) -> google.auth.credentials.Credentials:
        """Credentials resolved once (anonymous for the emulator, else given or ADC)."""
        with self._lock:
            if self._credentials is None:
                given = self.options
                self._credentials = credentials_for(given.credentials, given.quota_project_id, self.is_emulator)
            return self._credentials

    def service(self, module: str, client: str) -> object:
        """The google-cloud-compute client of service ``module``, built once with our endpoint."""
        with self._lock:
            if module not in self._clients:
                self._clients[module] = _gapic.service(
                    module, client, credentials=self.credentials, api_endpoint=self.root_url.rstrip("/")
                )
            return self._clients[module]

    @property
    def rest(self) -> Transport:
        """This library's transport to the same endpoint, for raw JSON merge patches."""
        with self._lock:
            if self._rest is None:
                self._rest = replace(
                    self.options,
                    credentials=self.credentials,
                    endpoint=self.root_url,
                    retry=self.retry,
                    on_retry=self.on_retry,
                ).transport("compute")
                self._rest.endpoint_source = None  # self.on_retry already warns, naming the real source
                self._rest.chosen_by = self.chosen_by
            return self._rest

    def scope(self, regional: bool, project: str | None = None, region: str | None = None) -> str:
        """``projects/{p}/regions/{r}`` or ``projects/{p}/global``."""
        where = f"regions/{region or self.region}" if regional else "global"
        return f"projects/{project or self.project}/{where}"

    def reference(self, value: str, collection: str, *, regional: bool, field: str) -> str:
        """A reference to another resource: a URL or path is kept; a bare name is validated and
        turned into ``projects/...`` in this client's project (and region)."""
        if not isinstance(value, str) or not value:
            raise errors.ValidationError(field, value, f"a {collection} name or URL")
        if "/" in value:
            return value
        return f"{self.scope(regional)}/{collection}/{names.validate_compute_name(value, field)}"

    def call(
        self, fn: Callable[[], M], *, method: str, path: str, mutating: bool = False, timeout: float | None = None
    ) -> M:
        """Run one google-cloud-compute call with errors mapped and retries applied; on a
        mutation, another operation on the resource (409 ``operationInProgress``, 400
        ``resourceNotReady``) is waited out, within ``timeout`` seconds when given."""
        url = f"{self.root_url}compute/v1/{path}"

        def once() -> M:
            try:
                return fn()
            except Exception as exc:
                mapped = _gapic.map_exception(exc, method, url)
                if mapped is exc:
                    raise
                raise mapped from None

        return retry_call(
            once,
            policy=self.retry,
            wait_out_lock=mutating,
            what=f"{method} {url}",
            sleep=self.sleep,
            clock=self.clock,
            timeout=timeout,
            on_retry=self.on_retry,
            chosen=(self.root_url, self.chosen_by),
        )

    def mutate(
        self,
        send: Callable[[str], compute.Operation],
        *,
        method: str,
        path: str,
        wait: bool,
        timeout: float,
        created: str | None = None,
    ) -> ComputeOperation:
        """Send one mutation with a fresh ``requestId`` (reused by its retries), then wait, all
        within ``timeout``. ``created`` names the resource being inserted: an ALREADY_EXISTS
        answer (or operation error) raises :class:`~apigee_psc.errors.AlreadyExists` with it."""
        request_id = str(uuid.uuid4())
        started = self.clock()
        try:
            answer = self.call(lambda: send(request_id), method=method, path=path, mutating=True, timeout=timeout)
        except errors.AlreadyExists as exc:
            exc.resource_name = created or exc.resource_name
            raise
        operation = ComputeOperation.from_proto(answer)
        logger.debug("compute: %s %s -> operation %s (requestId %s)", method, path, operation.name, request_id)
        if not wait:
            return operation
        left = max(0.0, timeout - (self.clock() - started))
        return self.wait_operation(operation, timeout=left, created=created)

    def wait_operation(
        self, operation: ComputeOperation, *, timeout: float = DEFAULT_WAIT, created: str | None = None
    ) -> ComputeOperation:
        """Wait until ``operation`` is DONE with ``*Operations.wait`` long polls; raise if it failed."""
        link = OPERATION_LINK.search(operation.self_link or "")
        project = link.group("project") if link else self.project
        if project != self.project:
            raise errors.ValidationError("operation", operation.self_link, f"an operation of project {self.project}")
        region = (link.group("region") if link else operation.region) or None
        request: _gapic.Request = {"project": project, "operation": operation.name}
        if region:
            request["region"] = region
        module, client = (
            ("region_operations", "RegionOperationsClient")
            if region
            else ("global_operations", "GlobalOperationsClient")
        )
        api = cast("_gapic.OperationsService", self.service(module, client))
        path = f"{self.scope(bool(region), project, region)}/operations/{operation.name}/wait"
        full_name = path.removesuffix("/wait")

        def poll() -> ComputeOperation:
            answer = self.call(
                lambda: api.wait(request, timeout=_WAIT_CALL_TIMEOUT, metadata=_gapic.METADATA),
                method="POST",
                path=path,
            )
            return ComputeOperation.from_proto(answer)

        result = waiters.wait(
            waiters.COMPUTE_OPERATION_DONE,
            poll,
            timeout=timeout,
            subject=operation.name,
            schedule=LONG_POLL_SCHEDULE,
            first=operation,
            operation=full_name,
            resume=f"ComputeClient.operations.wait({full_name!r})",
            on_failure=waiters.operation_failure(created),
            clock=self.clock,
            sleep=self.sleep,
        )
        return result if result is not None else operation


class Collection(Generic[M, R]):
    """get/list/delete (and the insert behind each ``create``) for one resource kind."""

    _kind: Kind[M, R]

    def __init__(self, backend: Backend) -> None:
        self._b = backend

    @property
    def _api(self) -> _gapic.Service[M]:
        return cast("_gapic.Service[M]", self._b.service(self._kind.module, self._kind.client))

    def _request(self, **fields: str | int | Message) -> _gapic.Request:
        request: _gapic.Request = {"project": self._b.project}
        if self._kind.regional:
            request["region"] = self._b.region
        request.update(fields)
        return request

    def _own(self, name: object) -> str:
        """The short name of a resource of this client's project (and region): a bare name
        or a full name/URL of its own; anything else is a ValidationError."""
        return names.own_name(
            name,
            parent=self._b.scope(self._kind.regional),
            collection=self._kind.collection,
            validate=names.validate_compute_name,
            field=f"{self._kind.field}.name",
        )

    def _base(self) -> str:
        return f"{self._b.scope(self._kind.regional)}/{self._kind.collection}"

    def path(self, name: str) -> str:
        """``projects/{p}/regions/{r}/{collection}/{name}`` (or ``.../global/...``)."""
        return f"{self._base()}/{self._own(name)}"

    def get(self, name: str) -> R:
        """The resource ``name`` (a name, or its full name in this project/region); raises
        :class:`~apigee_psc.errors.NotFound`."""
        short = self._own(name)
        request = self._request(**{self._kind.key: short})
        message = self._b.call(
            lambda: self._api.get(request, timeout=self._b.timeout, metadata=_gapic.METADATA),
            method="GET",
            path=self.path(short),
        )
        return self._kind.convert(message)

    def list(self, *, page_size: int = MAX_PAGE) -> Iterator[R]:
        """Every resource of the scope, one page request at a time (each retried on its own);
        ``page_size`` defaults to Compute's maximum, 500."""
        if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE:
            raise errors.ValidationError("page_size", page_size, f"an integer from 1 to {MAX_PAGE}")
        token, seen = "", set[str]()
        while True:
            request = self._request(max_results=page_size, **({"page_token": token} if token else {}))
            call = partial(self._api.list, request, timeout=self._b.timeout, metadata=_gapic.METADATA)
            pager = self._b.call(call, method="GET", path=self._base())
            page = next(iter(pager.pages))
            yield from (self._kind.convert(item) for item in page.items)
            token = page.next_page_token
            if not token or token in seen:
                return
            seen.add(token)

    def delete(
        self, name: str, *, wait: bool = True, timeout: float = DEFAULT_WAIT, missing_ok: bool = False
    ) -> ComputeOperation | None:
        """Delete the resource (waiting until it is gone unless ``wait=False``); with
        ``missing_ok`` a missing one returns ``None``."""
        short = self._own(name)

        def send(request_id: str) -> compute.Operation:
            request = self._request(**{self._kind.key: short, "request_id": request_id})
            return self._api.delete_unary(request, timeout=self._b.timeout, metadata=_gapic.METADATA)

        try:
            return self._b.mutate(send, method="DELETE", path=self.path(short), wait=wait, timeout=timeout)
        except errors.NotFound:
            if missing_ok:
                return None
            raise

    def _insert(self, resource: Message, name: str, *, wait: bool, timeout: float) -> ComputeOperation:
        def send(request_id: str) -> compute.Operation:
            request = self._request(**{f"{self._kind.key}_resource": resource, "request_id": request_id})
            return self._api.insert_unary(request, timeout=self._b.timeout, metadata=_gapic.METADATA)

        return self._b.mutate(
            send, method="POST", path=self._base(), wait=wait, timeout=timeout, created=self.path(name)
        )
