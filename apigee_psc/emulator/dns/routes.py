"""Cloud DNS v1 routes: thin handlers over the backend."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from apigee_psc.emulator.dns.backend import bad_request
from apigee_psc.emulator.routing import Call, Reply, RouteGroup, page_reply

T = TypeVar("T")

ROUTES = RouteGroup("dns", style="compute", service="dns.googleapis.com")
_Z = "/dns/v1/projects/<id:project>/managedZones"


def _dns_page(call: Call, key: str, items: Sequence[T], render: Callable[[T], Any], kind: str) -> Reply:
    """One page of a Cloud DNS list (``maxResults``, default 1000), with its ``kind``."""
    token = call.args.get("pageToken")
    return page_reply(key, items, _max_results(call), token, render, default=1000, maximum=1000, head={"kind": kind})


def _max_results(call: Call) -> int | None:
    size = call.int_arg("maxResults")
    if size is not None and size < 0:
        raise bad_request(f"Invalid value for 'parameters.maxResults': '{size}'")
    return size


@ROUTES.route("POST", _Z, "dns.managedZones.create")
def _create_zone(call: Call, project: str) -> Reply:
    return Reply(call.world.dns.create_zone(project, call.json()).to_dict())


@ROUTES.route("GET", _Z, "dns.managedZones.list")
def _list_zones(call: Call, project: str) -> Reply:
    zones = call.world.dns.list_zones(project, call.args.get("dnsName"))
    return _dns_page(call, "managedZones", zones, lambda zone: zone.to_dict(), "dns#managedZonesListResponse")


@ROUTES.route("GET", f"{_Z}/<id:zone>", "dns.managedZones.get")
def _get_zone(call: Call, project: str, zone: str) -> Reply:
    return Reply(call.world.dns.zone(project, zone).to_dict())


@ROUTES.route("DELETE", f"{_Z}/<id:zone>", "dns.managedZones.delete")
def _delete_zone(call: Call, project: str, zone: str) -> Reply:
    call.world.dns.delete_zone(project, zone)
    return Reply(None, status=204)


@ROUTES.route("POST", f"{_Z}/<id:zone>/rrsets", "dns.resourceRecordSets.create")
def _create_rrset(call: Call, project: str, zone: str) -> Reply:
    return Reply(call.world.dns.create_rrset(project, zone, call.json()))


@ROUTES.route("GET", f"{_Z}/<id:zone>/rrsets", "dns.resourceRecordSets.list")
def _list_rrsets(call: Call, project: str, zone: str) -> Reply:
    rrsets = call.world.dns.list_rrsets(project, zone, call.args.get("name"), call.args.get("type"))
    return _dns_page(call, "rrsets", rrsets, lambda rrset: rrset, "dns#resourceRecordSetsListResponse")


@ROUTES.route("GET", f"{_Z}/<id:zone>/rrsets/<id:name>/<id:rtype>", "dns.resourceRecordSets.get")
def _get_rrset(call: Call, project: str, zone: str, name: str, rtype: str) -> Reply:
    return Reply(call.world.dns.get_rrset(project, zone, name, rtype))


@ROUTES.route("PATCH", f"{_Z}/<id:zone>/rrsets/<id:name>/<id:rtype>", "dns.resourceRecordSets.patch")
def _patch_rrset(call: Call, project: str, zone: str, name: str, rtype: str) -> Reply:
    return Reply(call.world.dns.patch_rrset(project, zone, name, rtype, call.json()))


@ROUTES.route("DELETE", f"{_Z}/<id:zone>/rrsets/<id:name>/<id:rtype>", "dns.resourceRecordSets.delete")
def _delete_rrset(call: Call, project: str, zone: str, name: str, rtype: str) -> Reply:
    call.world.dns.delete_rrset(project, zone, name, rtype)
    return Reply({})


@ROUTES.route("POST", f"{_Z}/<id:zone>/changes", "dns.changes.create")
def _create_change(call: Call, project: str, zone: str) -> Reply:
    return Reply(call.world.dns.create_change(project, zone, call.json()))


@ROUTES.route("GET", f"{_Z}/<id:zone>/changes/<id:change>", "dns.changes.get")
def _get_change(call: Call, project: str, zone: str, change: str) -> Reply:
    return Reply(call.world.dns.get_change(project, zone, change))
