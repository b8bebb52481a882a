"""The sections of a spec: one frozen dataclass per mapping of the file.

Each key is declared once, as a field: its type, its default (none: required) and, in its
metadata, the rule a type cannot say (``CHECK``: a name pattern, a CIDR, a port range). Rules
between fields are each class's ``_check_across``. :mod:`apigee_psc._dataclass_io` runs them,
both for a section built in Python (from ``__post_init__``) and for one read from a file, and
reads and writes the YAML shape from the same fields.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from apigee_psc import names
from apigee_psc._dataclass_io import ALWAYS, CHECK, Check, dump, validate
from apigee_psc.errors import ValidationError

__all__ = [
    "CONNECTION_PREFERENCES",
    "ConnectionPreference",
    "DnsSpec",
    "DnsZoneSpec",
    "EndpointAttachmentSpec",
    "FirewallSpec",
    "NatSubnetSpec",
    "ServiceAttachmentSpec",
    "TargetSpec",
    "TlsSpec",
]

ConnectionPreference = Literal["ACCEPT_AUTOMATIC", "ACCEPT_MANUAL"]
CONNECTION_PREFERENCES: tuple[ConnectionPreference, ...] = ("ACCEPT_AUTOMATIC", "ACCEPT_MANUAL")

_DEFAULT_CONNECTION_LIMIT = 10
_MAX_CONNECTION_LIMIT = 2**32 - 1  # connectionLimit is a uint32 in the Compute API
_MAX_PROPAGATED_CONNECTION_LIMIT = 2**32 - 1  # propagatedConnectionLimit too
_MAX_DOMAIN_NAMES = 1  # "Current max number of domain names supported is 1" (Compute v1)
_PROJECT_NUMBER = re.compile(r"^[1-9][0-9]{0,18}$")
_TLS_PROTOCOLS = ("TLSv1.2", "TLSv1.3")
_TARGET_PATH_RULE = "a URL path beginning with '/' and without spaces or '#', such as /orders"


def checked(check: Check, *, always: bool = False) -> dict[str, Any]:
    """Field metadata declaring ``check`` as the field's rule (``always``: dumped even when default)."""
    return {CHECK: check, ALWAYS: always}


# --------------------------------------------------------------------------- rules


def integer(value: object, key: str, rule: str) -> int:
    """An int that is really an int in the file: booleans and numeric strings are refused."""
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.strip().isdigit():
            rule = f"{rule}, written as a number without quotes ({value.strip()}, not {value!r})"
        raise ValidationError(key, value, rule)
    return value


def bounded(value: object, key: str, low: int, high: int, rule: str) -> int:
    """An :func:`integer` from ``low`` to ``high`` (both included); ``rule`` says so in a problem."""
    number = integer(value, key, rule)
    if not low <= number <= high:
        raise ValidationError(key, number, rule)
    return number


def boolean(value: object, key: str) -> bool:
    """``true`` or ``false``, unquoted."""
    if not isinstance(value, bool):
        raise ValidationError(key, value, "true or false (unquoted)")
    return value


