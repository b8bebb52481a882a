"""Compute v1 field tables: collections, writable and output-only fields, references, auto-mode ranges."""

from __future__ import annotations

import re
from typing import Any

JSON = dict[str, Any]

NAME_RE = re.compile(r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$")
REGION_RE = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")
TAG_RE = re.compile(r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$")
OWNER = "emulator-owner@example.com"

REGIONAL = (
    "subnetworks",
    "forwardingRules",
    "serviceAttachments",
    "healthChecks",
    "backendServices",
    "instanceGroupManagers",
    "instanceGroups",
)
GLOBAL = ("networks", "firewalls", "instanceTemplates")
#: Collections whose resources carry a ``fingerprint`` (required to patch or update them).
FINGERPRINTED = (
    "subnetworks",
    "backendServices",
    "forwardingRules",
    "serviceAttachments",
    "instanceGroupManagers",
    "instanceGroups",
)

#: URL segment -> (discovery resource name, resource kind, list kind)
COLLECTIONS: dict[str, tuple[str, str, str]] = {
    "networks": ("networks", "compute#network", "compute#networkList"),
    "firewalls": ("firewalls", "compute#firewall", "compute#firewallList"),
    "subnetworks": ("subnetworks", "compute#subnetwork", "compute#subnetworkList"),
    "healthChecks": ("regionHealthChecks", "compute#healthCheck", "compute#healthCheckList"),
    "backendServices": ("regionBackendServices", "compute#backendService", "compute#backendServiceList"),
    "forwardingRules": ("forwardingRules", "compute#forwardingRule", "compute#forwardingRuleList"),
    "serviceAttachments": ("serviceAttachments", "compute#serviceAttachment", "compute#serviceAttachmentList"),
    "instanceTemplates": ("instanceTemplates", "compute#instanceTemplate", "compute#instanceTemplateList"),
    "instanceGroupManagers": (
        "regionInstanceGroupManagers",
        "compute#instanceGroupManager",
        "compute#regionInstanceGroupManagerList",
    ),
    "instanceGroups": ("regionInstanceGroups", "compute#instanceGroup", "compute#regionInstanceGroupList"),
}

_COMMON_OUTPUT = {"creationTimestamp", "id", "kind", "selfLink", "selfLinkWithId", "fingerprint", "region"}

#: Fields a client may write, per collection (from the v1 discovery schemas).
WRITABLE: dict[str, frozenset[str]] = {
    "subnetworks": frozenset(
        [
            "allowSubnetCidrRoutesOverlap",
            "description",
            "enableFlowLogs",
            "ipCidrRange",
            "ipCollection",
            "ipv6AccessType",
            "ipv6CidrRange",
            "ipv6GceEndpoint",
            "logConfig",
            "name",
            "network",
            "params",
            "privateIpGoogleAccess",
            "privateIpv6GoogleAccess",
            "purpose",
            "reservedInternalRange",
            "resolveSubnetMask",
            "role",
            "secondaryIpRanges",
            "stackType",
        ]
    ),
    "firewalls": frozenset(
        [
            "allowed",
            "denied",
            "description",
            "destinationRanges",
            "direction",
            "disabled",
            "logConfig",
            "name",
            "network",
            "params",
            "priority",
            "sourceRanges",
            "sourceServiceAccounts",
            "sourceTags",
            "targetServiceAccounts",
            "targetTags",
        ]
    ),
    "healthChecks": frozenset(
        [
            "checkIntervalSec",
            "description",
            "grpcHealthCheck",
            "grpcTlsHealthCheck",
            "healthyThreshold",
            "http2HealthCheck",
            "httpHealthCheck",
            "httpsHealthCheck",
            "logConfig",
            "name",
            "sourceRegions",
            "sslHealthCheck",
            "tcpHealthCheck",
            "timeoutSec",
            "type",
            "unhealthyThreshold",
        ]
    ),
    "backendServices": frozenset(
        [
            "affinityCookieTtlSec",
            "backends",
            "cdnPolicy",
            "circuitBreakers",
            "compressionMode",
            "connectionDraining",
            "connectionTrackingPolicy",
            "consistentHash",
            "customMetrics",
            "customRequestHeaders",
            "customResponseHeaders",
            "description",
            "dynamicForwarding",
            "edgeSecurityPolicy",
            "enableCDN",
            "externalManagedMigrationState",
            "externalManagedMigrationTestingPercentage",
            "failoverPolicy",
            "haPolicy",
            "healthChecks",
            "iap",
            "ipAddressSelectionPolicy",
            "loadBalancingScheme",
            "localityLbPolicies",
            "localityLbPolicy",
            "logConfig",
            "maxStreamDuration",
            "metadatas",
            "name",
            "network",
            "networkPassThroughLbTrafficPolicy",
            "orchestrationInfo",
            "outlierDetection",
            "params",
            "port",
            "portName",
            "protocol",
            "securityPolicy",
            "securitySettings",
            "serviceBindings",
            "serviceLbPolicy",
            "sessionAffinity",
            "strongSessionAffinityCookie",
            "subsetting",
            "timeoutSec",
            "tlsSettings",
        ]
    ),
    "forwardingRules": frozenset(
        [
            "IPAddress",
            "IPProtocol",
            "allPorts",
            "allowGlobalAccess",
            "allowPscGlobalAccess",
            "backendService",
            "description",
            "ipCollection",
            "ipVersion",
            "isMirroringCollector",
            "labels",
            "loadBalancingScheme",
            "metadataFilters",
            "name",
            "network",
            "networkTier",
            "noAutomateDnsZone",
            "portRange",
            "ports",
            "serviceDirectoryRegistrations",
            "serviceLabel",
            "sourceIpRanges",
            "subnetwork",
            "target",
        ]
    ),
    "serviceAttachments": frozenset(
        [
            "connectionPreference",
            "consumerAcceptLists",
            "consumerRejectLists",
            "description",
            "domainNames",
            "enableProxyProtocol",
            "metadata",
            "name",
            "natIpsPerEndpoint",
            "natSubnets",
            "producerForwardingRule",
            "propagatedConnectionLimit",
            "reconcileConnections",
            "targetService",
        ]
    ),
    "instanceTemplates": frozenset(["description", "name", "properties", "sourceInstance", "sourceInstanceParams"]),
    "instanceGroupManagers": frozenset(
        [
            "allInstancesConfig",
            "autoHealingPolicies",
            "baseInstanceName",
            "description",
            "distributionPolicy",
            "instanceLifecyclePolicy",
            "instanceTemplate",
            "name",
            "namedPorts",
            "statefulPolicy",
            "targetPools",
            "targetSize",
            "updatePolicy",
            "versions",
        ]
    ),
    "instanceGroups": frozenset(["description", "name", "namedPorts"]),
}
#: Output-only fields a client may echo back; silently dropped on write.
IGNORED_ON_WRITE = _COMMON_OUTPUT | {
    "gatewayAddress",
    "state",
    "connectedEndpoints",
    "pscServiceAttachmentId",
    "usedBy",
    "pscConnectionId",
    "pscConnectionStatus",
    "labelFingerprint",
    "utilizationDetails",
    "systemReservedExternalIpv6Ranges",
    "systemReservedInternalIpv6Ranges",
    "serviceName",
    "childForwardingRules",
    "baseForwardingRule",
    "internalIpv6Prefix",
    "externalIpv6Prefix",
    "IPAddresses",
    "attachedExtensions",
    "availabilityGroup",
    "parentForwardingRule",
    "externalManagedBackendBucketMigrationState",
    "externalManagedBackendBucketMigrationTestingPercentage",
    "instanceGroup",
    "currentActions",
    "status",
    "size",
    "zone",
}

REF_FIELDS = (
    "network",
    "subnetwork",
    "backendService",
    "producerForwardingRule",
    "targetService",
    "instanceTemplate",
    "instanceGroup",
)
REF_LIST_FIELDS = ("healthChecks", "natSubnets", "subnetworks")

#: Auto-mode ``default`` subnet ranges of well-known regions.
AUTO_RANGES = {
    "us-central1": "10.128.0.0/20",
    "europe-west1": "10.132.0.0/20",
    "us-west1": "10.138.0.0/20",
    "asia-east1": "10.140.0.0/20",
    "us-east1": "10.142.0.0/20",
    "asia-northeast1": "10.146.0.0/20",
    "asia-southeast1": "10.148.0.0/20",
    "us-east4": "10.150.0.0/20",
    "australia-southeast1": "10.152.0.0/20",
    "europe-west2": "10.154.0.0/20",
    "europe-west3": "10.156.0.0/20",
    "southamerica-east1": "10.158.0.0/20",
    "asia-south1": "10.160.0.0/20",
    "northamerica-northeast1": "10.162.0.0/20",
    "europe-west4": "10.164.0.0/20",
    "europe-north1": "10.166.0.0/20",
    "us-west2": "10.168.0.0/20",
    "asia-east2": "10.170.0.0/20",
    "europe-west6": "10.172.0.0/20",
    "asia-northeast2": "10.174.0.0/20",
}

#: The public images served (``images.get`` and ``images.getFromFamily``):
#: (image project, family) -> current image name. Other images are not modelled.
PUBLIC_IMAGES: dict[tuple[str, str], str] = {
    ("debian-cloud", "debian-11"): "debian-11-bullseye-v20250610",
    ("debian-cloud", "debian-12"): "debian-12-bookworm-v20250610",
    ("ubuntu-os-cloud", "ubuntu-2204-lts"): "ubuntu-2204-jammy-v20250610",
    ("ubuntu-os-cloud", "ubuntu-2404-lts-amd64"): "ubuntu-2404-noble-amd64-v20250610",
    ("cos-cloud", "cos-stable"): "cos-stable-121-18867-90-4",
}
