"""Day-2 events: what happens to a connection later, triggered through ``POST /_emulator/events``.

The body is one event or a list of them; each is an object with an ``event`` name and its
arguments, and the answer lists one result per event (``{"results": [...]}``)::

    {"event": "exhaust_nat", "service_attachment": SA, "project": "other-team"}
    {"event": "free_nat", "service_attachment": SA}
    {"event": "add_consumers", "service_attachment": SA, "project": "other-team", "count": 2,
     "propagated_connections": 0}
    {"event": "propagate", "service_attachment": SA, "consumer": "organizations/ORG/endpointAttachments/ID",
     "count": 3}
    {"event": "delete_service_attachment", "service_attachment": SA}
    {"event": "suspend_service_attachment", "service_attachment": SA}
    {"event": "resume_service_attachment", "service_attachment": SA}
    {"event": "patch_service_attachment", "service_attachment": SA,
     "patch": {"consumerAcceptLists": [...], "consumerRejectLists": [...], "reconcileConnections": true}}
    {"event": "hold_org_lock", "org": ORG, "seconds": 30, "operation_type": "UPDATE",
     "target": "organizations/ORG/instances/us-west1"}
    {"event": "release_org_lock", "org": ORG}

``SA`` is ``projects/P/regions/R/serviceAttachments/NAME`` (a full URL is accepted). Every
change goes through the same backends as the APIs, as another team or tool would make it:
a patch or delete records a Compute operation and changes the fingerprint; a held lock is
an Apigee operation the organization's ``operations.list`` shows.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from apigee_psc.emulator.errors import InvalidArgument
from apigee_psc.emulator.routing import Call, Reply

if TYPE_CHECKING:
    from apigee_psc.emulator.state import World

__all__ = ["EVENTS", "apply_events", "events_handler"]

JSON = dict[str, Any]

_SA_RE = re.compile(r"projects/([^/]+)/regions/([^/]+)/serviceAttachments/([^/?#]+)")


def _sa(spec: JSON) -> tuple[str, str, str, str]:
    raw = spec.get("service_attachment")
    match = _SA_RE.search(raw) if isinstance(raw, str) else None
    if match is None:
        raise InvalidArgument("events: 'service_attachment' must be projects/P/regions/R/serviceAttachments/NAME")
    project, region, name = match.groups()
    return match.group(0), project, region, name


def _count(spec: JSON, key: str, default: int) -> int:
    value = spec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidArgument(f"events: '{key}' must be a non-negative integer")
    return value


def _project(spec: JSON) -> str:
    value = spec.get("project", "other-team-project")
    if not isinstance(value, str) or not value:
        raise InvalidArgument("events: 'project' must be a project id")
    return value


def _nat(world: World, path: str) -> JSON:
    world.apigee.endpoints_for(path)  # Apigee's connections take their addresses first
    return {"service_attachment": path, "nat": world.compute.nat_usage(path)}


def _exhaust_nat(world: World, spec: JSON) -> JSON:
    path, *_ = _sa(spec)
    free = _nat(world, path)["nat"]["free"]
    per = int(world.compute.lookup(path).fields.get("natIpsPerEndpoint") or 1)
    added = world.compute.add_foreign(path, _project(spec), free // per, pinned="ACCEPTED")
    return {**_nat(world, path), "added": [fc.endpoint for fc in added]}


def _free_nat(world: World, spec: JSON) -> JSON:
    path, *_ = _sa(spec)
    removed = world.compute.remove_foreign(path)
    return {**_nat(world, path), "removed": removed}


def _add_consumers(world: World, spec: JSON) -> JSON:
    path, *_ = _sa(spec)
    added = world.compute.add_foreign(
        path,
        _project(spec),
        _count(spec, "count", 1),
        propagations=_count(spec, "propagated_connections", 0),
    )
    return {**_nat(world, path), "added": [fc.endpoint for fc in added]}


def _propagate(world: World, spec: JSON) -> JSON:
    path, *_ = _sa(spec)
    world.compute.lookup(path)
    consumer = spec.get("consumer")
    if not isinstance(consumer, str) or not consumer:
        raise InvalidArgument("events: 'consumer' names an endpoint attachment or another team's endpoint")
    world.compute.request_propagations(path, consumer, _count(spec, "count", 0))
    return _nat(world, path)


def _delete_sa(world: World, spec: JSON) -> JSON:
    _, project, region, name = _sa(spec)
    op = world.compute.delete("serviceAttachments", project, region, name)
    return {"operation": op.name}


def _suspend(world: World, spec: JSON) -> JSON:
    path, *_ = _sa(spec)
    world.compute.lookup(path)
    world.compute.suspended.add(path)
    return {"service_attachment": path, "suspended": True}


def _resume(world: World, spec: JSON) -> JSON:
    path, *_ = _sa(spec)
    world.compute.suspended.discard(path)
    return {"service_attachment": path, "suspended": False}


def _patch_sa(world: World, spec: JSON) -> JSON:
    path, project, region, name = _sa(spec)
    patch = spec.get("patch")
    if not isinstance(patch, dict):
        raise InvalidArgument("events: 'patch' must be a JSON merge patch of the service attachment")
    current = world.compute.lookup(path)
    op = world.compute.patch("serviceAttachments", project, region, name, {**patch, "fingerprint": current.fingerprint})
    return {"operation": op.name, "fingerprint": world.compute.lookup(path).fingerprint}


def _hold_lock(world: World, spec: JSON) -> JSON:
    org = spec.get("org")
    if not isinstance(org, str) or not org:
        raise InvalidArgument("events: 'org' names the organization")
    seconds = spec.get("seconds", 30)
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or seconds < 0:
        raise InvalidArgument("events: 'seconds' must be a finite number >= 0")
    target = spec.get("target")
    if target is not None and not isinstance(target, str):
        raise InvalidArgument("events: 'target' must be a resource name")
    op = world.apigee.hold_lock(org, float(seconds), str(spec.get("operation_type", "UPDATE")), target)
    return {"operation": op.name}


def _release_lock(world: World, spec: JSON) -> JSON:
    org = spec.get("org")
    if not isinstance(org, str) or not org:
        raise InvalidArgument("events: 'org' names the organization")
    return {"released": world.apigee.release_lock(org)}


#: event name -> what it does.
EVENTS: dict[str, Callable[[World, JSON], JSON]] = {
    "exhaust_nat": _exhaust_nat,
    "free_nat": _free_nat,
    "add_consumers": _add_consumers,
    "propagate": _propagate,
    "delete_service_attachment": _delete_sa,
    "suspend_service_attachment": _suspend,
    "resume_service_attachment": _resume,
    "patch_service_attachment": _patch_sa,
    "hold_org_lock": _hold_lock,
    "release_org_lock": _release_lock,
}


def apply_events(world: World, body: Any) -> list[JSON]:
    """Apply one event or a list of them, in order; return one result each."""
    specs = body if isinstance(body, list) else [body]
    results = []
    with world.lock:
        world.advance()
        for spec in specs:
            if not isinstance(spec, dict) or spec.get("event") not in EVENTS:
                raise InvalidArgument(f"events: each event is an object whose 'event' is one of {sorted(EVENTS)}")
            results.append({"event": spec["event"], **EVENTS[spec["event"]](world, spec)})
    return results


def events_handler(call: Call) -> Reply:
    """``POST /_emulator/events``."""
    try:
        body = json.loads(call.body or b"{}")
    except ValueError as exc:
        raise InvalidArgument(f"events: invalid JSON: {exc}") from exc
    return Reply({"results": apply_events(call.world, body)})
