"""Seed the producer side that southbound specs reference, so they apply on a fresh emulator.

A spec (``apigee-psc``'s YAML) *references* things it does not create: the producer's
network, its internal forwarding rule (with the backend service and health check behind
it), the Cloud DNS private zone and the Apigee organization. :func:`producer_resources`
reads specs with its own minimal parsing (the emulator imports nothing from the library)
and lists those resources in ``/_emulator/config`` form; :func:`seed_producer_for` creates
them, skipping any that already exist, so several specs sharing a network or a zone (a
fleet) are fine.

What each referenced name becomes:

- ``network`` other than ``default``: a custom-mode network with a ``<network>-ilb``
  subnet for the load balancer in the spec's region (a /24 under 10.200.0.0/16 that
  overlaps no NAT range of the specs);
- ``forwarding_rule`` (name, relative path or URL; its project and region win): health
  check ``hc-<rule>`` (TCP), internal backend service ``be-<rule>`` and the internal TCP
  forwarding rule on the firewall's ports (80 when the spec has no firewall, at most 5);
- ``dns.managed_zone``: a private zone on the spec's network, for the domain every spec
  naming that zone shares (the longest common suffix of their ``dns.zone.domain``, or of
  their records' parent domains), e.g. ``fleet.example.com.`` for the fleet examples;
- ``organization``: served (not VPC-peered) if the emulator does not know it yet.
"""

from __future__ import annotations

import ipaddress
import os
import re
import stat
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from apigee_psc.emulator.errors import InvalidArgument

if TYPE_CHECKING:
    pass

__all__ = ["SEED_PRODUCER", "load_specs", "producer_resources"]

JSON = dict[str, Any]

_FR_RE = re.compile(r"projects/([^/]+)/regions/([^/]+)/forwardingRules/([^/?#]+)")

#: The seed's producer (``--producer``): what ``examples/seed-scenario.yaml`` references.
SEED_PRODUCER: JSON = {
    "organization": "my-organization",
    "project": "my-project",
    "region": "us-west1",
    "network": "default",
    "forwarding_rule": "fr-ilb",
    "backend_service": "be-ilb",
    "health_check": "hc-tcp-foo",
    "firewall": {"ports": [80]},
    "dns": {"zone": {"domain": "example.com."}, "managed_zone": "my-private-zone"},
}


