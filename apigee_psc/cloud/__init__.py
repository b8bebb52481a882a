"""Cloud DNS records, Resource Manager (project number, IAM) and Service Networking.

Three small REST clients over :class:`~apigee_psc._http.Transport`, so they share its
endpoint choice (``endpoint=``, ``APIGEE_PSC_EMULATOR_HOST``), credentials, error mapping
and retries, one module each:

* :mod:`apigee_psc.cloud.dns`: :class:`CloudDnsClient`, ``dns.managed_zones`` and ``dns.records``;
* :mod:`apigee_psc.cloud.resource_manager`: :class:`ResourceManagerClient`,
  ``resource_manager.projects`` (a project's number) and ``resource_manager.iam``;
* :mod:`apigee_psc.cloud.service_networking`: :class:`ServiceNetworkingClient`,
  ``service_networking.peered_dns_domains`` of VPC-peered organizations and its operations.
"""

from __future__ import annotations

from apigee_psc.cloud.dns import DNS_RECORD_STALE, CloudDnsClient, DnsChange, ManagedZone, RecordResult, RecordSet
from apigee_psc.cloud.resource_manager import (
    APIGEE_SERVICE_AGENT_DOMAIN,
    DNS_PEER_ROLE,
    IAM_ETAG_STALE,
    IamBinding,
    IamPolicy,
    ResourceManagerClient,
    apigee_service_agent,
    apigee_service_agent_for,
)
from apigee_psc.cloud.service_networking import PeeredDnsDomain, ServiceNetworkingClient

__all__ = [
    "APIGEE_SERVICE_AGENT_DOMAIN",
    "DNS_PEER_ROLE",
    "DNS_RECORD_STALE",
    "IAM_ETAG_STALE",
    "CloudDnsClient",
    "DnsChange",
    "IamBinding",
    "IamPolicy",
    "ManagedZone",
    "PeeredDnsDomain",
    "RecordResult",
    "RecordSet",
    "ResourceManagerClient",
    "ServiceNetworkingClient",
    "apigee_service_agent",
    "apigee_service_agent_for",
]
