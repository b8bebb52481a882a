"""apigee-psc: Apigee X southbound connectivity over Private Service Connect, end to end.

The public names are loaded on first use (PEP 562), so ``import apigee_psc`` stays light:
google-cloud-compute is imported only when a :class:`ComputeClient` is used.

    >>> from apigee_psc import ApigeeClient
    >>> apigee = ApigeeClient("my-organization")          # doctest: +SKIP
    >>> apigee.endpoint_attachments.wait_until_ready("gkebackend")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from apigee_psc import _lazy
from apigee_psc._version import __version__

if TYPE_CHECKING:
    from apigee_psc._retry import RetryEvent, RetryPolicy
    from apigee_psc.apigee import ApigeeClient
    from apigee_psc.cloud import CloudDnsClient, ResourceManagerClient, ServiceNetworkingClient
    from apigee_psc.compute import ComputeClient
    from apigee_psc.diagnosis import Diagnosis, diagnose
    from apigee_psc.errors import (
        AlreadyExists,
        ApiError,
        ApigeePscError,
        Conflict,
        ConnectionNotAccepted,
        FailedPrecondition,
        LockTimeout,
        NotFound,
        OperationFailed,
        PermissionDenied,
        RateLimited,
        ServerError,
        ValidationError,
        WaitTimeout,
    )
    from apigee_psc.models import ConnectionState, DnsZone, EndpointAttachment, Operation, Organization, State
    from apigee_psc.progress import ProgressDisplay
    from apigee_psc.southbound import Southbound, SouthboundSpec, Watcher
    from apigee_psc.target import target_endpoint_xml
    from apigee_psc.waiters import Schedule

_LAZY: dict[str, str] = {
    "AlreadyExists": "apigee_psc.errors",
    "ApiError": "apigee_psc.errors",
    "ApigeeClient": "apigee_psc.apigee",
    "ApigeePscError": "apigee_psc.errors",
    "CloudDnsClient": "apigee_psc.cloud",
    "ComputeClient": "apigee_psc.compute",
    "Conflict": "apigee_psc.errors",
    "ConnectionNotAccepted": "apigee_psc.errors",
    "ConnectionState": "apigee_psc.models",
    "Diagnosis": "apigee_psc.diagnosis",
    "DnsZone": "apigee_psc.models",
    "EndpointAttachment": "apigee_psc.models",
    "FailedPrecondition": "apigee_psc.errors",
    "LockTimeout": "apigee_psc.errors",
    "NotFound": "apigee_psc.errors",
    "Operation": "apigee_psc.models",
    "OperationFailed": "apigee_psc.errors",
    "Organization": "apigee_psc.models",
    "PermissionDenied": "apigee_psc.errors",
    "ProgressDisplay": "apigee_psc.progress",
    "RateLimited": "apigee_psc.errors",
    "ResourceManagerClient": "apigee_psc.cloud",
    "RetryEvent": "apigee_psc._retry",
    "RetryPolicy": "apigee_psc._retry",
    "Schedule": "apigee_psc.waiters",
    "ServerError": "apigee_psc.errors",
    "ServiceNetworkingClient": "apigee_psc.cloud",
    "Southbound": "apigee_psc.southbound",
    "SouthboundSpec": "apigee_psc.southbound",
    "Watcher": "apigee_psc.southbound",
    "State": "apigee_psc.models",
    "ValidationError": "apigee_psc.errors",
    "WaitTimeout": "apigee_psc.errors",
    "diagnose": "apigee_psc.diagnosis",
    "target_endpoint_xml": "apigee_psc.target",
}

__all__ = [
    "AlreadyExists",
    "ApiError",
    "ApigeeClient",
    "ApigeePscError",
    "CloudDnsClient",
    "ComputeClient",
    "Conflict",
    "ConnectionNotAccepted",
    "ConnectionState",
    "Diagnosis",
    "DnsZone",
    "EndpointAttachment",
    "FailedPrecondition",
    "LockTimeout",
    "NotFound",
    "Operation",
    "OperationFailed",
    "Organization",
    "PermissionDenied",
    "ProgressDisplay",
    "RateLimited",
    "ResourceManagerClient",
    "RetryEvent",
    "RetryPolicy",
    "Schedule",
    "ServerError",
    "ServiceNetworkingClient",
    "Southbound",
    "SouthboundSpec",
    "State",
    "ValidationError",
    "WaitTimeout",
    "Watcher",
    "__version__",
    "diagnose",
    "target_endpoint_xml",
]


def __getattr__(name: str) -> Any:
    return _lazy.load(globals(), _LAZY, name)


def __dir__() -> list[str]:
    """Only the public API (what ``from apigee_psc import *`` gives), for completion and ``help``."""
    return sorted(__all__)
