"""Validation rules for every name, address and identifier the library sends.

Each ``validate_*`` function returns the (normalised) value or raises
:class:`~apigee_psc.errors.ValidationError` naming the field, the value and the rule. No
function here makes an API call: they run before any request, so bad input creates nothing.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable

from apigee_psc.errors import ValidationError

__all__ = [
    "COMPUTE_NAME_RULE",
    "DNS_ZONE_ID_RULE",
    "ENDPOINT_ATTACHMENT_ID_RULE",
    "parse_service_attachment",
    "service_attachment_path",
    "short",
    "validate_compute_name",
    "validate_description",
    "validate_dns_name",
    "validate_dns_zone_id",
    "validate_domain",
    "validate_endpoint_attachment_id",
    "validate_nat_cidr",
    "validate_organization",
    "validate_ports",
    "validate_project_id",
    "validate_region",
    "validate_service_attachment",
]


def short(link: str | None) -> str:
    """The last segment of a resource name, path or URL (``us-west1`` of ``.../regions/us-west1``)."""
    return (link or "").rstrip("/").rsplit("/", 1)[-1]


ENDPOINT_ATTACHMENT_ID_RULE = (
    "a lowercase letter followed by 1 to 31 lowercase letters, digits or hyphens, not ending with a hyphen"
)
_ENDPOINT_ATTACHMENT_ID = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")

DNS_ZONE_ID_RULE = (
    "1 to 63 characters: lowercase letters, digits or hyphens, beginning with a letter and ending "
    "with a letter or digit"
)
_DNS_ZONE_ID = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")

COMPUTE_NAME_RULE = (
    "1 to 63 characters: lowercase letters, digits or hyphens, beginning with a lowercase letter "
    "and not ending with a hyphen"
)
_COMPUTE_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")

_PROJECT_ID_RULE = (
    "6 to 30 characters: lowercase letters, digits or hyphens, beginning with a letter and not "
    "ending with a hyphen (a domain-scoped id such as example.com:my-project is also accepted)"
)
_PROJECT_ID = re.compile(r"^([a-z][a-z0-9.-]*[a-z0-9]:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$")

_ORGANIZATION_RULE = "1 to 63 characters: lowercase letters, digits or hyphens, beginning with a letter"
_ORGANIZATION = re.compile(r"^[a-z][a-z0-9-]{0,62}$")

_REGION_RULE = "a Google Cloud region such as us-west1 or europe-west4 (not a zone like us-west1-a)"
_REGION = re.compile(r"^[a-z]+(-[a-z]+)+[0-9]+$")

_SERVICE_ATTACHMENT_RULE = "projects/PROJECT/regions/REGION/serviceAttachments/NAME"
_SERVICE_ATTACHMENT = re.compile(
    r"^(?:https://(?:www|compute)\.googleapis\.com/compute/(?:v1|beta)/)?"
    r"projects/(?P<project>[^/]+)/regions/(?P<region>[^/]+)/serviceAttachments/(?P<name>[^/]+)$"
)

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_DESCRIPTION_MAX = 1024
_PRIVATE_V4 = tuple(
    ipaddress.IPv4Network(cidr) for cidr in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
)


def _check(field: str, value: object, pattern: re.Pattern[str], rule: str) -> str:
    # fullmatch, not match: ``$`` also matches before a trailing newline ("name\n").
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ValidationError(field, value, rule)
    return value


def validate_endpoint_attachment_id(value: object, field: str = "endpoint_attachment_id") -> str:
    """An Apigee endpoint attachment id: ``^[a-z][a-z0-9-]{0,30}[a-z0-9]$`` (2 to 32 long)."""
    return _check(field, value, _ENDPOINT_ATTACHMENT_ID, ENDPOINT_ATTACHMENT_ID_RULE)


def validate_dns_zone_id(value: object, field: str = "dns_zone_id") -> str:
    """An Apigee DNS zone id (1 to 63, a letter first, a letter or digit last)."""
    return _check(field, value, _DNS_ZONE_ID, DNS_ZONE_ID_RULE)


def validate_compute_name(value: object, field: str = "name") -> str:
    """A Compute Engine resource name (RFC 1035 label, 1 to 63)."""
    return _check(field, value, _COMPUTE_NAME, COMPUTE_NAME_RULE)


def validate_project_id(value: object, field: str = "project") -> str:
    """A Google Cloud project id."""
    return _check(field, value, _PROJECT_ID, _PROJECT_ID_RULE)


def validate_organization(value: object, field: str = "organization") -> str:
    """An Apigee organization name (usually its project id)."""
    if isinstance(value, str) and value.startswith("organizations/"):
        value = value.split("/", 1)[1]
    return _check(field, value, _ORGANIZATION, _ORGANIZATION_RULE)


def validate_region(value: object, field: str = "region") -> str:
    """A region name such as ``us-west1``."""
    return _check(field, value, _REGION, _REGION_RULE)


def validate_service_attachment(value: object, field: str = "service_attachment") -> str:
    """A service attachment reference; returns the relative ``projects/.../serviceAttachments/...``."""
    project, region, name = parse_service_attachment(value, field)
    return service_attachment_path(project, region, name)


def parse_service_attachment(value: object, field: str = "service_attachment") -> tuple[str, str, str]:
    """Split a service attachment reference (relative or full URL) into project, region, name."""
    match = _SERVICE_ATTACHMENT.fullmatch(value) if isinstance(value, str) else None
    if not match:
        raise ValidationError(field, value, _SERVICE_ATTACHMENT_RULE)
    project, region, name = match.group("project"), match.group("region"), match.group("name")
    validate_project_id(project, f"{field} (project)")
    validate_region(region, f"{field} (region)")
    validate_compute_name(name, f"{field} (name)")
    return project, region, name


def service_attachment_path(project: str, region: str, name: str) -> str:
    """The relative resource name of a service attachment."""
    return f"projects/{project}/regions/{region}/serviceAttachments/{name}"


_OPERATION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def validate_operation_id(value: object, field: str = "operation") -> str:
    """An operation id (the last segment of ``.../operations/ID``)."""
    return _check(field, value, _OPERATION_ID, "an operation id: letters, digits, '-', '_' or '.'")


def own_name(
    value: object,
    *,
    parent: str,
    collection: str,
    validate: Callable[[object, str], str],
    field: str,
) -> str:
    """The id of a resource in ``parent``'s ``collection``, given as its id or its full name.

    A full name (``{parent}/{collection}/ID``, also as an ``https://`` URL whose path ends
    so) must name ``parent`` itself: a resource of another organization, project or region is
    a :class:`~apigee_psc.errors.ValidationError`, as are ``None``, an empty string and an id
    that breaks ``validate``'s rule. Nothing is sent before this check passes.
    """
    prefix = f"{parent}/{collection}/"
    if not isinstance(value, str) or not value:
        raise ValidationError(field, value, f"an id or {prefix}ID")
    short = value
    if "/" in value:
        at = value.find(parent + "/")
        whole = value[at:] if at >= 0 and (at == 0 or value[:at].endswith("/")) else value
        if not whole.startswith(prefix) or "/" in whole[len(prefix) :]:
            raise ValidationError(field, value, f"a resource of {parent}: an id or {prefix}ID")
        short = whole[len(prefix) :]
    return validate(short, field)


def validate_description(value: object, field: str = "description") -> str:
    """A description of at most 1024 characters."""
    if not isinstance(value, str) or len(value) > _DESCRIPTION_MAX:
        shown = value if not isinstance(value, str) else f"<{len(value)} characters>"
        raise ValidationError(field, shown, f"a string of at most {_DESCRIPTION_MAX} characters")
    return value


def _labels_ok(name: str) -> bool:
    labels = name[:-1].split(".")
    return all(_LABEL.fullmatch(label) for label in labels) and len(name) <= 254


def validate_domain(value: object, field: str = "domain") -> str:
    """A DNS domain in absolute form, ending with a dot: ``example.com.``."""
    rule = "a lowercase DNS domain ending with a dot, such as example.com."
    if not isinstance(value, str) or not value.endswith(".") or len(value) < 2 or not _labels_ok(value):
        raise ValidationError(field, value, rule)
    return value


def validate_dns_name(value: object, domain: str | None = None, field: str = "record") -> str:
    """A fully qualified record name ending with a dot, inside ``domain`` when given."""
    name = validate_domain(value, field)
    if domain is not None and not (name == domain or name.endswith("." + domain)):
        raise ValidationError(field, value, f"a name inside the domain {domain}")
    return name


def validate_nat_cidr(value: object, field: str = "nat_subnet.range") -> ipaddress.IPv4Network:
    """A private IPv4 network with a prefix from /16 to /29 (no host bits set).

    Private means RFC 1918 (10/8, 172.16/12, 192.168/16) or the shared range 100.64.0.0/10,
    both valid for VPC subnets; loopback, link-local, multicast, "this network" (0/8) and
    reserved ranges are refused, as Google refuses them.
    """
    rule = "a private IPv4 network in CIDR form with a prefix from /16 to /29, such as 10.100.0.0/28"
    if not isinstance(value, str):
        raise ValidationError(field, value, rule)
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise ValidationError(field, value, f"{rule} ({exc})") from None
    if not isinstance(network, ipaddress.IPv4Network) or not any(network.subnet_of(allowed) for allowed in _PRIVATE_V4):
        raise ValidationError(field, value, rule)
    if not 16 <= network.prefixlen <= 29:
        raise ValidationError(field, value, rule)
    return network


def validate_ports(values: Iterable[object], field: str = "ports", *, most: int = 5) -> list[int]:
    """TCP ports 1-65535, no duplicates, at most ``most`` of them (a forwarding rule takes 5)."""
    ports: list[int] = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
            raise ValidationError(field, value, "a TCP port number from 1 to 65535")
        if value in ports:
            raise ValidationError(field, value, "each port once")
        ports.append(value)
    if not ports:
        raise ValidationError(field, [], "at least one port")
    if len(ports) > most:
        raise ValidationError(field, ports, f"at most {most} ports")
    return ports
