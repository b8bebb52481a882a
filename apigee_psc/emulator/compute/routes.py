"""Compute v1 routes: thin handlers over :class:`ComputeBackend` (parse, call, render)."""

from __future__ import annotations

import time
from collections.abc import Callable

from apigee_psc.emulator.compute.backend import ComputeBackend
from apigee_psc.emulator.compute.fields import COLLECTIONS, JSON, REGIONAL
from apigee_psc.emulator.compute.resources import ComputeOperation
from apigee_psc.emulator.errors import InvalidArgument
from apigee_psc.emulator.routing import Call, Handler, Reply, RouteGroup, page

ROUTES = RouteGroup("compute", style="compute", service="compute.googleapis.com")
_P = "/compute/v1/projects/<id:project>"
#: A per-item action of the backend: (backend, project, region, name, body, requestId) -> operation.
_Action = Callable[[ComputeBackend, str, str, str, JSON, "str | None"], ComputeOperation]


def _list_reply(call: Call, collection: str, project: str, region: str | None) -> Reply:
    items = call.world.compute.list(collection, project, region)
    size = call.int_arg("maxResults")
    if size is not None and not 0 <= size <= 500:
        raise InvalidArgument(f"Invalid value for field 'maxResults': '{size}'. Must be between 0 and 500.")
    chunk, token = page(items, size, call.args.get("pageToken"), default=500, maximum=500)
    scope = f"regions/{region}" if region else "global"
    base = f"{call.root}compute/v1/projects/{project}/{scope}/{collection}"
    out: JSON = {"kind": COLLECTIONS[collection][2], "id": f"projects/{project}/{scope}/{collection}", "selfLink": base}
    if chunk:
        out["items"] = [call.world.compute.render(r, call.root) for r in chunk]
    if token:
        out["nextPageToken"] = token
    return Reply(out)


#: Collections with an aggregated list: URL segment -> (discovery resource, list kind).
AGGREGATED: dict[str, tuple[str, str]] = {
    "subnetworks": ("subnetworks", "compute#subnetworkAggregatedList"),
    "healthChecks": ("healthChecks", "compute#healthChecksAggregatedList"),
    "backendServices": ("backendServices", "compute#backendServiceAggregatedList"),
    "forwardingRules": ("forwardingRules", "compute#forwardingRuleAggregatedList"),
    "serviceAttachments": ("serviceAttachments", "compute#serviceAttachmentAggregatedList"),
}


def _aggregated_reply(call: Call, collection: str, project: str) -> Reply:
    """``projects/{p}/aggregated/{collection}``: every region's items under ``regions/{r}``.

    What gcloud's ``list`` calls without ``--regions``; a page holds ``maxResults`` items in
    all; ``includeAllScopes`` and ``returnPartialSuccess`` are accepted (every scope here
    answers), ``filter`` and ``orderBy`` are not modelled and refused rather than ignored.
    """
    for unsupported in ("filter", "orderBy"):
        if call.args.get(unsupported):
            raise InvalidArgument(f"The emulator does not model '{unsupported}' on aggregated lists.")
    backend = call.world.compute
    project_id, items = backend.aggregated(collection, project)
    size = call.int_arg("maxResults")
    if size is not None and not 0 <= size <= 500:
        raise InvalidArgument(f"Invalid value for field 'maxResults': '{size}'. Must be between 0 and 500.")
    chunk, token = page(items, size, call.args.get("pageToken"), default=500, maximum=500)
    scopes: JSON = {}
    for res in chunk:
        scopes.setdefault(f"regions/{res.region}", {collection: []})[collection].append(backend.render(res, call.root))
    out: JSON = {
        "kind": AGGREGATED[collection][1],
        "id": f"projects/{project_id}/aggregated/{collection}",
        "items": scopes,
        "selfLink": f"{call.root}compute/v1/projects/{project_id}/aggregated/{collection}",
    }
    if token:
        out["nextPageToken"] = token
    return Reply(out)


def _op_reply(call: Call, op: ComputeOperation) -> Reply:
    return Reply(op.to_dict(call.root, call.world.now()))


def _register(collection: str, verbs: tuple[str, ...]) -> None:
    disc = COLLECTIONS[collection][0]
    regional = collection in REGIONAL
    base = f"{_P}/regions/<id:region>/{collection}" if regional else f"{_P}/global/{collection}"
    item = base + "/<id:name>"

    def do_list(call: Call, project: str, region: str | None = None) -> Reply:
        return _list_reply(call, collection, project, region)

    def do_get(call: Call, project: str, name: str, region: str | None = None) -> Reply:
        return Reply(call.world.compute.render(call.world.compute.get(collection, project, region, name), call.root))

    def do_insert(call: Call, project: str, region: str | None = None) -> Reply:
        op = call.world.compute.insert(collection, project, region, call.json(), call.args.get("requestId"))
        return _op_reply(call, op)

    def do_delete(call: Call, project: str, name: str, region: str | None = None) -> Reply:
        op = call.world.compute.delete(collection, project, region, name, call.args.get("requestId"))
        return _op_reply(call, op)

    def do_patch(call: Call, project: str, name: str, region: str | None = None) -> Reply:
        op = call.world.compute.patch(collection, project, region, name, call.json(), call.args.get("requestId"))
        return _op_reply(call, op)

    def do_update(call: Call, project: str, name: str, region: str | None = None) -> Reply:
        op = call.world.compute.update(collection, project, region, name, call.json(), call.args.get("requestId"))
        return _op_reply(call, op)

    table: dict[str, tuple[str, str, Handler]] = {
        "list": ("GET", base, do_list),
        "get": ("GET", item, do_get),
        "insert": ("POST", base, do_insert),
        "delete": ("DELETE", item, do_delete),
        "patch": ("PATCH", item, do_patch),
        "update": ("PUT", item, do_update),
    }
    for verb in verbs:
        method, path, fn = table[verb]
        ROUTES.route(method, path, f"compute.{disc}.{verb}")(fn)


