"""Compute's validation rules, one validator per collection (each returns the fields to store)."""

from __future__ import annotations

import hashlib
import ipaddress
import re
from typing import Any

from apigee_psc.emulator.compute.fields import JSON, PUBLIC_IMAGES, TAG_RE
from apigee_psc.emulator.compute.resources import ComputeResource, invalid_field, not_found, resource_path
from apigee_psc.emulator.compute.store import ComputeStore
from apigee_psc.emulator.errors import InvalidArgument, ResourceInUse


class ComputeRules(ComputeStore):
    """The checks Compute makes on a resource before it stores it."""

    def _network(self, value: Any, project: str, field_name: str = "network") -> ComputeResource:
        path = self.ref(value, field_name, project, None, "networks")
        return self.lookup(path)

    def _validate_subnetworks(
        self, project: str, region: str | None, name: str, f: JSON, current: ComputeResource | None
    ) -> JSON:
        if "network" not in f:
            raise invalid_field("network", "", "The network is required.")
        net = self._network(f["network"], project)
        f["network"] = net.path
        purpose = f.setdefault("purpose", "PRIVATE")
        if purpose not in {
            "PRIVATE",
            "PRIVATE_RFC_1918",
            "PRIVATE_SERVICE_CONNECT",
            "REGIONAL_MANAGED_PROXY",
            "GLOBAL_MANAGED_PROXY",
            "INTERNAL_HTTPS_LOAD_BALANCER",
            "PRIVATE_NAT",
            "PEER_MIGRATION",
        }:
            raise invalid_field("purpose", purpose, "Unknown purpose.")
        raw = f.get("ipCidrRange")
        try:
            cidr = ipaddress.IPv4Network(str(raw), strict=True)
        except ValueError as exc:
            raise invalid_field(
                "ipCidrRange", raw, "Invalid IPCidrRange: it must be an IPv4 CIDR range with no host bits set."
            ) from exc
        if not 8 <= cidr.prefixlen <= 29:
            raise invalid_field("ipCidrRange", raw, "The prefix length must be between /8 and /29.")
        for other in self._subnets_of(net.path):
            if other.name == name and other.region == region:
                continue
            for rng in [other.fields["ipCidrRange"]] + [
                s.get("ipCidrRange", "") for s in other.fields.get("secondaryIpRanges", [])
            ]:
                if rng and cidr.overlaps(ipaddress.ip_network(rng)):
                    raise InvalidArgument(
                        f"Invalid IPCidrRange: {cidr} conflicts with existing subnetwork '{other.name}' "
                        f"in region '{other.region}'."
                    )
        f["ipCidrRange"] = str(cidr)
        if purpose in ("PRIVATE", "PRIVATE_RFC_1918"):
            f["gatewayAddress"] = str(cidr.network_address + 1)
            f.setdefault("privateIpGoogleAccess", False)
        f.setdefault("stackType", "IPV4_ONLY")
        if current is None:
            net.fields.setdefault("subnetworks", []).append(resource_path(project, region, "subnetworks", name))
        return f

    def _validate_firewalls(
        self, project: str, region: str | None, name: str, f: JSON, current: ComputeResource | None
    ) -> JSON:
        f["network"] = self._network(f.get("network", "global/networks/default"), project).path
        direction = f.setdefault("direction", "INGRESS")
        if direction not in ("INGRESS", "EGRESS"):
            raise invalid_field("direction", direction, "Must be INGRESS or EGRESS.")
        priority = f.setdefault("priority", 1000)
        if not isinstance(priority, int) or not 0 <= priority <= 65535:
            raise invalid_field("priority", priority, "Must be between 0 and 65535.")
        if bool(f.get("allowed")) == bool(f.get("denied")):
            raise InvalidArgument("Exactly one of 'allowed' or 'denied' must be specified.")
        for key in ("allowed", "denied"):
            for i, rule in enumerate(f.get(key) or []):
                proto = str(rule.get("IPProtocol", "")).lower()
                if proto not in {"tcp", "udp", "icmp", "esp", "ah", "sctp", "ipip", "all"} and not proto.isdigit():
                    raise invalid_field(f"{key}[{i}].IPProtocol", proto, "Unknown protocol.")
                for port in rule.get("ports", []) or []:
                    if proto not in ("tcp", "udp", "sctp", "all"):
                        raise invalid_field(f"{key}[{i}].ports", port, "Ports need tcp, udp or sctp.")
                    if not re.fullmatch(r"\d{1,5}(-\d{1,5})?", str(port)) or any(
                        not 0 <= int(p) <= 65535 for p in str(port).split("-")
                    ):
                        raise invalid_field(f"{key}[{i}].ports", port, "Invalid port or port range.")
        for rng in f.get("sourceRanges", []) + f.get("destinationRanges", []):
            try:
                ipaddress.ip_network(rng, strict=False)
            except ValueError as exc:
                raise invalid_field("sourceRanges", rng, "Invalid IP range.") from exc
        for tag in f.get("targetTags", []) + f.get("sourceTags", []):
            if not TAG_RE.match(str(tag)):
                raise invalid_field("targetTags", tag, "Invalid network tag.")
        if direction == "INGRESS" and not (
            f.get("sourceRanges") or f.get("sourceTags") or f.get("sourceServiceAccounts")
        ):
            f["sourceRanges"] = ["0.0.0.0/0"]
        f.setdefault("disabled", False)
        f.setdefault("logConfig", {"enable": False})
        return f

    def _validate_healthChecks(
        self, project: str, region: str | None, name: str, f: JSON, current: ComputeResource | None
    ) -> JSON:
        kind = f.get("type")
        sub = {
            "TCP": "tcpHealthCheck",
            "HTTP": "httpHealthCheck",
            "HTTPS": "httpsHealthCheck",
            "HTTP2": "http2HealthCheck",
            "SSL": "sslHealthCheck",
            "GRPC": "grpcHealthCheck",
            "GRPC_WITH_TLS": "grpcTlsHealthCheck",
        }
        if kind not in sub:
            raise invalid_field("type", kind, "The health check type is required (TCP, HTTP, ...).")
        spec = f.setdefault(sub[kind], {})
        if "port" not in spec and "portName" not in spec and spec.get("portSpecification") is None:
            spec["port"] = 443 if kind in ("HTTPS", "SSL") else 80
        spec.setdefault("proxyHeader", "NONE")
        for key, default in (
            ("checkIntervalSec", 5),
            ("timeoutSec", 5),
            ("unhealthyThreshold", 2),
            ("healthyThreshold", 2),
        ):
            f.setdefault(key, default)
        if f["timeoutSec"] > f["checkIntervalSec"]:
            raise invalid_field("timeoutSec", f["timeoutSec"], "It must not be greater than checkIntervalSec.")
        return f

    def _validate_backendServices(
        self, project: str, region: str | None, name: str, f: JSON, current: ComputeResource | None
    ) -> JSON:
        scheme = _scheme(f)
        f.setdefault("protocol", "TCP" if scheme == "INTERNAL" else "HTTP")
        checks = [self.ref(c, "healthChecks", project, region, "healthChecks") for c in f.get("healthChecks", [])]
        for c in checks:
            self.lookup(c)
        if scheme == "INTERNAL" and not checks:
            raise invalid_field(
                "healthChecks", "", "A backend service with loadBalancingScheme INTERNAL must have a health check."
            )
        if checks:
            f["healthChecks"] = checks
        if "network" in f:
            f["network"] = self._network(f["network"], project).path
        f["backends"] = self._backends(f.get("backends") or [], scheme, project, region)
        if not f["backends"]:
            del f["backends"]
        f.setdefault("sessionAffinity", "NONE")
        f.setdefault("timeoutSec", 30)
        f.setdefault("connectionDraining", {"drainingTimeoutSec": 0})
        return f

    def _backends(self, backends: Any, scheme: str, project: str, region: str | None) -> list[JSON]:
        """A backend service's ``backends``: each names an existing instance group (404
        otherwise, as for a zonal group where only a regional one exists), once; an INTERNAL
        backend service balances by CONNECTION."""
        if not isinstance(backends, list):
            raise invalid_field("backends", backends, "A list of backends is expected.")
        out: list[JSON] = []
        for i, backend in enumerate(backends):
            if not isinstance(backend, dict) or not backend.get("group"):
                raise invalid_field(f"backends[{i}].group", "", "The backend's group is required.")
            group = self.ref(backend["group"], f"backends[{i}].group", project, region, "instanceGroups")
            if group.split("/")[-2] != "instanceGroups":
                raise invalid_field(f"backends[{i}].group", backend["group"], "Only instance groups are modelled.")
            self.lookup(group)
            if any(b["group"] == group for b in out):
                raise invalid_field(f"backends[{i}].group", backend["group"], "Duplicate backend group.")
            mode = backend.setdefault("balancingMode", "CONNECTION" if scheme == "INTERNAL" else "UTILIZATION")
            if scheme == "INTERNAL" and mode != "CONNECTION":
                raise invalid_field(
                    f"backends[{i}].balancingMode",
                    mode,
                    "Balancing mode must be CONNECTION for an INTERNAL backend service.",
                )
            out.append({**backend, "group": group})
        return out

    def _validate_instanceTemplates(
        self, project: str, region: str | None, name: str, f: JSON, current: ComputeResource | None
    ) -> JSON:
        props = f.get("properties")
        if not isinstance(props, dict):
            raise invalid_field("properties", props, "The instance properties are required.")
        machine = props.get("machineType")
        if not isinstance(machine, str) or not re.fullmatch(r"[a-z][-a-z0-9]{0,62}", machine):
            raise invalid_field("properties.machineType", machine, "A machine type name is required.")
        disks = props.get("disks") or []
        if not any(d.get("boot") for d in disks if isinstance(d, dict)):
            raise invalid_field("properties.disks", "", "A boot disk is required.")
        for i, disk in enumerate(disks):
            image = (disk.get("initializeParams") or {}).get("sourceImage") if isinstance(disk, dict) else None
            if image is not None:
                self.image_from_url(str(image), f"properties.disks[{i}].initializeParams.sourceImage")
        nics = props.get("networkInterfaces") or []
        if not nics:
            raise invalid_field("properties.networkInterfaces", "", "A network interface is required.")
        for nic in nics:
            net = self._network(nic.get("network", "global/networks/default"), project)
            nic["network"] = net.path
            if nic.get("subnetwork"):
                # A global template names a regional subnet: that region's default subnet exists too.
                sub_path = self.ref(nic["subnetwork"], "subnetwork", project, region, "subnetworks")
                in_region = re.match(r"projects/([^/]+)/regions/([^/]+)/", sub_path)
                if in_region and in_region.group(1) == project:
                    self._ensure_region(project, in_region.group(2))
                sub = self.lookup(sub_path)
                if sub.fields.get("network") != net.path:
                    raise invalid_field("properties.networkInterfaces.subnetwork", sub.path, "Not in the network.")
                nic["subnetwork"] = sub.path
        for tag in (props.get("tags") or {}).get("items", []) or []:
            if not TAG_RE.match(str(tag)):
                raise invalid_field("properties.tags.items", tag, "Invalid network tag.")
        keys = [item.get("key") for item in (props.get("metadata") or {}).get("items", []) or []]
        if len(keys) != len(set(keys)):
            raise invalid_field("properties.metadata.items", keys, "Duplicate metadata key.")
        return f

    def _validate_instanceGroupManagers(
        self, project: str, region: str | None, name: str, f: JSON, current: ComputeResource | None
    ) -> JSON:
        """A regional managed instance group; its instance group (same name) is created with it."""
        base = f.get("baseInstanceName")
        if not isinstance(base, str) or not re.fullmatch(r"[a-z](?:[-a-z0-9]{0,56}[a-z0-9])?", base):
            raise invalid_field("baseInstanceName", base, "Must be a lowercase name of at most 58 characters.")
        template = self.lookup(
            self.ref(f.get("instanceTemplate"), "instanceTemplate", project, region, "instanceTemplates")
        )
        if template.collection != "instanceTemplates":
            raise invalid_field("instanceTemplate", template.path, "It must be an instance template.")
        f["instanceTemplate"] = template.path
        size = f.setdefault("targetSize", 0)
        if not isinstance(size, int) or size < 0:
            raise invalid_field("targetSize", size, "Must be a non-negative integer.")
        ports = self._named_ports(f.get("namedPorts") or [])
        f.setdefault(
            "distributionPolicy",
            {"zones": [{"zone": f"projects/{project}/zones/{region}-{z}"} for z in "abc"], "targetShape": "EVEN"},
        )
        f.setdefault("versions", [{"instanceTemplate": template.path}])
        group_path = resource_path(project, region, "instanceGroups", name)
        group = self.resources.get(group_path)
        nic = (template.fields["properties"].get("networkInterfaces") or [{}])[0]
        if current is None:
            if group is not None:
                raise invalid_field("name", name, f"The instance group '{group_path}' already exists.")
            fields: JSON = {"network": nic.get("network"), "size": size}
            if nic.get("subnetwork"):
                fields["subnetwork"] = nic["subnetwork"]
            if ports:
                fields["namedPorts"] = ports
            group = self._store_new("instanceGroups", project, region, name, fields)
        elif group is not None:
            group.fields["size"] = size
        f["instanceGroup"] = group_path
        if ports:
            f["namedPorts"] = ports
        return f

    def _validate_instanceGroups(
        self, project: str, region: str | None, name: str, f: JSON, current: ComputeResource | None
    ) -> JSON:
        ports = self._named_ports(f.get("namedPorts") or [])
        if ports:
            f["namedPorts"] = ports
        else:
            f.pop("namedPorts", None)
        return f

    @staticmethod
    def _named_ports(ports: Any) -> list[JSON]:
        if not isinstance(ports, list):
            raise invalid_field("namedPorts", ports, "A list of named ports is expected.")
        out = []
        for i, port in enumerate(ports):
            name, number = (port.get("name"), port.get("port")) if isinstance(port, dict) else (None, None)
            if not isinstance(name, str) or not re.fullmatch(r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?", name):
                raise invalid_field(f"namedPorts[{i}].name", name, "Invalid named port name.")
            if not isinstance(number, int) or not 1 <= number <= 65535:
                raise invalid_field(f"namedPorts[{i}].port", number, "Must be between 1 and 65535.")
            out.append({"name": name, "port": number})
        return out

    def image_from_url(self, url: str, field_name: str = "sourceImage") -> JSON:
        """A public image named by URL: ``.../projects/P/global/images/NAME`` or ``.../images/family/F``."""
        match = re.search(r"projects/([^/]+)/global/images/(family/)?([^/?#]+)$", url)
        if match is None:
            raise invalid_field(field_name, url, "The URL is malformed.")
        project, family, name = match.group(1), match.group(2), match.group(3)
        return self.image(project, name, family=bool(family))

    def image(self, project: str, name: str, *, family: bool = False) -> JSON:
        """The public image ``name`` (or the latest of family ``name``) of image project ``project``."""
        for (img_project, img_family), image in PUBLIC_IMAGES.items():
            if img_project == project and (img_family == name if family else image == name):
                digest = hashlib.sha256(f"{project}/{image}".encode()).digest()
                return {
                    "kind": "compute#image",
                    "id": str(int.from_bytes(digest[:8], "big") >> 1),
                    "creationTimestamp": "2025-06-10T00:00:00.000-07:00",
                    "name": image,
                    "family": img_family,
                    "status": "READY",
                    "sourceType": "RAW",
                    "diskSizeGb": "10",
                    "architecture": "X86_64",
                    "selfLink": f"projects/{project}/global/images/{image}",
                }
        what = f"family/{name}" if family else name
        raise not_found(f"projects/{project}/global/images/{what}")

    def _validate_forwardingRules(
        self, project: str, region: str | None, name: str, f: JSON, current: ComputeResource | None
    ) -> JSON:
        scheme = _scheme(f)
        proto = f.setdefault("IPProtocol", "TCP")
        if proto not in {"TCP", "UDP", "ESP", "AH", "SCTP", "ICMP", "L3_DEFAULT"}:
            raise invalid_field("IPProtocol", proto, "Unknown protocol.")
        ports = f.get("ports") or []
        if len(ports) > 5:
            raise invalid_field("ports", ",".join(map(str, ports)), "At most 5 ports can be specified.")
        for p in ports:
            if not str(p).isdigit() or not 1 <= int(p) <= 65535:
                raise invalid_field("ports", p, "Invalid port.")
        if ports and (f.get("allPorts") or f.get("portRange")):
            raise InvalidArgument("Only one of 'ports', 'portRange' or 'allPorts' may be specified.")
        if ports:
            f["ports"] = [str(p) for p in ports]
        if scheme == "INTERNAL":
            if not f.get("backendService"):
                raise invalid_field(
                    "backendService",
                    "",
                    "Forwarding rules with loadBalancingScheme INTERNAL must specify a backend service.",
                )
            bs = self.lookup(self.ref(f["backendService"], "backendService", project, region, "backendServices"))
            if bs.fields.get("loadBalancingScheme") != "INTERNAL":
                raise invalid_field(
                    "backendService", bs.path, "The backend service's loadBalancingScheme must be INTERNAL."
                )
            f["backendService"] = bs.path
            net = self._network(f.get("network", "global/networks/default"), project)
            f["network"] = net.path
            if f.get("subnetwork"):
                sub = self.lookup(self.ref(f["subnetwork"], "subnetwork", project, region, "subnetworks"))
            elif net.fields.get("autoCreateSubnetworks"):
                sub = self.lookup(resource_path(project, region, "subnetworks", "default"))
            else:
                raise invalid_field("subnetwork", "", "A subnetwork is required in a custom mode network.")
            if sub.fields.get("network") != net.path or sub.region != region:
                raise invalid_field("subnetwork", sub.path, "The subnetwork is not in the network and region.")
            if sub.fields.get("purpose") not in ("PRIVATE", "PRIVATE_RFC_1918"):
                raise invalid_field("subnetwork", sub.path, "The subnetwork's purpose must be PRIVATE.")
            f["subnetwork"] = sub.path
            f["IPAddress"] = self._allocate(sub, f.get("IPAddress"), current)
        else:
            if "backendService" in f:
                f["backendService"] = self.lookup(
                    self.ref(f["backendService"], "backendService", project, region, "backendServices")
                ).path
            if not f.get("IPAddress"):
                f["IPAddress"] = (
                    f"34.{self.world.rng.randrange(1, 255)}.{self.world.rng.randrange(0, 255)}."
                    f"{self.world.rng.randrange(1, 255)}"
                )
        f.setdefault("networkTier", "PREMIUM")
        return f

    def _allocate(self, sub: ComputeResource, wanted: Any, current: ComputeResource | None) -> str:
        net = self._cidr(sub)
        used = {
            r.fields.get("IPAddress")
            for r in self.resources.values()
            if r.collection == "forwardingRules" and r.fields.get("subnetwork") == sub.path and r is not current
        }
        if wanted:
            try:
                addr = ipaddress.ip_address(str(wanted))
            except ValueError as exc:
                raise invalid_field("IPAddress", wanted, "Invalid IP address.") from exc
            if addr not in net or addr in (net.network_address, net.broadcast_address):
                raise invalid_field("IPAddress", wanted, f"The address is not in subnetwork range {net}.")
            if str(addr) in used:
                raise invalid_field("IPAddress", wanted, "The address is already in use.")
            return str(addr)
        for offset in range(2, net.num_addresses - 2):
            candidate = str(net.network_address + offset)
            if candidate not in used:
                return candidate
        raise InvalidArgument(f"The subnetwork '{sub.path}' has no free IP address.", reason="ipSpaceExhausted")

    def _validate_serviceAttachments(
        self, project: str, region: str | None, name: str, f: JSON, current: ComputeResource | None
    ) -> JSON:
        target_key = "producerForwardingRule" if f.get("producerForwardingRule") else "targetService"
        if not f.get(target_key):
            raise invalid_field("producerForwardingRule", "", "A producer forwarding rule is required.")
        fr = self.lookup(self.ref(f[target_key], target_key, project, region, "forwardingRules"))
        if fr.collection != "forwardingRules" or fr.region != region:
            raise invalid_field(target_key, fr.path, "It must be a forwarding rule in the same region.")
        # gcloud sends both fields (the same self link); they must name the same rule.
        for key in ("producerForwardingRule", "targetService"):
            if f.get(key):
                if self.ref(f[key], key, project, region, "forwardingRules") != fr.path:
                    raise invalid_field(key, f[key], "producerForwardingRule and targetService must be the same.")
                f[key] = fr.path
        if fr.fields.get("loadBalancingScheme") not in ("INTERNAL", "INTERNAL_MANAGED"):
            raise invalid_field(target_key, fr.path, "The forwarding rule must be internal.")
        for other in self.resources.values():
            if (
                other.collection == "serviceAttachments"
                and other is not current
                and fr.path in (other.fields.get("producerForwardingRule"), other.fields.get("targetService"))
            ):
                raise ResourceInUse(f"The forwarding rule resource '{fr.path}' is already being used by '{other.path}'")
        f[target_key] = fr.path
        pref = f.get("connectionPreference")
        if pref not in ("ACCEPT_AUTOMATIC", "ACCEPT_MANUAL"):
            raise invalid_field("connectionPreference", pref, "Must be ACCEPT_AUTOMATIC or ACCEPT_MANUAL.")
        subnets = f.get("natSubnets") or []
        if not subnets:
            raise invalid_field("natSubnets", "", "At least one NAT subnet is required.")
        paths = []
        for raw in subnets:
            sub = self.lookup(self.ref(raw, "natSubnets", project, region, "subnetworks"))
            if sub.region != region:
                raise invalid_field("natSubnets", sub.path, "The NAT subnet must be in the same region.")
            if sub.fields.get("purpose") != "PRIVATE_SERVICE_CONNECT":
                raise invalid_field("natSubnets", sub.path, "The NAT subnet's purpose must be PRIVATE_SERVICE_CONNECT.")
            if sub.path in paths:
                raise invalid_field("natSubnets", sub.path, "Duplicate NAT subnet.")
            paths.append(sub.path)
        f["natSubnets"] = paths
        accept = f.get("consumerAcceptLists") or []
        reject = f.get("consumerRejectLists") or []
        if pref == "ACCEPT_AUTOMATIC" and (accept or reject):
            # Compute's own words (terraform-provider-google #17153): the lists must be cleared
            # (an empty list or null in the same PATCH) before or while switching to automatic.
            raise InvalidArgument("Incorrect combination of connection preference with accept and/or reject list")
        reconcile = f.setdefault("reconcileConnections", False)
        if not isinstance(reconcile, bool):
            raise invalid_field("reconcileConnections", reconcile, "Must be true or false.")
        for i, entry in enumerate(accept):
            keys = [k for k in ("projectIdOrNum", "networkUrl", "endpointUrl") if entry.get(k)]
            if len(keys) != 1:
                raise invalid_field(
                    f"consumerAcceptLists[{i}]",
                    entry,
                    "Exactly one of projectIdOrNum, networkUrl or endpointUrl is required.",
                )
            limit = entry.get("connectionLimit")
            if not isinstance(limit, int) or limit < 0:
                raise invalid_field(
                    f"consumerAcceptLists[{i}].connectionLimit", limit, "A non-negative connection limit is required."
                )
        for i, entry in enumerate(reject):
            if not isinstance(entry, str) or not entry:
                raise invalid_field(f"consumerRejectLists[{i}]", entry, "A project id, number or network URL.")
        if "consumerAcceptLists" in f and not accept:
            del f["consumerAcceptLists"]
        if "consumerRejectLists" in f and not reject:
            del f["consumerRejectLists"]
        for dn in f.get("domainNames", []) or []:
            if not str(dn).endswith("."):
                raise invalid_field("domainNames", dn, "A domain name must end with a dot.")
        f.setdefault("enableProxyProtocol", False)
        return f


def _scheme(f: JSON) -> str:
    """``loadBalancingScheme`` (EXTERNAL when absent, set in ``f``); 400 if it is not one Compute knows."""
    scheme: str = f.setdefault("loadBalancingScheme", "EXTERNAL")
    if scheme not in {"EXTERNAL", "EXTERNAL_MANAGED", "INTERNAL", "INTERNAL_MANAGED", "INTERNAL_SELF_MANAGED"}:
        raise invalid_field("loadBalancingScheme", scheme, "Unknown load balancing scheme.")
    return scheme
