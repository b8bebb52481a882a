"""The control API under ``/_emulator/`` (not part of any Google API).

=======  ========================  ==================================================
method   path                      what it does
=======  ========================  ==================================================
GET      /_emulator/health         ``{"ok": true, "organizations": [...]}``
POST     /_emulator/reset          forget resources, operations, faults, the request
                                   log and config changes; keep the organizations
GET      /_emulator/state          everything as JSON (resources, operations, config)
GET      /_emulator/faults         the fault rules with their hit counts
POST     /_emulator/faults         set fault rules (see :mod:`.faults`); ``append``
DELETE   /_emulator/faults         remove every fault
GET      /_emulator/config         the run-time config
POST     /_emulator/config         change it, add organizations, seed resources
GET      /_emulator/requests       the request log (``?since=SEQ&api=&method=``)
DELETE   /_emulator/requests       clear the request log
POST     /_emulator/events         day-2 events (see :mod:`.events`)
=======  ========================  ==================================================

``POST /_emulator/config`` takes any of::

    {"op_seconds": 0.5,
     "op_seconds_overrides": {"apigee.endpointAttachments.delete": 2, "compute": 0},
     "wait_deadline": 2.0, "iam_propagation_seconds": 0, "auto_create_projects": true,
     "reconcile_in_same_patch": true,
     "dns_peer_failure": "operation",
     "busy_answer": "resourceNotReady",
     "connection_states": {"my-organization/gkebackend": "FROZEN"},
     "orgs": ["other-org", "peered-org:peered"],
     "projects": ["my-project"],
     "resources": [
       {"api": "compute", "collection": "backendServices", "project": "p", "region": "r", "body": {...}},
       {"api": "apigee", "collection": "endpointAttachments", "org": "o", "id": "x", "body": {...}},
       {"api": "dns", "collection": "managedZones", "project": "p", "body": {...}},
       {"api": "crm", "collection": "iamBindings", "project": "p", "role": "roles/dns.peer",
        "member": "serviceAccount:..."}],
     "producer_for": [{"organization": "o", "project": "p", "region": "r", "network": "n",
                       "forwarding_rule": "fr", "dns": {...}}]}

``producer_for`` takes southbound specs (as JSON objects) and creates the producer side
they reference (see :mod:`.producer`), skipping what exists.

An override of ``null`` removes it. Resources are created at once, without operations.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from werkzeug.routing import Rule

from apigee_psc.emulator.errors import AlreadyExists, InvalidArgument
from apigee_psc.emulator.events import events_handler
from apigee_psc.emulator.producer import producer_resources
from apigee_psc.emulator.routing import Call, Reply
from apigee_psc.emulator.state import check_busy_answer, check_dns_peer_failure

if TYPE_CHECKING:
    from apigee_psc.emulator.state import World

__all__ = ["HANDLERS", "RULES", "apply_config", "request_log", "seed_producer_for"]

JSON = dict[str, Any]

_CONNECTION_STATES = (
    "UNAVAILABLE",
    "PENDING",
    "ACCEPTED",
    "REJECTED",
    "CLOSED",
    "FROZEN",
    "NEEDS_ATTENTION",
    "ACCEPTED_LIMITED_CAPACITY",
)
_CONFIG_KEYS = {
    "op_seconds",
    "op_seconds_overrides",
    "wait_deadline",
    "iam_propagation_seconds",
    "auto_create_projects",
    "reconcile_in_same_patch",
    "connection_states",
    "dns_peer_failure",
    "busy_answer",
    "orgs",
    "projects",
    "resources",
    "producer_for",
}


def apply_config(world: World, spec: Any) -> JSON:
    """Apply a ``/_emulator/config`` body to ``world``; return the new config."""
    if not isinstance(spec, dict):
        raise InvalidArgument("config: expected a JSON object")
    unknown = set(spec) - _CONFIG_KEYS
    if unknown:
        raise InvalidArgument(f"config: unknown keys {sorted(unknown)}")
    with world.lock:
        cfg = world.config
        for key in ("op_seconds", "wait_deadline", "iam_propagation_seconds"):
            if key in spec:
                value = float(spec[key])
                if value < 0:
                    raise InvalidArgument(f"config: {key} must not be negative")
                setattr(cfg, key, value)
        if "auto_create_projects" in spec:
            cfg.auto_create_projects = bool(spec["auto_create_projects"])
        if "reconcile_in_same_patch" in spec:
            cfg.reconcile_in_same_patch = bool(spec["reconcile_in_same_patch"])
        if "dns_peer_failure" in spec:
            cfg.dns_peer_failure = check_dns_peer_failure(spec["dns_peer_failure"])
        if "busy_answer" in spec:
            cfg.busy_answer = check_busy_answer(spec["busy_answer"])
        forced = spec.get("connection_states") or {}
        if not isinstance(forced, dict):
            raise InvalidArgument("config: connection_states must be an object")
        for key, value in forced.items():
            if value is None:
                cfg.connection_states.pop(str(key), None)
            elif value not in _CONNECTION_STATES or "/" not in str(key):
                raise InvalidArgument(f"config: connection_states wants ORG/ATTACHMENT: one of {_CONNECTION_STATES}")
            else:
                cfg.connection_states[str(key)] = str(value)
        overrides = spec.get("op_seconds_overrides") or {}
        if not isinstance(overrides, dict):
            raise InvalidArgument("config: op_seconds_overrides must be an object")
        for kind, value in overrides.items():
            if value is None:
                cfg.op_seconds_overrides.pop(kind, None)
            else:
                cfg.op_seconds_overrides[str(kind)] = max(0.0, float(value))
        for org in spec.get("orgs") or []:
            world.add_org(org)
        for project in spec.get("projects") or []:
            world.ensure_project(str(project))
        for res in spec.get("resources") or []:
            _seed(world, res)
        producer_for = spec.get("producer_for") or []
        if not isinstance(producer_for, list) or not all(isinstance(s, dict) for s in producer_for):
            raise InvalidArgument("config: producer_for must be a list of specs (objects)")
        if producer_for:
            seed_producer_for(world, producer_for)
        return cfg.to_dict()


def seed_producer_for(world: World, specs: Sequence[Mapping[str, Any]]) -> list[JSON]:
    """Create what ``specs`` reference (see the module docstring); return the resources created.

    Organizations the emulator does not serve yet are added; resources that already exist
    are left as they are.
    """
    orgs, resources = producer_resources(specs)
    created = []
    with world.lock:
        for org in orgs:
            if org not in world.orgs:
                world.add_org(org)
        for res in resources:
            try:
                apply_config(world, {"resources": [res]})
            except AlreadyExists:
                continue
            created.append(res)
    return created


def _seed(world: World, res: Any) -> None:
    if not isinstance(res, dict):
        raise InvalidArgument("config: each resource must be an object")
    api, collection = res.get("api"), res.get("collection")
    body = res.get("body") or {}
    if api == "compute":
        world.compute.seed(str(collection), str(res.get("project")), res.get("region"), body)
    elif api == "apigee" and collection == "endpointAttachments":
        world.apigee.seed_endpoint_attachment(str(res.get("org")), str(res.get("id")), body)
    elif api == "dns" and collection == "managedZones":
        world.dns.create_zone(str(res.get("project")), body)
    elif api == "dns" and collection == "rrsets":
        world.dns.create_rrset(str(res.get("project")), str(res.get("zone")), body)
    elif api == "crm" and collection == "iamBindings":
        project = str(res.get("project"))
        policy = world.crm.get_iam_policy(project, 3)
        bindings = policy.get("bindings", [])
        role, member = str(res.get("role")), str(res.get("member"))
        for b in bindings:
            if b["role"] == role and "condition" not in b:
                if member not in b["members"]:
                    b["members"].append(member)
                break
        else:
            bindings.append({"role": role, "members": [member]})
        world.crm.set_iam_policy(project, {**policy, "bindings": bindings})
    else:
        raise InvalidArgument(f"config: cannot seed {api!r} {collection!r}")


def request_log(world: World, *, since: int = 0, api: str | None = None, method: str | None = None) -> list[JSON]:
    """The logged API requests after sequence number ``since``, optionally filtered."""
    with world.lock:
        return [
            r.to_dict()
            for r in world.requests
            if r.seq > since and (api is None or r.api == api) and (method is None or r.method == method.upper())
        ]


def _health(call: Call) -> Reply:
    return Reply({"ok": True, "organizations": sorted(call.world.orgs)})


def _reset(call: Call) -> Reply:
    call.world.reset()
    return Reply({"ok": True})


def _state(call: Call) -> Reply:
    return Reply(call.world.dump(call.root))


def _faults_get(call: Call) -> Reply:
    return Reply(call.world.faults.dump())


def _faults_set(call: Call) -> Reply:
    try:
        spec = json.loads(call.body or b"{}")
    except ValueError as exc:
        raise InvalidArgument(f"faults: invalid JSON: {exc}") from exc
    call.world.faults.configure(spec, append=call.args.get("append") in ("1", "true"))
    return Reply(call.world.faults.dump())


def _faults_clear(call: Call) -> Reply:
    call.world.faults.clear()
    return Reply(call.world.faults.dump())


def _config_get(call: Call) -> Reply:
    return Reply(call.world.config.to_dict())


def _config_set(call: Call) -> Reply:
    return Reply(apply_config(call.world, call.json()))


def _requests_get(call: Call) -> Reply:
    since = call.int_arg("since", 0) or 0
    items = request_log(call.world, since=since, api=call.args.get("api"), method=call.args.get("method"))
    return Reply({"requests": items, "count": len(items)})


def _requests_clear(call: Call) -> Reply:
    with call.world.lock:
        call.world.requests.clear()
    return Reply({"ok": True})


_TABLE = [
    ("GET", "/_emulator/health", "control.health", _health),
    ("POST", "/_emulator/reset", "control.reset", _reset),
    ("GET", "/_emulator/state", "control.state", _state),
    ("GET", "/_emulator/faults", "control.faults.get", _faults_get),
    ("POST", "/_emulator/faults", "control.faults.set", _faults_set),
    ("DELETE", "/_emulator/faults", "control.faults.clear", _faults_clear),
    ("GET", "/_emulator/config", "control.config.get", _config_get),
    ("POST", "/_emulator/config", "control.config.set", _config_set),
    ("GET", "/_emulator/requests", "control.requests.get", _requests_get),
    ("DELETE", "/_emulator/requests", "control.requests.clear", _requests_clear),
    ("POST", "/_emulator/events", "control.events", events_handler),
]

#: werkzeug rules of the control API.
RULES = [Rule(path, methods=[method], endpoint=endpoint) for method, path, endpoint, _ in _TABLE]
#: endpoint -> handler.
HANDLERS = {endpoint: handler for _, _, endpoint, handler in _TABLE}
