"""One reconciler per kind of resource of a southbound connection.

:data:`RECONCILERS` lists them in plan order (the dependency order); each implements the
small protocol of :class:`~apigee_psc.southbound.resources.base.Reconciler`. The engine
(:mod:`apigee_psc.southbound.engine`) runs them without knowing any kind.
"""

from __future__ import annotations

from apigee_psc.southbound.resources.base import Reconciler
from apigee_psc.southbound.resources.dns_record import DnsRecordReconciler
from apigee_psc.southbound.resources.dns_zone import DnsZoneReconciler
from apigee_psc.southbound.resources.endpoint_attachment import EndpointAttachmentReconciler
from apigee_psc.southbound.resources.firewall import FirewallReconciler
from apigee_psc.southbound.resources.forwarding_rule import ForwardingRuleReconciler
from apigee_psc.southbound.resources.iam_grant import IamGrantReconciler
from apigee_psc.southbound.resources.managed_zone import ManagedZoneReconciler
from apigee_psc.southbound.resources.nat_subnet import NatSubnetReconciler
from apigee_psc.southbound.resources.peered_dns_domain import PeeredDnsDomainReconciler
from apigee_psc.southbound.resources.service_attachment import ServiceAttachmentReconciler

__all__ = ["RECONCILERS", "Reconciler"]

#: Every kind, in plan order (dependencies first).
RECONCILERS: tuple[Reconciler, ...] = (
    ForwardingRuleReconciler(),
    NatSubnetReconciler(),
    FirewallReconciler(),
    ServiceAttachmentReconciler(),
    EndpointAttachmentReconciler(),
    IamGrantReconciler(),
    DnsZoneReconciler(),
    PeeredDnsDomainReconciler(),
    ManagedZoneReconciler(),
    DnsRecordReconciler(),
)