def load_specs(paths: Iterable[str | Path]) -> list[JSON]:
    """Read spec files (YAML); 400 InvalidArgument naming the file when one is not a mapping."""
    specs = []
    for path in paths:
        try:
            data = yaml.safe_load(_read_regular(Path(path)))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise InvalidArgument(f"producer-for: cannot read {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise InvalidArgument(f"producer-for: {path} is not a spec (a YAML mapping)")
        specs.append(data)
    return specs


#: The largest spec file ``--producer-for`` reads (a spec is a few hundred bytes).
MAX_SPEC_BYTES = 1 << 20


def _read_regular(path: Path) -> str:
    """The text of ``path`` if it is a regular file of at most :data:`MAX_SPEC_BYTES`.

    Opened without blocking and checked on the open descriptor, so a FIFO, a device such as
    ``/dev/zero`` or a huge file is refused at once instead of hanging or exhausting memory.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise InvalidArgument(f"producer-for: {path} is not a regular file")
        if info.st_size > MAX_SPEC_BYTES:
            raise InvalidArgument(f"producer-for: {path} is larger than {MAX_SPEC_BYTES} bytes")
        raw = handle.read(MAX_SPEC_BYTES + 1)
    if len(raw) > MAX_SPEC_BYTES:
        raise InvalidArgument(f"producer-for: {path} is larger than {MAX_SPEC_BYTES} bytes")
    return raw.decode("utf-8")


def _text(spec: Mapping[str, Any], key: str, default: str | None = None) -> str:
    value = spec.get(key, default)
    if not isinstance(value, str) or not value:
        raise InvalidArgument(f"producer-for: the spec needs '{key}' (a string)")
    return value


def _short(prefix: str, name: str) -> str:
    """``prefix-name`` cut to a valid 63-character Compute name."""
    return f"{prefix}-{name}"[:63].rstrip("-")


def _common_domain(domains: Sequence[str]) -> str:
    """The longest common suffix (by labels) of ``domains``, with a trailing dot."""
    split = [d.rstrip(".").split(".") for d in domains]
    common: list[str] = []
    for labels in zip(*(reversed(s) for s in split), strict=False):
        if len(set(labels)) != 1:
            break
        common.append(labels[0])
    if len(common) < 2:  # never a bare TLD: keep the first domain
        return domains[0].rstrip(".") + "."
    return ".".join(reversed(common)) + "."


def _zone_domain(spec: Mapping[str, Any]) -> str | None:
    dns = spec.get("dns")
    if not isinstance(dns, dict):
        return None
    zone = dns.get("zone")
    if isinstance(zone, dict) and isinstance(zone.get("domain"), str):
        return str(zone["domain"])
    record = dns.get("record")
    if isinstance(record, str) and record.count(".") >= 2:
        return record.rstrip(".").split(".", 1)[1] + "."
    return None


def _nat_ranges(specs: Sequence[Mapping[str, Any]]) -> list[ipaddress.IPv4Network]:
    out = []
    for spec in specs:
        nat = spec.get("nat_subnet")
        if isinstance(nat, dict) and isinstance(nat.get("range"), str):
            try:
                out.append(ipaddress.IPv4Network(nat["range"], strict=False))
            except ValueError:
                continue
    return out


def producer_resources(specs: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[JSON]]:
    """The organizations and the ``/_emulator/config`` resources the specs reference.

    Resources are in creation order (network, subnet, health check, backend service,
    forwarding rule, zone) and each appears once however many specs reference it.
    """
    orgs: list[str] = []
    resources: dict[tuple[str, ...], JSON] = {}
    taken = _nat_ranges(specs)
    zone_domains: dict[tuple[str, str], list[str]] = {}
    zone_network: dict[tuple[str, str], str] = {}

    for spec in specs:
        org = _text(spec, "organization")
        if org not in orgs:
            orgs.append(org)
        project = _text(spec, "project")
        region = _text(spec, "region")
        network = _text(spec, "network", "default")
        fr = _text(spec, "forwarding_rule")
        match = _FR_RE.search(fr)
        fr_project, fr_region, fr_name = match.groups() if match else (project, region, fr)
        net_path = f"projects/{fr_project}/global/networks/{network}"
        subnet: str | None = None
        if network != "default":
            resources.setdefault(
                ("network", fr_project, network),
                {
                    "api": "compute",
                    "collection": "networks",
                    "project": fr_project,
                    "body": {"name": network, "autoCreateSubnetworks": False},
                },
            )
            subnet = _short(network, "ilb")
            key = ("subnet", fr_project, fr_region, subnet)
            if key not in resources:
                cidr = next(
                    c
                    for c in (ipaddress.IPv4Network(f"10.200.{i}.0/24") for i in range(256))
                    if not any(c.overlaps(t) for t in taken)
                )
                taken.append(cidr)
                resources[key] = {
                    "api": "compute",
                    "collection": "subnetworks",
                    "project": fr_project,
                    "region": fr_region,
                    "body": {"name": subnet, "network": net_path, "ipCidrRange": str(cidr), "purpose": "PRIVATE"},
                }
        hc = str(spec.get("health_check") or _short("hc", fr_name))
        be = str(spec.get("backend_service") or _short("be", fr_name))
        firewall = spec.get("firewall")
        ports = firewall.get("ports") if isinstance(firewall, dict) else None
        ports = [str(p) for p in (ports or [80])][:5]
        scope = f"projects/{fr_project}/regions/{fr_region}"
        resources.setdefault(
            ("hc", fr_project, fr_region, hc),
            {
                "api": "compute",
                "collection": "healthChecks",
                "project": fr_project,
                "region": fr_region,
                "body": {"name": hc, "type": "TCP", "tcpHealthCheck": {"port": int(ports[0])}},
            },
        )
        resources.setdefault(
            ("be", fr_project, fr_region, be),
            {
                "api": "compute",
                "collection": "backendServices",
                "project": fr_project,
                "region": fr_region,
                "body": {
                    "name": be,
                    "loadBalancingScheme": "INTERNAL",
                    "protocol": "TCP",
                    "network": net_path,
                    "healthChecks": [f"{scope}/healthChecks/{hc}"],
                },
            },
        )
        rule: JSON = {
            "name": fr_name,
            "loadBalancingScheme": "INTERNAL",
            "IPProtocol": "TCP",
            "ports": ports,
            "network": net_path,
            "backendService": f"{scope}/backendServices/{be}",
        }
        if subnet:
            rule["subnetwork"] = f"{scope}/subnetworks/{subnet}"
        resources.setdefault(
            ("fr", fr_project, fr_region, fr_name),
            {
                "api": "compute",
                "collection": "forwardingRules",
                "project": fr_project,
                "region": fr_region,
                "body": rule,
            },
        )
        dns = spec.get("dns")
        managed = dns.get("managed_zone") if isinstance(dns, dict) else None
        if isinstance(managed, str) and managed:
            domain = _zone_domain(spec)
            if domain is None:
                raise InvalidArgument(f"producer-for: cannot tell the domain of managed zone {managed!r}")
            zone_domains.setdefault((project, managed), []).append(domain)
            zone_network.setdefault((project, managed), f"projects/{project}/global/networks/{network}")

    for (project, managed), domains in zone_domains.items():
        resources[("zone", project, managed)] = {
            "api": "dns",
            "collection": "managedZones",
            "project": project,
            "body": {
                "name": managed,
                "dnsName": _common_domain(domains),
                "description": "private zone of the producer (seeded by the emulator)",
                "visibility": "private",
                "privateVisibilityConfig": {"networks": [{"networkUrl": zone_network[(project, managed)]}]},
            },
        }
    return orgs, list(resources.values())
