"""The declarative description of one southbound connection (the *spec*).

A spec file names everything one Apigee X -> Private Service Connect -> backend connection
needs, in the shape fixed by the design's contract::

    organization: my-organization
    project: my-project
    region: us-west1
    network: default
    forwarding_rule: fr-ilb
    nat_subnet: {name: psc-subnet, range: 10.100.0.0/28}
    firewall: {name: allow-psc-nat-80, ports: [80], target_tags: [psc-demo]}
    service_attachment: {name: gkebackend, connection_preference: ACCEPT_AUTOMATIC}
    endpoint_attachment: {name: gkebackend}
    dns:
      zone: {name: my-zone, domain: example.com.}
      managed_zone: my-private-zone
      record: orders.example.com.
    target: {path: /orders}

:meth:`SouthboundSpec.from_yaml` and :meth:`SouthboundSpec.from_dict` check the whole spec
before anything talks to an API. Every problem is a
:class:`~apigee_psc.errors.ValidationError` whose ``field`` is the key path
(``nat_subnet.range``, ``firewall.ports[1]``, ``dns.zone.domain``) and whose ``source`` is the
file, so ``str(error)`` reads like::

    examples/x.yaml: nat_subnet.range: '10.100.0.0/33' is invalid: a private IPv4 network ...

Read from a YAML file, each problem also carries the ``line`` and ``column`` where its key
stands. Each key is declared once, as a dataclass field (its rule in the field's metadata);
:mod:`apigee_psc._dataclass_io` reads, checks and writes every section from those fields, and
:mod:`apigee_psc._schema` derives the JSON Schema from them. The dataclasses validate
themselves too (in ``__post_init__``), so a spec built in Python obeys the same rules as one
read from YAML. See ``docs/spec.md`` for every key.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apigee_psc import _dataclass_io, _yaml, names
from apigee_psc.errors import ValidationError
from apigee_psc.southbound.spec._sections import (
    CONNECTION_PREFERENCES,
    ConnectionPreference,
    DnsSpec,
    DnsZoneSpec,
    EndpointAttachmentSpec,
    FirewallSpec,
    NatSubnetSpec,
    ServiceAttachmentSpec,
    TargetSpec,
    TlsSpec,
    boolean,
    checked,
)

__all__ = [
    "CONNECTION_PREFERENCES",
    "FILE_FIELD",
    "KNOWN_KEYS",
    "ConnectionPreference",
    "DnsSpec",
    "DnsZoneSpec",
    "EndpointAttachmentSpec",
    "FirewallSpec",
    "NatSubnetSpec",
    "ServiceAttachmentSpec",
    "SouthboundSpec",
    "TargetSpec",
    "TlsSpec",
]

#: Field name used for problems with the file as a whole (unreadable, bad YAML, not a mapping).
FILE_FIELD = "<file>"

_FORWARDING_RULE_PATH = re.compile(
    r"^(?:https://(?:www|compute)\.googleapis\.com/compute/(?:v1|beta)/)?"
    r"projects/(?P<project>[^/]+)/regions/(?P<region>[^/]+)/forwardingRules/(?P<name>[^/]+)$"
)
_FORWARDING_RULE_RULE = (
    "a forwarding rule name (" + names.COMPUTE_NAME_RULE + ") or "
    "projects/PROJECT/regions/REGION/forwardingRules/NAME (optionally as a full compute URL)"
)


def _forwarding_rule(value: object, key: str) -> str:
    """A forwarding rule: its name, or its path (optionally as a URL) with valid parts."""
    if not isinstance(value, str):
        raise ValidationError(key, value, _FORWARDING_RULE_RULE)
    match = _FORWARDING_RULE_PATH.match(value)
    if match is None:
        if "/" in value:
            raise ValidationError(key, value, _FORWARDING_RULE_RULE)
        names.validate_compute_name(value, key)
        return value
    project, region, name = match.group("project", "region", "name")
    names.validate_project_id(project, f"{key} (project)")
    names.validate_region(region, f"{key} (region)")
    names.validate_compute_name(name, f"{key} (name)")
    return value


@dataclass(frozen=True, kw_only=True)
class SouthboundSpec:
    """The desired state of one southbound connection (keyword-only construction).

    Created: ``nat_subnet``, ``firewall`` (optional), ``service_attachment``,
    ``endpoint_attachment`` and, under ``dns``, the Apigee zone and the A record.
    Only referenced (must exist, never changed or deleted): the ``organization``, ``project``,
    ``network``, ``forwarding_rule`` and ``dns.managed_zone``.

    ``source`` is the file the spec came from (used in error messages; not compared).
    """

    organization: str = field(
        metadata={
            "description": "The Apigee organization. The command line fills it in when the file leaves it out, "
            "from APIGEE_PSC_ORGANIZATION; SouthboundSpec.from_yaml in Python requires it.",
            "filled_in": True,
            **checked(names.validate_organization),
        }
    )
    project: str = field(
        metadata={
            "description": "The producer project (an id). The command line fills it in when the file leaves it "
            "out, from --project, then GOOGLE_CLOUD_PROJECT or CLOUDSDK_CORE_PROJECT, then the project of the "
            "credentials (google.auth.default(): the active gcloud configuration's, a service account key's); "
            "SouthboundSpec.from_yaml in Python requires it.",
            "filled_in": True,
            **checked(names.validate_project_id),
        }
    )
    region: str = field(metadata=checked(names.validate_region))
    network: str = field(metadata=checked(names.validate_compute_name))
    forwarding_rule: str = field(metadata=checked(_forwarding_rule))
    nat_subnet: NatSubnetSpec
    firewall: FirewallSpec | None = None
    service_attachment: ServiceAttachmentSpec
    endpoint_attachment: EndpointAttachmentSpec
    dns: DnsSpec | None = None
    target: TargetSpec | None = None
    adopt: bool = field(default=False, metadata=checked(boolean))
    source: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        try:
            self._validate()
        except ValidationError as exc:
            if exc.source is None and self.source is not None:
                raise exc.located(self.source) from None
            raise

    def _validate(self) -> None:
        _dataclass_io.validate(self)

    def _check_across(self) -> None:
        """The rules between fields, once every field is valid."""
        region = self._parse_forwarding_rule()[1]
        if region != self.region:
            raise ValidationError(
                "forwarding_rule",
                self.forwarding_rule,
                f"a forwarding rule in the spec's region {self.region} (a service attachment "
                "must be in its forwarding rule's region)",
            )
        location = self.endpoint_attachment.location
        if location is not None and location != self.region:
            raise ValidationError(
                "endpoint_attachment.location",
                location,
                f"the spec's region {self.region} (an endpoint attachment lives in its service attachment's region)",
            )

    def _parse_forwarding_rule(self) -> tuple[str, str, str]:
        """(project, region, name) of the forwarding rule (checked by :func:`_forwarding_rule`)."""
        match = _FORWARDING_RULE_PATH.match(self.forwarding_rule)
        if match is None:
            return self.project, self.region, self.forwarding_rule
        project, region, name = match.group("project", "region", "name")
        return project, region, name

    # ------------------------------------------------------------------ derived names

    @property
    def forwarding_rule_name(self) -> str:
        """The forwarding rule's short name, whichever form the spec used."""
        return self._parse_forwarding_rule()[2]

    @property
    def forwarding_rule_project(self) -> str:
        """The forwarding rule's project (the spec's ``project`` unless a path names another)."""
        return self._parse_forwarding_rule()[0]

    @property
    def forwarding_rule_region(self) -> str:
        """The forwarding rule's region (always the spec's ``region``)."""
        return self._parse_forwarding_rule()[1]

    @property
    def forwarding_rule_path(self) -> str:
        """``projects/P/regions/R/forwardingRules/NAME``."""
        project, region, name = self._parse_forwarding_rule()
        return f"projects/{project}/regions/{region}/forwardingRules/{name}"

    @property
    def network_path(self) -> str:
        """``projects/P/global/networks/NAME``."""
        return f"projects/{self.project}/global/networks/{self.network}"

    @property
    def nat_subnet_path(self) -> str:
        """``projects/P/regions/R/subnetworks/NAME``."""
        return f"projects/{self.project}/regions/{self.region}/subnetworks/{self.nat_subnet.name}"

    @property
    def service_attachment_path(self) -> str:
        """``projects/P/regions/R/serviceAttachments/NAME``, as the endpoint attachment names it."""
        return names.service_attachment_path(self.project, self.region, self.service_attachment.name)

    @property
    def endpoint_attachment_location(self) -> str:
        """The endpoint attachment's ``location``: the spec's region."""
        return self.region

    @property
    def endpoint_attachment_path(self) -> str:
        """``organizations/ORG/endpointAttachments/NAME``."""
        return f"organizations/{self.organization}/endpointAttachments/{self.endpoint_attachment.name}"

    @property
    def firewall_path(self) -> str | None:
        """``projects/P/global/firewalls/NAME`` (``None`` without a firewall)."""
        return f"projects/{self.project}/global/firewalls/{self.firewall.name}" if self.firewall else None

    @property
    def dns_zone_path(self) -> str | None:
        """``organizations/ORG/dnsZones/NAME`` of the Apigee DNS zone (``None`` without one)."""
        zone = self._apigee_zone_name
        return None if zone is None else f"organizations/{self.organization}/dnsZones/{zone}"

    @property
    def _apigee_zone_name(self) -> str | None:
        """``dns.zone.name``: the Apigee DNS zone's, also its peered DNS domain's (``None`` without one)."""
        return None if self.dns is None or self.dns.zone is None else self.dns.zone.name

    @property
    def managed_zone_path(self) -> str | None:
        """``projects/P/managedZones/NAME`` of the Cloud DNS zone (``None`` without one)."""
        if self.dns is None or self.dns.managed_zone is None:
            return None
        return f"projects/{self.project}/managedZones/{self.dns.managed_zone}"

    @property
    def record_path(self) -> str | None:
        """``projects/P/managedZones/ZONE/rrsets/NAME/A`` of the A record (``None`` without one)."""
        zone = self.managed_zone_path
        if zone is None or self.dns is None or self.dns.record is None:
            return None
        return f"{zone}/rrsets/{self.dns.record}/A"

    def peered_dns_domain_path(self, project: str, network: str) -> str | None:
        """``projects/P/global/networks/NET/peeredDnsDomains/NAME`` on the network peered with
        Apigee (``project``/``network``, read from the organization; ``None`` without a zone)."""
        zone = self._apigee_zone_name
        return None if zone is None else f"projects/{project}/global/networks/{network}/peeredDnsDomains/{zone}"

    @property
    def target_host_name(self) -> str | None:
        """The DNS name to use in a TargetEndpoint URL (``dns.record`` without its final dot)."""
        if self.dns is None or self.dns.record is None:
            return None
        return self.dns.record.rstrip(".")

    @property
    def target_path(self) -> str:
        """The TargetEndpoint URL path (``target.path``, default ``/``)."""
        return self.target.path if self.target is not None else "/"

    def target_url(self, host: str | None = None) -> str:
        """The TargetEndpoint URL: ``scheme://NAME[:port]/path`` with ``dns.record`` as the
        name when the spec has one, else ``host`` (the endpoint attachment's host IP)."""
        from apigee_psc.target import target_url

        target = self.target or TargetSpec()
        name = self.target_host_name or host
        if not name:
            raise ValidationError("host", host, "the endpoint attachment's host (the spec has no dns.record)")
        return target_url(name, target.path, scheme=target.scheme, port=target.port)

    def target_xml(self, host: str | None = None) -> str:
        """The TargetEndpoint XML for :meth:`target_url`, with ``<SSLInfo>`` for an https target."""
        from apigee_psc.target import target_endpoint_xml

        target = self.target or TargetSpec()
        name = self.target_host_name or host
        if not name:
            raise ValidationError("host", host, "the endpoint attachment's host (the spec has no dns.record)")
        return target_endpoint_xml(name, target.path, scheme=target.scheme, port=target.port, tls=target.tls)

    # ------------------------------------------------------------------ (de)serialisation

    @classmethod
    def from_yaml(cls, path: str | Path) -> SouthboundSpec:
        """Read and validate a spec file. Every problem is a ValidationError naming the file,
        with the line and column where its key stands."""
        source = str(path)
        text = read_spec_text(path)
        positions: dict[str, tuple[int, int]] = {}
        data = _yaml.load(text, source, field=FILE_FIELD, positions=positions)
        return cls.from_dict(data, source=source, positions=positions)  # type: ignore[arg-type]

    @classmethod
    def from_dict(
        cls,
        d: Mapping[str, Any],
        source: str | None = None,
        *,
        positions: Mapping[str, tuple[int, int]] | None = None,
    ) -> SouthboundSpec:
        """Validate a spec given as a mapping (the YAML shape) and build it.

        ``source`` names where it came from, for error messages; ``positions`` (as
        :func:`apigee_psc._yaml.load` records them: key path -> line, column) place each
        problem in that file.
        """
        if not isinstance(d, Mapping):
            raise ValidationError(
                FILE_FIELD if source else "spec",
                d if not isinstance(d, str) else d[:80],
                "a mapping of keys at the top level (organization, project, region, ...)",
                source=source,
            )
        try:
            spec: SouthboundSpec = _dataclass_io.load(cls, d, positions=positions, extra={"source": source})
        except ValidationError as exc:
            raise exc.located(source) from None
        return spec

    def _repr_html_(self) -> str:
        """What a notebook shows: the connection this spec describes, as a table."""
        import html

        rows = [
            ("organization", self.organization),
            ("producer", f"{self.project} / {self.region} / network {self.network}"),
            ("forwarding rule", self.forwarding_rule_path),
            ("NAT subnet", f"{self.nat_subnet.name} ({self.nat_subnet.range})"),
            ("service attachment", f"{self.service_attachment.name} ({self.service_attachment.connection_preference})"),
            ("endpoint attachment", self.endpoint_attachment_path),
        ]
        if self.firewall is not None:
            rows.insert(4, ("firewall rule", f"{self.firewall.name} (tcp:{','.join(map(str, self.firewall.ports))})"))
        if self.target_host_name:
            rows.append(("target", self.target_url()))
        body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
        title = html.escape(self.source or "spec")
        return f"<p>Southbound connection <code>{title}</code></p><table><tbody>{body}</tbody></table>"

    def to_dict(self) -> dict[str, Any]:
        """The spec in the YAML shape; ``from_dict(spec.to_dict()) == spec``.

        Optional sections that are absent stay absent, and optional keys are written only when
        they differ from their defaults (except ``firewall.target_tags``,
        ``service_attachment.connection_preference`` and ``accept_projects``, and
        ``target.path``, which are always written).
        """
        return _dataclass_io.dump(self)

    def to_yaml(self) -> str:
        """The spec as YAML text (keys in the contract's order)."""
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=False)

    def replace(self, **changes: Any) -> SouthboundSpec:
        """A copy with some top-level fields changed, validated like any other spec."""
        return dataclasses.replace(self, **changes)


# --------------------------------------------------------------------------- YAML loading

#: The caps of :mod:`apigee_psc._yaml`, which reads spec files (regular files only).
MAX_SPEC_BYTES = _yaml.MAX_BYTES
MAX_SPEC_DEPTH = _yaml.MAX_DEPTH
MAX_SPEC_ALIASES = _yaml.MAX_ALIASES


def read_spec_text(path: str | Path) -> str:
    """The text of a spec file (``"-"``: standard input), read by :func:`apigee_psc._yaml.read_text`."""
    return _yaml.read_text(path, field=FILE_FIELD, max_bytes=MAX_SPEC_BYTES)


#: Every key a spec may contain, by section ("" is the top level). Useful for docs and tools.
KNOWN_KEYS: dict[str, tuple[str, ...]] = _dataclass_io.sections(SouthboundSpec)
