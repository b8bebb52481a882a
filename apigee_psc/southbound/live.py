"""The objects the reconcilers read and want that are not one API's own resource: the
organization as the engine needs it, the IAM grant, the service attachment's target settings.

Plans carry them (with the APIs' models) as their ``live`` and ``wanted`` values, so they live
below both the plan file's codec and the reconcilers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from apigee_psc import names
from apigee_psc.cloud import DNS_PEER_ROLE
from apigee_psc.compute.models import ConsumerProjectLimit

if TYPE_CHECKING:
    from apigee_psc.models import Organization

__all__ = ["Grant", "OrgInfo", "ServiceAttachmentTarget"]


@dataclass(frozen=True)
class OrgInfo:
    """What the engine needs of the Apigee organization (read once per plan, and carried by
    the :class:`~apigee_psc.southbound.plan.Plan` made from it)."""

    name: str
    apigee_project_id: str | None = None
    disable_vpc_peering: bool = False
    project_id: str | None = None
    authorized_network: str | None = None

    @classmethod
    def of(cls, org: Organization) -> OrgInfo:
        """From the organization as :meth:`ApigeeClient.get_organization` reads it."""
        return cls(org.name, org.apigee_project_id, org.disable_vpc_peering, org.project_id, org.authorized_network)

    @property
    def own_project(self) -> str:
        """The organization's own project (``projectId``), checked: a bad value is reported as
        the organization's, not as the spec's ``project``."""
        project = self.project_id or self.name
        return names.validate_project_id(project, f"projectId of organization {self.name}")

    @property
    def peered_network(self) -> tuple[str, str]:
        """(project, network) of the VPC network peered with Apigee: the organization's
        ``authorizedNetwork`` (``NAME`` in its own project, or ``projects/P/global/networks/NAME``)."""
        parts = (self.authorized_network or "default").strip("/").split("/")
        if "projects" in parts[:-1]:
            return parts[parts.index("projects") + 1], parts[-1]
        return self.own_project, parts[-1]


@dataclass(frozen=True)
class Grant:
    """Whether ``member`` (the Apigee service agent) holds ``role`` on ``project``."""

    member: str
    granted: bool
    role: str = DNS_PEER_ROLE
    project: str = ""


@dataclass(frozen=True)
class ServiceAttachmentTarget:
    """What the service attachment must be: the fields apply sends, computed from the live one.

    ``reconcile_connections`` is ``None`` when the live value is to be left as it is.
    """

    name: str
    connection_preference: str
    consumer_accept_lists: tuple[ConsumerProjectLimit, ...] = ()
    consumer_reject_lists: tuple[str, ...] = ()
    reconcile_connections: bool | None = None
    target_service: str = ""
    nat_subnets: tuple[str, ...] = ()
    enable_proxy_protocol: bool = False
    domain_names: tuple[str, ...] = ()
    description: str = ""
    propagated_connection_limit: int | None = None
