"""Conformance: every emulator route, query parameter and response field exists in Google's
discovery documents (the ones bundled with google-api-python-client)."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import googleapiclient
import pytest
from emulator_helpers import ORG, PEERED, PROJECT, REGION, SA_PATH, Api, compute_path, producer

from apigee_psc.emulator import EmulatorServer

DOCS = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"
DOC_OF_API = {
    "apigee": "apigee.v1",
    "compute": "compute.v1",
    "dns": "dns.v1",
    "cloudresourcemanager": "cloudresourcemanager.v3",
    "servicenetworking": "servicenetworking.v1",
}


@cache
def doc(api: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DOCS / f"{doc_name(api)}.json").read_text())
    return data


@cache
def methods(api: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}

    def walk(resources: dict[str, Any]) -> None:
        for res in resources.values():
            for m in res.get("methods", {}).values():
                out[m["id"]] = m
            walk(res.get("resources", {}))

    walk(doc(api)["resources"])
    return out


def method_of(endpoint: str) -> tuple[str, dict[str, Any]]:
    """The discovery method of a route's endpoint; ``id@v1`` names a method of the API's v1 document."""
    method_id, _, version = endpoint.partition("@")
    api = method_id.split(".", 1)[0]
    if version:
        api = f"{api}@{version}"
    found = methods(api).get(method_id)
    assert found is not None, f"{endpoint} is not a method of {doc_name(api)}"
    return api, found


def doc_name(api: str) -> str:
    name, _, version = api.partition("@")
    return f"{name}.{version}" if version else DOC_OF_API[name]


def _template(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", re.sub(r"<[^>]+>", "{}", path)).strip("/")


def test_routes_every_rule_exists_in_discovery(emu: EmulatorServer) -> None:
    rules = [r for r in emu.app.map.iter_rules() if not str(r.endpoint).startswith("control.")]
    assert len(rules) >= 45
    for rule in rules:
        api, method = method_of(str(rule.endpoint))
        expected = _template(doc(api)["servicePath"] + method.get("flatPath", method["path"]))
        assert _template(rule.rule) == expected, rule.endpoint
        assert method["httpMethod"] in (rule.methods or set()), rule.endpoint


# -- response fields -----------------------------------------------------------------------------------------


def _schema_for_type_url(api: str, type_url: str) -> dict[str, Any] | None:
    full = type_url.rsplit("/", 1)[-1]
    if full == "google.protobuf.Empty":
        return {"type": "object", "properties": {}}
    package, _, name = full.rpartition(".")
    prefix = "".join(part[:1].upper() + part[1:] for part in package.split("."))
    schemas = doc(api)["schemas"]
    for candidate in (prefix + name, name):
        if candidate in schemas:
            schema: dict[str, Any] = schemas[candidate]
            return schema
    return None


def check(api: str, schema: dict[str, Any], value: Any, where: str, problems: list[str]) -> None:
    """Record in ``problems`` every field of ``value`` that ``schema`` does not describe."""
    if "$ref" in schema:
        schema = doc(api)["schemas"][schema["$ref"]]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        if not isinstance(value, dict):
            problems.append(f"{where}: expected an object, got {value!r}")
            return
        props = schema.get("properties")
        if props is None:
            addl = schema.get("additionalProperties", {})
            if "@type" in value:
                typed = _schema_for_type_url(api, value["@type"])
                if typed is None:
                    problems.append(f"{where}: unknown @type {value['@type']}")
                else:
                    check(api, typed, {k: v for k, v in value.items() if k != "@type"}, where, problems)
            elif addl.get("type") != "any":
                for key, item in value.items():
                    check(api, addl, item, f"{where}.{key}", problems)
            return
        for key, item in value.items():
            if key not in props:
                problems.append(f"{where}.{key}: not in schema {schema.get('id', '?')}")
            else:
                check(api, props[key], item, f"{where}.{key}", problems)
    elif kind == "array":
        if not isinstance(value, list):
            problems.append(f"{where}: expected an array")
            return
        for i, item in enumerate(value):
            check(api, schema["items"], item, f"{where}[{i}]", problems)
    elif kind == "string":
        if not isinstance(value, str):
            problems.append(f"{where}: expected a string, got {value!r}")
        elif "enum" in schema and value not in schema["enum"]:
            problems.append(f"{where}: {value!r} is not one of {schema['enum']}")
    elif kind == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append(f"{where}: expected an integer, got {value!r}")
    elif kind == "boolean" and not isinstance(value, bool):
        problems.append(f"{where}: expected a boolean, got {value!r}")


class Recorder(Api):
    """An Api that records each successful exchange with its endpoint."""

    def __init__(self, server: EmulatorServer) -> None:
        super().__init__(server)
        self.seen: list[tuple[str, dict[str, str], Any]] = []

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        resp = super().call(method, path, body, **params)
        assert resp.status_code < 300, f"{method} {path}: {resp.text}"
        url = urlsplit(resp.url)
        endpoint, _ = self.server.app.map.bind("127.0.0.1").match(url.path, method=method)
        self.seen.append((str(endpoint), dict(parse_qsl(url.query)), resp.json() if resp.content else None))
        return resp


def run_every_route(rec: Recorder, emu: EmulatorServer) -> None:
    """Call every route at least once, successfully."""
    world = emu.world
    producer(world, preference="ACCEPT_MANUAL", accept=[{"projectIdOrNum": "someone", "connectionLimit": 1}])
    world.compute.delete("serviceAttachments", PROJECT, REGION, "gkebackend")
    tenant = world.apigee.org_dict(ORG)["apigeeProjectId"]
    rid = "1c7b0a3e-65b1-4ad9-9c1e-3f6f0c7d9e10"
    ops = []
    for coll, body in [
        ("healthChecks", {"name": "hc2", "type": "TCP", "tcpHealthCheck": {"port": 8080}}),
        (
            "backendServices",
            {
                "name": "bs2",
                "loadBalancingScheme": "INTERNAL",
                "protocol": "TCP",
                "healthChecks": ["regions/us-west1/healthChecks/hc2"],
            },
        ),
        (
            "forwardingRules",
            {
                "name": "fr2",
                "loadBalancingScheme": "INTERNAL",
                "IPProtocol": "TCP",
                "backendService": "regions/us-west1/backendServices/bs2",
                "ports": ["80"],
            },
        ),
        (
            "subnetworks",
            {
                "name": "psc2",
                "network": "global/networks/default",
                "ipCidrRange": "10.200.0.0/28",
                "purpose": "PRIVATE_SERVICE_CONNECT",
            },
        ),
        (
            "serviceAttachments",
            {
                "name": "gkebackend",
                "producerForwardingRule": "regions/us-west1/forwardingRules/fr2",
                "connectionPreference": "ACCEPT_MANUAL",
                "natSubnets": ["psc2"],
                "consumerAcceptLists": [{"projectIdOrNum": tenant, "connectionLimit": 2}],
            },
        ),
    ]:
        ops.append(rec.post(compute_path(coll), body, requestId=rid if coll == "healthChecks" else None).json())
        rec.get(compute_path(coll), maxResults=1)
        rec.get(compute_path(coll, body["name"]))
    rec.post(
        compute_path("firewalls", region=None),
        {
            "name": "fw",
            "network": "global/networks/default",
            "sourceRanges": ["10.200.0.0/28"],
            "targetTags": ["psc-demo"],
            "allowed": [{"IPProtocol": "tcp", "ports": ["80"]}],
        },
    )
    for coll in ("subnetworks", "healthChecks", "backendServices", "forwardingRules", "serviceAttachments"):
        agg = rec.get(
            f"compute/v1/projects/{PROJECT}/aggregated/{coll}",
            maxResults=500,
            includeAllScopes="True",
        ).json()
        assert agg["items"][f"regions/{REGION}"][coll], coll
    gop = rec.get(compute_path("firewalls", region=None)).json()
    rec.get(compute_path("firewalls", "fw", region=None))
    rec.get(compute_path("networks", region=None))
    rec.get(compute_path("networks", "default", region=None))
    rec.get(compute_path("operations", ops[0]["name"]))
    rec.post(compute_path("operations", ops[0]["name"]) + "/wait")
    fw_op = emu.world.compute.delete("firewalls", PROJECT, None, "fw")
    rec.get(compute_path("operations", fw_op.name, region=None))
    rec.post(compute_path("operations", fw_op.name, region=None) + "/wait")
    assert gop["kind"] == "compute#firewallList"

    # The seed's load balancer: image, instance template, managed group, named ports, backend.
    image = rec.get("compute/v1/projects/debian-cloud/global/images/family/debian-12").json()
    rec.get(f"compute/v1/projects/debian-cloud/global/images/{image['name']}")
    rec.post(
        compute_path("instanceTemplates", region=None),
        {
            "name": "foo",
            "properties": {
                "machineType": "n1-standard-1",
                "tags": {"items": ["psc-demo"]},
                "disks": [{"boot": True, "initializeParams": {"sourceImage": image["selfLink"]}}],
                "networkInterfaces": [{"network": "global/networks/default"}],
                "metadata": {"items": [{"key": "startup-script", "value": "echo"}]},
            },
        },
    )
    rec.get(compute_path("instanceTemplates", region=None))
    rec.get(compute_path("instanceTemplates", "foo", region=None))
    rec.post(
        compute_path("instanceGroupManagers"),
        {"name": "foo", "baseInstanceName": "foo", "instanceTemplate": "global/instanceTemplates/foo", "targetSize": 1},
    )
    rec.get(compute_path("instanceGroupManagers"))
    rec.get(compute_path("instanceGroupManagers", "foo"))
    rec.get(compute_path("autoscalers"))
    rec.get(compute_path("instanceGroups"))
    group = rec.get(compute_path("instanceGroups", "foo")).json()
    rec.post(
        compute_path("instanceGroups", "foo") + "/setNamedPorts",
        {"namedPorts": [{"name": "http", "port": 80}], "fingerprint": group["fingerprint"]},
    )
    bs = rec.get(compute_path("backendServices", "bs2")).json()
    rec.call("PUT", compute_path("backendServices", "bs2"), {**bs, "backends": [{"group": group["selfLink"]}]})
    bs = rec.get(compute_path("backendServices", "bs2")).json()
    rec.patch(compute_path("backendServices", "bs2"), {"fingerprint": bs["fingerprint"], "description": "ilb"})
    rec.post(compute_path("firewalls", region=None), {"name": "fw3", "allowed": [{"IPProtocol": "tcp"}]})
    rec.patch(compute_path("firewalls", "fw3", region=None), {"description": "patched"})
    fw3 = rec.get(compute_path("firewalls", "fw3", region=None)).json()
    rec.call("PUT", compute_path("firewalls", "fw3", region=None), {**fw3, "priority": 900})
    rec.delete(compute_path("firewalls", "fw3", region=None))
    sub = rec.get(compute_path("subnetworks", "default")).json()
    rec.patch(
        compute_path("subnetworks", "default"), {"fingerprint": sub["fingerprint"], "logConfig": {"enable": True}}
    )
    rec.post(compute_path("subnetworks", "default") + "/setPrivateIpGoogleAccess", {"privateIpGoogleAccess": True})

    o = f"v1/organizations/{ORG}"
    rec.get("v1/organizations")
    rec.get(o)
    op = rec.post(
        f"{o}/endpointAttachments",
        {"location": REGION, "serviceAttachment": SA_PATH},
        endpointAttachmentId="gkebackend",
    ).json()
    rec.get(f"{o}/endpointAttachments", pageSize=1)
    rec.get(f"{o}/endpointAttachments/gkebackend")
    rec.get(f"{o}/operations", pageSize=5)
    rec.get(f"{o}/operations/{op['name'].rsplit('/', 1)[1]}")
    sa = rec.get(compute_path("serviceAttachments", "gkebackend")).json()
    assert sa["connectedEndpoints"][0]["status"] == "ACCEPTED"
    rec.patch(
        compute_path("serviceAttachments", "gkebackend"), {"fingerprint": sa["fingerprint"], "description": "patched"}
    )

    agent = f"serviceAccount:{world.apigee.service_agent(ORG)}"
    policy = rec.post(f"v3/projects/{PROJECT}:getIamPolicy", {"options": {"requestedPolicyVersion": 3}}).json()
    policy["bindings"].append({"role": "roles/dns.peer", "members": [agent]})
    rec.post(f"v3/projects/{PROJECT}:setIamPolicy", {"policy": policy})
    rec.get(f"v3/projects/{tenant}")
    assert rec.get(f"v1/projects/{tenant}").json()["projectNumber"] == world.crm.number(tenant)
    v1 = rec.post(f"v1/projects/{PROJECT}:getIamPolicy", {"options": {"requestedPolicyVersion": 3}}).json()
    assert {"role": "roles/dns.peer", "members": [agent]} in v1["bindings"]
    rec.post(f"v1/projects/{PROJECT}:setIamPolicy", {"policy": v1, "updateMask": "bindings,etag"})
    rec.post(
        f"{o}/dnsZones",
        {
            "domain": "example.com.",
            "description": "x",
            "peeringConfig": {"targetProjectId": PROJECT, "targetNetworkId": "default"},
        },
        dnsZoneId="my-zone",
    )
    rec.get(f"{o}/dnsZones", pageSize=10)
    rec.get(f"{o}/dnsZones/my-zone")
    rec.delete(f"{o}/dnsZones/my-zone")
    rec.delete(f"{o}/endpointAttachments/gkebackend")

    z = f"dns/v1/projects/{PROJECT}/managedZones"
    rec.post(
        z,
        {
            "name": "pz",
            "dnsName": "example.com.",
            "visibility": "private",
            "description": "p",
            "privateVisibilityConfig": {"networks": [{"networkUrl": f"projects/{PROJECT}/global/networks/default"}]},
        },
    )
    rec.get(z, maxResults=10)
    rec.get(f"{z}/pz")
    rr = rec.post(
        f"{z}/pz/rrsets", {"name": "orders.example.com.", "type": "A", "ttl": 300, "rrdatas": ["7.0.3.4"]}
    ).json()
    rec.get(f"{z}/pz/rrsets", name="orders.example.com.", type="A")
    rec.get(f"{z}/pz/rrsets/orders.example.com./A")
    rec.patch(f"{z}/pz/rrsets/orders.example.com./A", {"ttl": 60})
    change = rec.post(f"{z}/pz/changes", {"deletions": [{**rr, "ttl": 60}], "additions": [rr]}).json()
    rec.get(f"{z}/pz/changes/{change['id']}")
    rec.delete(f"{z}/pz/rrsets/orders.example.com./A")
    rec.delete(f"{z}/pz")

    number = world.crm.number(PROJECT)
    n = f"v1/services/servicenetworking.googleapis.com/projects/{number}/global/networks/default/peeredDnsDomains"
    sn_op = rec.post(n, {"name": "example", "dnsSuffix": "example.com."}).json()
    rec.get(n)
    rec.get(f"v1/{sn_op['name']}")
    rec.delete(f"{n}/example")

    rec.delete(compute_path("serviceAttachments", "gkebackend"))
    rec.post(compute_path("firewalls", region=None), {"name": "fw2", "allowed": [{"IPProtocol": "all"}]})
    rec.delete(compute_path("firewalls", "fw2", region=None))
    for coll, name in [
        ("forwardingRules", "fr2"),
        ("backendServices", "bs2"),
        ("healthChecks", "hc2"),
        ("subnetworks", "psc2"),
    ]:
        rec.delete(compute_path(coll, name))
    rec.delete(compute_path("instanceGroupManagers", "foo"))
    rec.delete(compute_path("instanceTemplates", "foo", region=None))
    assert PEERED in world.orgs


def test_responses_every_field_in_discovery_schema(emu: EmulatorServer) -> None:
    rec = Recorder(emu)
    run_every_route(rec, emu)
    problems: list[str] = []
    for endpoint, query, body in rec.seen:
        api, method = method_of(endpoint)
        params = method.get("parameters", {})
        for key in query:
            if key not in params and key not in ("alt", "prettyPrint"):
                problems.append(f"{endpoint}: query parameter {key} is not in the discovery document")
        if body is None:
            continue
        ref = method.get("response", {}).get("$ref")
        if ref is None:
            if body:
                problems.append(f"{endpoint}: answers {body} but the method has no response")
            continue
        check(api, {"$ref": ref}, body, endpoint, problems)
    assert problems == []


def test_responses_every_route_exercised(emu: EmulatorServer) -> None:
    rec = Recorder(emu)
    run_every_route(rec, emu)
    routes = {str(r.endpoint) for r in emu.app.map.iter_rules() if not str(r.endpoint).startswith("control.")}
    assert routes - {e for e, _, _ in rec.seen} == set()


def test_check_unknown_field_and_bad_enum_reported() -> None:
    problems: list[str] = []
    check(
        "apigee",
        {"$ref": "GoogleCloudApigeeV1EndpointAttachment"},
        {"name": "x", "hostname": "h", "state": "READY"},
        "ea",
        problems,
    )
    check(
        "apigee",
        {"$ref": "GoogleLongrunningOperation"},
        {"response": {"@type": "type.googleapis.com/google.cloud.apigee.v1.DnsZone", "zone": 1}},
        "op",
        problems,
    )
    assert problems == [
        "ea.hostname: not in schema GoogleCloudApigeeV1EndpointAttachment",
        "ea.state: 'READY' is not one of ['STATE_UNSPECIFIED', 'CREATING', 'ACTIVE', 'DELETING', 'UPDATING']",
        "op.response.zone: not in schema GoogleCloudApigeeV1DnsZone",
    ]


@pytest.mark.parametrize(
    ("path", "style"),
    [
        ("v1/organizations/nope", "rpc"),
        (compute_path("subnetworks", "nope"), "compute"),
        ("dns/v1/projects/my-project/managedZones/nope", "compute"),
    ],
)
def test_error_body_shape_matches_api_style(api: Api, path: str, style: str) -> None:
    resp = api.get(path)
    assert resp.status_code == 404
    err = resp.json()["error"]
    assert err["code"] == 404 and err["message"]
    if style == "rpc":
        assert err["status"] == "NOT_FOUND"
        assert err["details"][0]["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
    else:
        assert err["errors"][0]["reason"] == "notFound" and err["errors"][0]["domain"] == "global"
