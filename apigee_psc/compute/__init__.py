"""The producer side of a PSC connection: a typed facade over google-cloud-compute.

:class:`ComputeClient` ``(project, region)`` exposes the collections the seed drives with
``gcloud compute ...``: ``subnets`` (the PSC NAT subnet), ``firewalls``, ``forwarding_rules``,
``service_attachments`` and, for setting up a producer, ``networks``, ``health_checks`` and
``backend_services``. Every method returns this package's frozen dataclasses (never
proto-plus objects) and raises :mod:`apigee_psc.errors`.

How it talks to Compute:

* :mod:`._gapic` imports only the google-cloud-compute services a call needs, on first use
  (``import google.cloud.compute_v1`` alone takes about a second), and builds REST clients
  with this library's endpoint, credentials and user agent.
* One generic collection (:mod:`._base`) implements get/list/delete and the insert behind
  each ``create`` for every kind; :mod:`.client` adds each kind's ``create``,
  :mod:`.attachments` the service attachment's in-place changes, and :mod:`.models` converts
  google-cloud-compute messages to and from the dataclasses.
* Only the ``*_unary`` methods are called: an operation is waited on with
  ``regionOperations.wait`` / ``globalOperations.wait`` (a server-side long poll) through
  clients built with the same endpoint, never ``ExtendedOperation.result()``.
* Every mutation carries a ``requestId`` UUID that is reused when the same request is
  retried, so a retried insert is never applied twice; another operation still running on
  the resource (409 ``operationInProgress``) is waited out within the call's ``timeout``.
* Service attachments are changed in place with a JSON merge patch carrying the current
  fingerprint, sent over this library's own :class:`~apigee_psc._http.Transport`:
  google-cloud-compute drops empty repeated fields from request bodies, so it cannot clear
  a list; the merge patch sends an explicit ``[]``.
"""

from apigee_psc.compute._base import LONG_POLL_SCHEDULE
from apigee_psc.compute.attachments import FINGERPRINT_STALE, ServiceAttachments
from apigee_psc.compute.client import (
    BackendServices,
    ComputeClient,
    ComputeOperations,
    Firewalls,
    ForwardingRules,
    HealthChecks,
    Networks,
    Subnets,
)
from apigee_psc.compute.models import (
    BackendService,
    ComputeOperation,
    ComputeOperationError,
    ConnectedEndpoint,
    ConnectedEndpointStatus,
    ConnectionPreference,
    ConsumerProjectLimit,
    Firewall,
    FirewallAllowed,
    ForwardingRule,
    HealthCheck,
    Network,
    ServiceAttachment,
    Subnet,
)

__all__ = [
    "FINGERPRINT_STALE",
    "LONG_POLL_SCHEDULE",
    "BackendService",
    "BackendServices",
    "ComputeClient",
    "ComputeOperation",
    "ComputeOperationError",
    "ComputeOperations",
    "ConnectedEndpoint",
    "ConnectedEndpointStatus",
    "ConnectionPreference",
    "ConsumerProjectLimit",
    "Firewall",
    "FirewallAllowed",
    "Firewalls",
    "ForwardingRule",
    "ForwardingRules",
    "HealthCheck",
    "HealthChecks",
    "Network",
    "Networks",
    "ServiceAttachment",
    "ServiceAttachments",
    "Subnet",
    "Subnets",
]