def _sequence(value: object, key: str, what: str) -> tuple[object, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ValidationError(key, value, f"a list of {what}")
    return tuple(value)


def tcp_port(value: object, key: str) -> int:
    """A TCP port number, 1-65535."""
    return bounded(value, key, 1, 65535, "a TCP port number from 1 to 65535")


def _unique(values: Sequence[object], key: str) -> None:
    seen: list[object] = []
    for index, value in enumerate(values):
        if value in seen:
            raise ValidationError(f"{key}[{index}]", value, "each entry once (duplicate)")
        seen.append(value)


def _project_or_number(value: object, key: str) -> str:
    """A consumer project: its id (``my-project``) or its number (``123456789012``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str) and _PROJECT_NUMBER.match(value):
        return value
    try:
        return names.validate_project_id(value, key)
    except ValidationError:
        raise ValidationError(key, value, "a project id such as my-project, or a project number") from None


def _nat_range(value: object, key: str) -> str:
    return str(names.validate_nat_cidr(value, key))


def _ports(value: object, key: str) -> tuple[int, ...]:
    raw = _sequence(value, key, "TCP port numbers")
    if not raw:
        raise ValidationError(key, [], "at least one TCP port number")
    ports = tuple(tcp_port(item, f"{key}[{i}]") for i, item in enumerate(raw))
    for index, number in enumerate(ports):
        if number in ports[:index]:
            raise ValidationError(f"{key}[{index}]", number, "each port once (duplicate)")
    return ports


def _tags(value: object, key: str) -> tuple[str, ...]:
    raw = _sequence(value, key, "network tags")
    tags = tuple(names.validate_compute_name(item, f"{key}[{i}]") for i, item in enumerate(raw))
    _unique(tags, key)
    return tags


def _projects(value: object, key: str) -> tuple[str, ...]:
    raw = _sequence(value, key, "project ids or numbers")
    projects = tuple(_project_or_number(item, f"{key}[{i}]") for i, item in enumerate(raw))
    _unique(projects, key)
    return projects


def _preference(value: object, key: str) -> ConnectionPreference:
    if value not in CONNECTION_PREFERENCES:
        raise ValidationError(key, value, "ACCEPT_AUTOMATIC or ACCEPT_MANUAL")
    return value


def _connection_limit(value: object, key: str) -> int:
    rule = f"a whole number of connections from 1 to {_MAX_CONNECTION_LIMIT}"
    return bounded(value, key, 1, _MAX_CONNECTION_LIMIT, rule)


def _propagated_limit(value: object, key: str) -> int:
    rule = f"a whole number from 0 to {_MAX_PROPAGATED_CONNECTION_LIMIT}"
    return bounded(value, key, 0, _MAX_PROPAGATED_CONNECTION_LIMIT, rule)


def _domains(value: object, key: str) -> tuple[str, ...]:
    raw = _sequence(value, key, "DNS domains")
    domains = tuple(names.validate_domain(item, f"{key}[{i}]") for i, item in enumerate(raw))
    if len(domains) > _MAX_DOMAIN_NAMES:
        raise ValidationError(key, list(domains), f"at most {_MAX_DOMAIN_NAMES} domain name (a Compute limit)")
    return domains


def _store_reference(value: object, key: str) -> str:
    """A keystore or truststore: a reference (``ref://name``, what Apigee recommends) or a name."""
    if not isinstance(value, str) or not value or len(value) > 255 or any(ch.isspace() for ch in value):
        raise ValidationError(key, value, "a keystore reference such as ref://my-truststore (or its name)")
    return value


def _key_alias(value: object, key: str) -> str:
    if not isinstance(value, str) or not value or any(ch.isspace() for ch in value):
        raise ValidationError(key, value, "the alias of a key in key_store")
    return value


def _protocols(value: object, key: str) -> tuple[str, ...]:
    protocols = tuple(str(p) for p in _sequence(value, key, "TLS protocols"))
    for index, protocol in enumerate(protocols):
        if protocol not in _TLS_PROTOCOLS:
            raise ValidationError(
                f"{key}[{index}]", protocol, "TLSv1.2 or TLSv1.3 (Apigee supports neither TLS 1.0 nor 1.1)"
            )
    _unique(protocols, key)
    return protocols


def _ciphers(value: object, key: str) -> tuple[str, ...]:
    ciphers = _sequence(value, key, "cipher suite names")
    for index, cipher in enumerate(ciphers):
        if not isinstance(cipher, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,100}", cipher):
            raise ValidationError(f"{key}[{index}]", cipher, "a cipher suite name such as TLS_AES_128_GCM_SHA256")
    _unique(ciphers, key)
    return tuple(str(c) for c in ciphers)


def _common_name(value: object, key: str) -> str:
    from apigee_psc.target import target_url

    rule = "a host name such as orders.example.com (or *.example.com)"
    if not isinstance(value, str):
        raise ValidationError(key, value, rule)
    try:
        target_url(value[2:] if value.startswith("*.") else value, "/")
    except ValidationError:
        raise ValidationError(key, value, rule) from None
    return value


def _target_path(value: object, key: str) -> str:
    if not isinstance(value, str) or not value.startswith("/") or "#" in value or any(ch.isspace() for ch in value):
        raise ValidationError(key, value, _TARGET_PATH_RULE)
    return value


def _scheme(value: object, key: str) -> str:
    if value not in ("http", "https"):
        raise ValidationError(key, value, "http or https")
    return str(value)


# --------------------------------------------------------------------------- sections


class _Section:
    """A spec section: its fields are checked (and normalised) as it is built, by :func:`validate`."""

    def __post_init__(self) -> None:
        validate(self)


@dataclass(frozen=True)
class NatSubnetSpec(_Section):
    """The PSC NAT subnet the spec **creates** (``purpose: PRIVATE_SERVICE_CONNECT``).

    ``range`` is a private IPv4 CIDR with a prefix from /16 to /29 and no host bits set; it is
    stored in canonical form. The service attachment translates Apigee's connections into
    addresses of this range, and the firewall rule allows it as source.
    """

    name: str = field(metadata=checked(names.validate_compute_name))
    range: str = field(metadata=checked(_nat_range))

    @property
    def ip_network(self) -> ipaddress.IPv4Network:
        """The range as an :class:`ipaddress.IPv4Network`."""
        return ipaddress.IPv4Network(self.range)


@dataclass(frozen=True)
class FirewallSpec(_Section):
    """The ingress firewall rule the spec **creates**: TCP ``ports`` from the NAT range.

    ``target_tags`` selects the backend instances (network tags); empty means every instance
    of the network. Ports are integers 1-65535, each once, at least one.
    """

    name: str = field(metadata=checked(names.validate_compute_name))
    ports: tuple[int, ...] = field(metadata=checked(_ports))
    target_tags: tuple[str, ...] = field(default=(), metadata=checked(_tags, always=True))


@dataclass(frozen=True)
class ServiceAttachmentSpec(_Section):
    """The service attachment the spec **creates** on the forwarding rule.

    ``connection_preference`` is ``ACCEPT_AUTOMATIC`` (any consumer may connect) or
    ``ACCEPT_MANUAL`` (only accept-listed projects; the Apigee organization's
    ``apigeeProjectId`` is added for you at apply time). ``accept_projects`` and
    ``reject_projects`` (project ids or numbers) only apply to ``ACCEPT_MANUAL``;
    ``connection_limit`` is the limit given to every accepted project.
    ``enable_proxy_protocol`` and ``domain_names`` (at most one, ending with a dot) are passed
    through to Compute.

    ``reconcile_connections`` is Compute's ``reconcileConnections``: when true, list changes
    also re-decide connections that are already ACCEPTED or REJECTED (Google's default only
    applies them to new or pending connections). Left unset (``None``), apigee-psc keeps the
    live value and turns it on only when a repair needs it (the Apigee project's connection
    was rejected); ``false`` forbids that. ``prune`` removes consumers that the live lists
    hold and the spec does not name (by default they are kept: others may have added them).
    ``allow_widening`` confirms a switch to ``ACCEPT_AUTOMATIC`` that would let in consumers
    the live lists reject or have not accepted.

    ``propagated_connection_limit`` is Compute's ``propagatedConnectionLimit``: how many
    Network Connectivity Center spokes each connected endpoint may be propagated to, each
    taking one more NAT address (0 allowed: no propagation). Left unset, Google's default
    (250) applies and the live value is left as it is.
    """

    name: str = field(metadata=checked(names.validate_compute_name))
    connection_preference: ConnectionPreference = field(
        default="ACCEPT_AUTOMATIC", metadata=checked(_preference, always=True)
    )
    accept_projects: tuple[str, ...] = field(default=(), metadata=checked(_projects, always=True))
    connection_limit: int = field(default=_DEFAULT_CONNECTION_LIMIT, metadata=checked(_connection_limit))
    reject_projects: tuple[str, ...] = field(default=(), metadata=checked(_projects))
    enable_proxy_protocol: bool = field(default=False, metadata=checked(boolean))
    domain_names: tuple[str, ...] = field(default=(), metadata=checked(_domains))
    reconcile_connections: bool | None = field(default=None, metadata=checked(boolean))
    prune: bool = field(default=False, metadata=checked(boolean))
    allow_widening: bool = field(default=False, metadata=checked(boolean))
    propagated_connection_limit: int | None = field(default=None, metadata=checked(_propagated_limit))

    def _check_across(self) -> None:
        for key in ("accept_projects", "reject_projects"):
            values = getattr(self, key)
            if values and self.connection_preference != "ACCEPT_MANUAL":
                raise ValidationError(
                    key,
                    list(values),
                    "empty unless connection_preference is ACCEPT_MANUAL (ACCEPT_AUTOMATIC accepts every consumer)",
                )
        for index, project in enumerate(self.reject_projects):
            if project in self.accept_projects:
                raise ValidationError(f"reject_projects[{index}]", project, "not also listed in accept_projects")


@dataclass(frozen=True)
class EndpointAttachmentSpec(_Section):
    """The Apigee endpoint attachment the spec **creates** (one per service attachment per org).

    Its location is always the spec's ``region``; ``location`` may be written for clarity but
    must then equal ``region``.
    """

    name: str = field(metadata=checked(names.validate_endpoint_attachment_id))
    location: str | None = field(default=None, metadata=checked(names.validate_region))


@dataclass(frozen=True)
class DnsZoneSpec(_Section):
    """The Apigee DNS peering zone the spec **creates** (``organizations/ORG/dnsZones/NAME``).

    ``domain`` ends with a dot (``example.com.``); ``description`` is at most 1024 characters.
    The zone peers into the spec's ``project`` and ``network``.
    """

    name: str = field(metadata=checked(names.validate_dns_zone_id))
    domain: str = field(metadata=checked(names.validate_domain))
    description: str | None = field(default=None, metadata=checked(names.validate_description))


@dataclass(frozen=True)
class DnsSpec(_Section):
    """Optional DNS for the endpoint attachment's host.

    ``zone`` is the Apigee DNS peering zone to create. ``managed_zone`` is an existing Cloud DNS
    private zone of the producer project (only **referenced**, never created or deleted) in
    which the A ``record`` (created) points at the endpoint attachment's host. ``record``
    and ``managed_zone`` go together; with a ``zone``, the record must be inside its domain.
    """

    zone: DnsZoneSpec | None = None
    managed_zone: str | None = field(default=None, metadata=checked(names.validate_dns_zone_id))
    record: str | None = None  # checked against the zone's domain, in _check_across

    def _check_across(self) -> None:
        if self.record is not None:
            domain = self.zone.domain if self.zone is not None else None
            names.validate_dns_name(self.record, domain, "record")
            if self.managed_zone is None:
                raise ValidationError(
                    "managed_zone", None, "required when record is set (the Cloud DNS zone to write it in)"
                )
        elif self.managed_zone is not None:
            raise ValidationError("record", None, "required when managed_zone is set (the A record name to create)")
        if self.zone is None and self.managed_zone is None:
            raise ValidationError(
                "zone",
                None,
                "a zone, or managed_zone with record, or both (or leave dns out entirely)",
            )


@dataclass(frozen=True)
class TlsSpec(_Section):
    """TLS from Apigee to the backend: the ``<SSLInfo>`` of the TargetEndpoint (``scheme: https``).

    ``<Enabled>true</Enabled>`` is always written; the other elements only when set here, so
    Apigee's defaults hold otherwise. ``enforce`` fails the call on a certificate that is
    invalid, expired, self-signed, untrusted or for another host name; ``trust_store`` holds
    the certificates that sign the backend's; ``ignore_validation_errors`` lets a call go on
    despite a certificate problem (when ``enforce`` is not true); ``key_store`` and
    ``key_alias`` turn on mutual TLS (``<ClientAuthEnabled>``); ``protocols`` (TLSv1.2,
    TLSv1.3: Apigee supports no older one) and ``ciphers`` narrow the handshake;
    ``common_name`` is the name the backend's certificate must carry, for a target whose URL
    holds the host IP (without ``dns.record``). Stores are references (``ref://name``) or names.
    """

    enforce: bool | None = field(default=None, metadata=checked(boolean))
    trust_store: str | None = field(default=None, metadata=checked(_store_reference))
    ignore_validation_errors: bool | None = field(default=None, metadata=checked(boolean))
    key_store: str | None = field(default=None, metadata=checked(_store_reference))
    key_alias: str | None = field(default=None, metadata=checked(_key_alias))
    protocols: tuple[str, ...] = field(default=(), metadata=checked(_protocols))
    ciphers: tuple[str, ...] = field(default=(), metadata=checked(_ciphers))
    common_name: str | None = field(default=None, metadata=checked(_common_name))

    def _check_across(self) -> None:
        if (self.key_store is None) != (self.key_alias is None):
            missing = "key_alias" if self.key_alias is None else "key_store"
            raise ValidationError(missing, None, "required with key_store/key_alias (mutual TLS needs both)")

    def to_dict(self) -> dict[str, Any]:
        """The options that are set, in the YAML shape."""
        return dump(self)


@dataclass(frozen=True)
class TargetSpec(_Section):
    """How an API proxy's TargetEndpoint reaches the backend: the URL ``path`` (default ``/``),
    ``scheme`` (``http`` or ``https``) and ``port`` (default: the scheme's, 80 or 443), and
    with ``https`` the TLS options of its ``<SSLInfo>`` (``tls``). The URL's host is
    ``dns.record`` when the spec has one, else the endpoint attachment's host IP.
    """

    path: str = field(default="/", metadata=checked(_target_path, always=True))
    scheme: Literal["http", "https"] = field(default="http", metadata=checked(_scheme))
    port: int | None = field(default=None, metadata=checked(tcp_port))
    tls: TlsSpec | None = None

    def _check_across(self) -> None:
        if self.tls is not None and self.scheme != "https":
            raise ValidationError("tls", self.scheme, "TLS options need scheme: https (the scheme here)")

    def to_dict(self) -> dict[str, Any]:
        """The target in the YAML shape (defaults left out, except the path)."""
        return dump(self)
