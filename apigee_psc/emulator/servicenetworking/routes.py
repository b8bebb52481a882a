"""Service Networking v1 routes: thin handlers over the backend."""

from __future__ import annotations

from apigee_psc.emulator.routing import Call, Reply, RouteGroup
from apigee_psc.emulator.servicenetworking.backend import SERVICE

ROUTES = RouteGroup("servicenetworking", style="rpc", service=SERVICE)
_N = "/v1/services/<id:service>/projects/<id:project>/global/networks/<id:network>/peeredDnsDomains"
_PREFIX = "servicenetworking.services.projects.global.networks.peeredDnsDomains"


@ROUTES.route("POST", _N, f"{_PREFIX}.create")
def _create(call: Call, service: str, project: str, network: str) -> Reply:
    return Reply(call.world.servicenetworking.create(service, project, network, call.json()).to_dict())


@ROUTES.route("GET", _N, f"{_PREFIX}.list")
def _list(call: Call, service: str, project: str, network: str) -> Reply:
    return Reply({"peeredDnsDomains": call.world.servicenetworking.list(service, project, network)})


@ROUTES.route("DELETE", f"{_N}/<id:name>", f"{_PREFIX}.delete")
def _delete(call: Call, service: str, project: str, network: str, name: str) -> Reply:
    return Reply(call.world.servicenetworking.delete(service, project, network, name).to_dict())


@ROUTES.route("GET", "/v1/operations/<id:op>", "servicenetworking.operations.get")
def _get_op(call: Call, op: str) -> Reply:
    return Reply(call.world.servicenetworking.get_operation(op).to_dict())