_register("networks", ("list", "get"))
for _c in ("healthChecks", "forwardingRules", "instanceTemplates", "instanceGroupManagers"):
    _register(_c, ("list", "get", "insert", "delete"))
_register("subnetworks", ("list", "get", "insert", "delete", "patch"))
_register("firewalls", ("list", "get", "insert", "delete", "patch", "update"))
_register("backendServices", ("list", "get", "insert", "delete", "patch", "update"))
_register("serviceAttachments", ("list", "get", "insert", "delete", "patch"))
_register("instanceGroups", ("list", "get"))


def _action(collection: str, action: str, endpoint: str, run: _Action) -> None:
    """Register ``POST .../regions/{region}/{collection}/{name}/{action}``: ``run`` with the body and requestId."""

    def do_action(call: Call, project: str, region: str, name: str) -> Reply:
        op = run(call.world.compute, project, region, name, call.json(), call.args.get("requestId"))
        return _op_reply(call, op)

    ROUTES.route("POST", f"{_P}/regions/<id:region>/{collection}/<id:name>/{action}", endpoint)(do_action)


_action("instanceGroups", "setNamedPorts", "compute.regionInstanceGroups.setNamedPorts", ComputeBackend.set_named_ports)
_action(
    "subnetworks",
    "setPrivateIpGoogleAccess",
    "compute.subnetworks.setPrivateIpGoogleAccess",
    ComputeBackend.set_private_ip_google_access,
)


@ROUTES.route("GET", f"{_P}/regions/<id:region>/autoscalers", "compute.regionAutoscalers.list")
def _autoscalers(call: Call, project: str, region: str) -> Reply:
    """Autoscalers are not modelled: the list is always empty (what ``gcloud compute
    instance-groups managed describe`` reads to tell whether the group is autoscaled)."""
    call.world.compute.list("instanceGroupManagers", project, region)  # 400 for a bad region
    return Reply(
        {
            "kind": "compute#regionAutoscalerList",
            "id": f"projects/{project}/regions/{region}/autoscalers",
            "selfLink": f"{call.root}compute/v1/projects/{project}/regions/{region}/autoscalers",
        }
    )


@ROUTES.route("GET", f"{_P}/global/images/family/<id:family>", "compute.images.getFromFamily")
def _image_from_family(call: Call, project: str, family: str) -> Reply:
    return Reply(_image_reply(call, call.world.compute.image(project, family, family=True)))


@ROUTES.route("GET", f"{_P}/global/images/<id:image>", "compute.images.get")
def _image_get(call: Call, project: str, image: str) -> Reply:
    return Reply(_image_reply(call, call.world.compute.image(project, image)))


def _image_reply(call: Call, image: JSON) -> JSON:
    return {**image, "selfLink": f"{call.root}compute/v1/{image['selfLink']}"}


def _register_aggregated(collection: str) -> None:
    def do_aggregated(call: Call, project: str) -> Reply:
        return _aggregated_reply(call, collection, project)

    endpoint = f"compute.{AGGREGATED[collection][0]}.aggregatedList"
    ROUTES.route("GET", f"{_P}/aggregated/{collection}", endpoint)(do_aggregated)


for _c in AGGREGATED:
    _register_aggregated(_c)


def _wait(call: Call, project: str, operation: str, region: str | None) -> Reply:
    world = call.world
    deadline = time.monotonic() + max(0.0, world.config.wait_deadline)
    while True:
        with world.lock:
            world.advance()
            op = world.compute.get_operation(project, region, operation)
            data = op.to_dict(call.root, world.now())
        if data["status"] == "DONE" or time.monotonic() >= deadline or world.stopping.is_set():
            return Reply(data)
        world.stopping.wait(0.02)


@ROUTES.route("GET", f"{_P}/regions/<id:region>/operations/<id:operation>", "compute.regionOperations.get")
def _region_op_get(call: Call, project: str, region: str, operation: str) -> Reply:
    return _op_reply(call, call.world.compute.get_operation(project, region, operation))


@ROUTES.route("POST", f"{_P}/regions/<id:region>/operations/<id:operation>/wait", "compute.regionOperations.wait")
def _region_op_wait(call: Call, project: str, region: str, operation: str) -> Reply:
    return _wait(call, project, operation, region)


@ROUTES.route("GET", f"{_P}/global/operations/<id:operation>", "compute.globalOperations.get")
def _global_op_get(call: Call, project: str, operation: str) -> Reply:
    return _op_reply(call, call.world.compute.get_operation(project, None, operation))


@ROUTES.route("POST", f"{_P}/global/operations/<id:operation>/wait", "compute.globalOperations.wait")
def _global_op_wait(call: Call, project: str, operation: str) -> Reply:
    return _wait(call, project, operation, None)
