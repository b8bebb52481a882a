"""Apigee v1 routes: thin handlers over the Apigee backend."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from apigee_psc.emulator.errors import (
    InvalidArgument,
)
from apigee_psc.emulator.routing import Call, Reply, RouteGroup, page_reply

T = TypeVar("T")

ROUTES = RouteGroup("apigee", style="rpc", service="apigee.googleapis.com")
_O = "/v1/organizations/<id:org>"


def _apigee_page(call: Call, key: str, items: Sequence[T], render: Callable[[T], Any]) -> Reply:
    """One page of an Apigee list (``pageSize``, default 25; an empty list is left out)."""
    size = call.int_arg("pageSize")
    if size is not None and size < 0:
        raise InvalidArgument("pageSize must not be negative.", reason="badRequest")
    token = call.args.get("pageToken") or None
    return page_reply(key, items, size, token, render, default=25, maximum=1000, omit_empty=True)


@ROUTES.route("GET", "/v1/organizations", "apigee.organizations.list")
def _list_orgs(call: Call) -> Reply:
    orgs = [
        {"organization": o, "projectId": o, "projectIds": [o], "location": "us-west1"}
        for o in sorted(call.world.apigee.orgs)
    ]
    return Reply({"organizations": orgs})


@ROUTES.route("GET", _O, "apigee.organizations.get")
def _get_org(call: Call, org: str) -> Reply:
    return Reply(call.world.apigee.org_dict(org))


@ROUTES.route("POST", f"{_O}/endpointAttachments", "apigee.organizations.endpointAttachments.create")
def _create_ea(call: Call, org: str) -> Reply:
    op = call.world.apigee.create_endpoint_attachment(org, call.args.get("endpointAttachmentId"), call.json())
    return Reply(op.to_dict())


@ROUTES.route("GET", f"{_O}/endpointAttachments", "apigee.organizations.endpointAttachments.list")
def _list_ea(call: Call, org: str) -> Reply:
    backend = call.world.apigee
    items = backend.list_endpoint_attachments(org)
    return _apigee_page(call, "endpointAttachments", items, backend.attachment_dict)


@ROUTES.route("GET", f"{_O}/endpointAttachments/<id:ea>", "apigee.organizations.endpointAttachments.get")
def _get_ea(call: Call, org: str, ea: str) -> Reply:
    backend = call.world.apigee
    return Reply(backend.attachment_dict(backend.get_endpoint_attachment(org, ea)))


@ROUTES.route("DELETE", f"{_O}/endpointAttachments/<id:ea>", "apigee.organizations.endpointAttachments.delete")
def _delete_ea(call: Call, org: str, ea: str) -> Reply:
    return Reply(call.world.apigee.delete_endpoint_attachment(org, ea).to_dict())


@ROUTES.route("POST", f"{_O}/dnsZones", "apigee.organizations.dnsZones.create")
def _create_zone(call: Call, org: str) -> Reply:
    return Reply(call.world.apigee.create_dns_zone(org, call.args.get("dnsZoneId"), call.json()).to_dict())


@ROUTES.route("GET", f"{_O}/dnsZones", "apigee.organizations.dnsZones.list")
def _list_zones(call: Call, org: str) -> Reply:
    return _apigee_page(call, "dnsZones", call.world.apigee.list_dns_zones(org), lambda zone: zone.to_dict())


@ROUTES.route("GET", f"{_O}/dnsZones/<id:zone>", "apigee.organizations.dnsZones.get")
def _get_zone(call: Call, org: str, zone: str) -> Reply:
    return Reply(call.world.apigee.get_dns_zone(org, zone).to_dict())


@ROUTES.route("DELETE", f"{_O}/dnsZones/<id:zone>", "apigee.organizations.dnsZones.delete")
def _delete_zone(call: Call, org: str, zone: str) -> Reply:
    return Reply(call.world.apigee.delete_dns_zone(org, zone).to_dict())


@ROUTES.route("GET", f"{_O}/operations", "apigee.organizations.operations.list")
def _list_ops(call: Call, org: str) -> Reply:
    return _apigee_page(call, "operations", call.world.apigee.list_operations(org), lambda op: op.to_dict())


@ROUTES.route("GET", f"{_O}/operations/<id:op>", "apigee.organizations.operations.get")
def _get_op(call: Call, org: str, op: str) -> Reply:
    return Reply(call.world.apigee.get_operation(org, op).to_dict())
