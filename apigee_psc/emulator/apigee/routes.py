"""Apigee v1 routes: thin handlers over the Apigee backend."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from apigee_psc.emulator.apigee.backend import ApigeeBackend, ApigeeOperation
from apigee_psc.emulator.errors import InvalidArgument
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


def _item_routes(
    collection: str,
    arg: str,
    lister: Callable[[ApigeeBackend, str], Sequence[T]],
    getter: Callable[[ApigeeBackend, str, str], T],
    render: Callable[[ApigeeBackend, T], Any],
    deleter: Callable[[ApigeeBackend, str, str], ApigeeOperation] | None = None,
) -> None:
    """Register ``organizations.{collection}`` list and get (and delete, given ``deleter``);
    ``arg`` names the item's path segment."""
    item = f"{_O}/{collection}/<id:{arg}>"

    def do_list(call: Call, org: str) -> Reply:
        backend = call.world.apigee
        return _apigee_page(call, collection, lister(backend, org), lambda found: render(backend, found))

    def do_get(call: Call, org: str, **ids: str) -> Reply:
        backend = call.world.apigee
        return Reply(render(backend, getter(backend, org, ids[arg])))

    ROUTES.route("GET", f"{_O}/{collection}", f"apigee.organizations.{collection}.list")(do_list)
    ROUTES.route("GET", item, f"apigee.organizations.{collection}.get")(do_get)
    if deleter is not None:
        remove = deleter

        def do_delete(call: Call, org: str, **ids: str) -> Reply:
            return Reply(remove(call.world.apigee, org, ids[arg]).to_dict())

        ROUTES.route("DELETE", item, f"apigee.organizations.{collection}.delete")(do_delete)


_item_routes(
    "endpointAttachments",
    "ea",
    ApigeeBackend.list_endpoint_attachments,
    ApigeeBackend.get_endpoint_attachment,
    ApigeeBackend.attachment_dict,
    ApigeeBackend.delete_endpoint_attachment,
)


@ROUTES.route("POST", f"{_O}/dnsZones", "apigee.organizations.dnsZones.create")
def _create_zone(call: Call, org: str) -> Reply:
    return Reply(call.world.apigee.create_dns_zone(org, call.args.get("dnsZoneId"), call.json()).to_dict())


_item_routes(
    "dnsZones",
    "zone",
    ApigeeBackend.list_dns_zones,
    ApigeeBackend.get_dns_zone,
    lambda _backend, zone: zone.to_dict(),
    ApigeeBackend.delete_dns_zone,
)
_item_routes(
    "operations",
    "op",
    ApigeeBackend.list_operations,
    ApigeeBackend.get_operation,
    lambda _backend, op: op.to_dict(),
)
