"""Service Networking: the peered DNS domains of VPC-peered organizations
(``service_networking.peered_dns_domains``) and its operations.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from apigee_psc import errors, names, waiters
from apigee_psc.models import Operation

if TYPE_CHECKING:
    pass
from apigee_psc.cloud._client import _Client

__all__ = ["PeeredDnsDomain", "ServiceNetworkingClient"]

logger = logging.getLogger("apigee_psc.cloud")

_SERVICE = "servicenetworking.googleapis.com"


@dataclass(frozen=True)
class PeeredDnsDomain:
    """A peered DNS domain: queries for ``dns_suffix`` from the producer (Apigee) network are
    answered in the consumer network."""

    name: str
    dns_suffix: str

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> PeeredDnsDomain:
        """Build from the API's JSON."""
        return cls(name=str(data.get("name", "")).rsplit("/", 1)[-1], dns_suffix=str(data.get("dnsSuffix", "")))


_SN_SCHEDULE = waiters.Schedule.exponential(1.0, 1.5, 10.0)


def _project_number(value: object) -> str:
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not text.isdigit():
        raise errors.ValidationError("project_number", value, "a project number (digits), not a project id")
    return text


class ServiceNetworkingClient(_Client):
    """Service Networking v1: ``peered_dns_domains`` of a consumer network (VPC-peered
    Apigee) and ``operations``.

    Takes ``credentials``, ``quota_project_id``, ``endpoint``, ``retry``, ``timeout``,
    ``sleep`` and ``clock`` like :class:`~apigee_psc._http.Transport`.
    """

    _api = "servicenetworking"

    def _path(self, project_number: str | int, network: str) -> str:
        number = _project_number(project_number)
        names.validate_compute_name(network, "network")
        return f"v1/services/{_SERVICE}/projects/{number}/global/networks/{network}/peeredDnsDomains"

    def _setup(self) -> None:
        self.peered_dns_domains = PeeredDnsDomains(self)
        self.operations = ServiceNetworkingOperations(self)


class PeeredDnsDomains:
    """Peered DNS domains of a consumer network (``service_networking.peered_dns_domains``)."""

    def __init__(self, client: ServiceNetworkingClient) -> None:
        self._c = client

    def create(
        self,
        project_number: str | int,
        network: str,
        name: str,
        dns_suffix: str,
        *,
        wait: bool = True,
        timeout: float = 600.0,
    ) -> Operation:
        """Create peered DNS domain ``name`` for ``dns_suffix`` (``example.com.``) on the
        consumer ``network`` of project ``project_number``; waits on its operation."""
        names.validate_dns_zone_id(name, "peered_dns_domain.name")
        names.validate_domain(dns_suffix, "peered_dns_domain.dns_suffix")
        data = self._c.transport.request(
            "POST", self._c._path(project_number, network), json={"name": name, "dnsSuffix": dns_suffix}
        )
        operation = Operation.from_api(data)
        return self._c.operations.wait(operation, timeout=timeout) if wait else operation

    def list(self, project_number: str | int, network: str) -> list[PeeredDnsDomain]:
        """Every peered DNS domain of the consumer network."""
        data = self._c.transport.request("GET", self._c._path(project_number, network))
        return [PeeredDnsDomain.from_api(item) for item in data.get("peeredDnsDomains") or ()]

    def get(self, project_number: str | int, network: str, name: str) -> PeeredDnsDomain:
        """The peered DNS domain ``name`` (the API has no get: read from the list);
        raises :class:`~apigee_psc.errors.NotFound`."""
        for domain in self.list(project_number, network):
            if domain.name == name:
                return domain
        raise errors.NotFound(
            f"peered DNS domain {name!r} not found",
            method="GET",
            url=self._c.transport.url(self._c._path(project_number, network)),
        )

    def delete(
        self,
        project_number: str | int,
        network: str,
        name: str,
        *,
        wait: bool = True,
        timeout: float = 600.0,
        missing_ok: bool = False,
    ) -> Operation | None:
        """Delete peered DNS domain ``name``; with ``missing_ok`` a missing one returns ``None``."""
        names.validate_dns_zone_id(name, "peered_dns_domain.name")
        try:
            data = self._c.transport.request("DELETE", f"{self._c._path(project_number, network)}/{name}")
        except errors.NotFound:
            if missing_ok:
                return None
            raise
        operation = Operation.from_api(data)
        return self._c.operations.wait(operation, timeout=timeout) if wait else operation


class ServiceNetworkingOperations:
    """Service Networking operations (``service_networking.operations``)."""

    def __init__(self, client: ServiceNetworkingClient) -> None:
        self._c = client

    def wait(self, operation: Operation | str, *, timeout: float = 600.0) -> Operation:
        """Wait until the operation (``operations/...``) is done; raises
        :class:`~apigee_psc.errors.OperationFailed` if it ended with an error."""
        op = operation if isinstance(operation, Operation) else Operation(name=operation)
        if not op.name.startswith("operations/"):
            if op.done and op.error is None:
                return op
            raise errors.ValidationError("operation", op.name, "an operations/... name")

        result = waiters.wait(
            waiters.OPERATION_DONE,
            lambda: Operation.from_api(self._c.transport.request("GET", f"v1/{op.name}")),
            timeout=timeout,
            subject=op.name,
            schedule=_SN_SCHEDULE,
            first=op,
            operation=op.name,
            resume=f"ServiceNetworkingClient.operations.wait({op.name!r})",
            clock=self._c.clock,
            sleep=self._c.sleep,
        )
        return result or op
