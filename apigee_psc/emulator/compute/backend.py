"""The Compute backend: insert, get, list, patch, delete with operations; PSC connections.

Every mutation answers a ``compute#operation`` that goes PENDING -> RUNNING -> DONE in
``op_seconds`` and honours ``requestId``; the change itself is applied when the request is
accepted. A change to a resource while an operation on it is not DONE answers 409
``operationInProgress``. :meth:`ComputeBackend.connection_status` is the one place where
the connection preference, the accept/reject lists and ``reconcileConnections`` decide a
consumer's status.
"""

from __future__ import annotations

import copy
import hashlib
import math
import uuid
from typing import Any

from apigee_psc.emulator.compute.fields import COLLECTIONS, FINGERPRINTED, IGNORED_ON_WRITE, JSON, NAME_RE, WRITABLE
from apigee_psc.emulator.compute.psc import PscConnections
from apigee_psc.emulator.compute.resources import (
    ComputeOperation,
    ComputeResource,
    invalid_field,
    merge_patch,
    not_found,
    resource_path,
    same_fingerprint,
    same_ref,
)
from apigee_psc.emulator.errors import (
    AlreadyExists,
    ConditionNotMet,
    EmulatorError,
    InvalidArgument,
    OperationInProgress,
    ResourceInUse,
    ResourceNotReady,
)


class ComputeBackend(PscConnections):
    """All Compute resources and operations of every project (the API's behaviour)."""

    # -- generic operations ------------------------------------------------------------------------

    def aggregated(self, collection: str, project: str) -> tuple[str, list[ComputeResource]]:
        """The project id and every resource of a regional ``collection`` in all its regions,
        by region and name."""
        with self.world.lock:
            project_id = self._scope(project)
            prefix = f"projects/{project_id}/regions/"
            found = (r for p, r in self.resources.items() if p.startswith(prefix) and r.collection == collection)
            return project_id, sorted(found, key=lambda r: (r.region or "", r.name))

    def list(self, collection: str, project: str, region: str | None) -> list[ComputeResource]:
        """Every resource of ``collection`` in the scope, by name."""
        with self.world.lock:
            project = self._scope(project, region)
            prefix = resource_path(project, region, collection, "")
            return sorted((r for p, r in self.resources.items() if p.startswith(prefix)), key=lambda r: r.name)

    def get(self, collection: str, project: str, region: str | None, name: str) -> ComputeResource:
        """One resource."""
        with self.world.lock:
            project = self._scope(project, region)
            return self.lookup(resource_path(project, region, collection, name))

    def insert(
        self, collection: str, project: str, region: str | None, body: JSON, request_id: str | None = None
    ) -> ComputeOperation:
        """Validate and create a resource; answer its operation."""
        with self.world.lock:
            project = self._scope(project, region)
            name = body.get("name")

            def apply() -> ComputeResource:
                fields = self._clean(collection, body)
                if not isinstance(name, str) or not NAME_RE.match(name):
                    raise invalid_field(
                        "name", name, "Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'"
                    )
                if "region" in body and region and str(body["region"]).rstrip("/").split("/")[-1] != region:
                    raise invalid_field("region", body["region"], "It does not match the request's region.")
                path = resource_path(project, region, collection, name)
                if path in self.resources:
                    raise AlreadyExists(f"The resource '{path}' already exists")
                validator = getattr(self, f"_validate_{collection}")
                fields = validator(project, region, name, fields, None)
                return self._store_new(collection, project, region, name, fields)

            target = resource_path(project, region, collection, str(name))
            return self._mutate(collection, "insert", project, region, target, request_id, apply)

    def delete(
        self, collection: str, project: str, region: str | None, name: str, request_id: str | None = None
    ) -> ComputeOperation:
        """Delete a resource unless another one uses it."""
        with self.world.lock:
            project = self._scope(project, region)
            path = resource_path(project, region, collection, name)

            def apply() -> ComputeResource:
                res = self.lookup(path)
                if collection == "networks":
                    raise InvalidArgument("Deleting networks is not supported by the emulator.")
                users = [u for u in self._users(path) if u.path != path]
                if users:
                    kind = collection[:-1] if collection.endswith("s") else collection
                    raise ResourceInUse(f"The {kind} resource '{path}' is already being used by '{users[0].path}'")
                group = resource_path(project, region, "instanceGroups", name)
                if collection == "instanceGroupManagers" and group in self.resources:
                    # The managed group goes with its manager, unless a backend service uses it.
                    group_users = [u for u in self._users(group) if u.path != path]
                    if group_users:
                        raise ResourceInUse(
                            f"The instance_group resource '{group}' is already being used by '{group_users[0].path}'"
                        )
                    del self.resources[group]
                if collection == "instanceGroups":
                    raise InvalidArgument("A managed instance group is deleted with its instance group manager.")
                del self.resources[path]
                if collection == "serviceAttachments":
                    self.connections = {k: v for k, v in self.connections.items() if k[0] != path}
                    self.pinned = {k for k in self.pinned if k[0] != path}
                if collection == "subnetworks":
                    net = self.resources.get(res.fields.get("network", ""))
                    if net is not None and path in net.fields.get("subnetworks", []):
                        net.fields["subnetworks"].remove(path)
                return res

            return self._mutate(collection, "delete", project, region, path, request_id, apply)

    def patch(
        self, collection: str, project: str, region: str | None, name: str, body: JSON, request_id: str | None = None
    ) -> ComputeOperation:
        """JSON merge patch; the current ``fingerprint`` is required (412 otherwise)."""
        return self._rewrite(collection, "patch", project, region, name, body, request_id)

    def update(
        self, collection: str, project: str, region: str | None, name: str, body: JSON, request_id: str | None = None
    ) -> ComputeOperation:
        """PUT: the body replaces every writable field (the current ``fingerprint`` is required
        where the resource has one, 412 otherwise); what gcloud's ``backend-services
        add-backend`` sends after reading the resource."""
        return self._rewrite(collection, "update", project, region, name, body, request_id)

    def _rewrite(
        self,
        collection: str,
        verb: str,
        project: str,
        region: str | None,
        name: str,
        body: JSON,
        request_id: str | None,
    ) -> ComputeOperation:
        """``patch`` merges ``body`` into the fields, ``update`` replaces them; both check the
        fingerprint, the name and the immutable fields, then validate the result."""
        with self.world.lock:
            project = self._scope(project, region)
            path = resource_path(project, region, collection, name)

            def apply() -> ComputeResource:
                res = self.lookup(path)
                self._check_fingerprint(res, body)
                if body.get("name", name) != name:
                    raise invalid_field("name", body["name"], "The name cannot be changed.")
                fields = self._clean(collection, body)
                self._check_immutable(res, fields, project, region)
                if verb == "patch":
                    fields = merge_patch(res.fields, fields)
                    if collection == "serviceAttachments":
                        # Connections that exist now are decided under the lists as they are now.
                        self.world.apigee.endpoints_for(path)
                        self._reconcile_reading(path, res.fields, fields)
                validator = getattr(self, f"_validate_{collection}")
                res.fields = validator(project, region, name, fields, res)
                res.fingerprint_seq += 1
                return res

            return self._mutate(collection, verb, project, region, path, request_id, apply)

    def set_named_ports(
        self, project: str, region: str, name: str, body: JSON, request_id: str | None = None
    ) -> ComputeOperation:
        """regionInstanceGroups.setNamedPorts: replace the group's named ports (and its
        manager's); a ``fingerprint``, when given, must be the group's current one."""
        with self.world.lock:
            project = self._scope(project, region)
            path = resource_path(project, region, "instanceGroups", name)

            def apply() -> ComputeResource:
                group = self.lookup(path)
                if "fingerprint" in body:
                    self._check_fingerprint(group, body)
                unknown = set(body) - {"fingerprint", "namedPorts"}
                if unknown:
                    raise InvalidArgument(
                        f"Invalid JSON payload received. Unknown name \"{sorted(unknown)[0]}\" at 'resource': "
                        "Cannot find field.",
                        reason="invalid",
                    )
                ports = self._named_ports(body.get("namedPorts") or [])
                for res in (group, self.resources.get(resource_path(project, region, "instanceGroupManagers", name))):
                    if res is None:
                        continue
                    if ports:
                        res.fields["namedPorts"] = ports
                    else:
                        res.fields.pop("namedPorts", None)
                    res.fingerprint_seq += 1
                return group

            return self._mutate("instanceGroups", "setNamedPorts", project, region, path, request_id, apply)

    def set_private_ip_google_access(
        self, project: str, region: str, name: str, body: JSON, request_id: str | None = None
    ) -> ComputeOperation:
        """subnetworks.setPrivateIpGoogleAccess (what ``gcloud compute networks subnets update
        --enable-private-ip-google-access`` calls); not for a PRIVATE_SERVICE_CONNECT subnet."""
        with self.world.lock:
            project = self._scope(project, region)
            path = resource_path(project, region, "subnetworks", name)

            def apply() -> ComputeResource:
                sub = self.lookup(path)
                value = body.get("privateIpGoogleAccess")
                if not isinstance(value, bool) or set(body) - {"privateIpGoogleAccess"}:
                    raise invalid_field("privateIpGoogleAccess", value, "Must be true or false.")
                if sub.fields.get("purpose") not in ("PRIVATE", "PRIVATE_RFC_1918"):
                    raise invalid_field("privateIpGoogleAccess", value, "Only a PRIVATE subnetwork takes it.")
                sub.fields["privateIpGoogleAccess"] = value
                sub.fingerprint_seq += 1
                return sub

            return self._mutate("subnetworks", "setPrivateIpGoogleAccess", project, region, path, request_id, apply)

    @staticmethod
    def _check_fingerprint(res: ComputeResource, body: JSON) -> None:
        """412 unless ``body`` carries ``res``'s current fingerprint (compared as bytes);
        resources without a fingerprint (firewalls) take any."""
        if res.collection in FINGERPRINTED and not same_fingerprint(body.get("fingerprint"), res.fingerprint):
            raise ConditionNotMet("Supplied fingerprint does not match current metadata fingerprint.")

    def _check_immutable(self, res: ComputeResource, fields: JSON, project: str, region: str | None) -> None:
        """400 for a change of a field set at creation only."""
        for immutable, coll in (
            ("producerForwardingRule", "forwardingRules"),
            ("targetService", "forwardingRules"),
            ("network", "networks"),
        ):
            if immutable in fields and fields[immutable] is not None:
                new = self.ref(fields[immutable], immutable, project, region, coll)
                if new != res.fields.get(immutable):
                    raise invalid_field(immutable, fields[immutable], "The field cannot be changed.")
        if res.collection == "subnetworks":
            # Set at creation only (a wider range takes expandIpCidrRange, not modelled).
            for key in ("ipCidrRange", "description", "purpose"):
                if key in fields and fields[key] != res.fields.get(key, "" if key == "description" else None):
                    raise invalid_field(key, fields[key], "The field cannot be changed.")

    def _clean(self, collection: str, body: JSON) -> JSON:
        allowed = WRITABLE[collection]
        out: JSON = {}
        for key, value in body.items():
            if key in allowed:
                out[key] = copy.deepcopy(value)
            elif key not in IGNORED_ON_WRITE:
                raise InvalidArgument(
                    f"Invalid JSON payload received. Unknown name \"{key}\" at 'resource': Cannot find field.",
                    reason="invalid",
                )
        out.pop("name", None)
        return out

    def _mutate(
        self,
        collection: str,
        verb: str,
        project: str,
        region: str | None,
        target: str,
        request_id: str | None,
        apply: Any,
    ) -> ComputeOperation:
        if request_id:
            try:
                uuid.UUID(request_id)
            except ValueError as exc:
                raise InvalidArgument(
                    f"Invalid value for field 'requestId': '{request_id}'. Must be a valid UUID."
                ) from exc
            seen = self.request_ids.get((project, request_id))
            if seen is not None:
                return self.operations[seen]
        self._check_no_operation_running(target)
        kind = f"compute.{COLLECTIONS[collection][0]}.{verb}"
        seconds = self.world.op_seconds(kind)
        fault = self.world.faults.take_operation_fault(kind)
        error: EmulatorError | None = None
        target_id = 0
        if fault is not None and fault.outcome == "fail":
            error = fault.error()
            existing = self.resources.get(target)
            target_id = existing.id if existing else self.world.next_id()
        else:
            res = apply()
            target_id = res.id
            if fault is not None and fault.outcome == "never":
                seconds = math.inf
        stamp = int(self.world.now() * 1000)
        op = ComputeOperation(
            name=f"operation-{stamp}-{self.world.uuid().replace('-', '')[:13]}-{self.world.uuid()[:8]}",
            id=self.world.next_id(),
            project=project,
            region=region,
            operation_type=verb,
            target=target,
            target_id=target_id,
            created=self.world.now(),
            seconds=seconds,
            error=error,
            request_id=request_id,
            kind=kind,
        )
        self.operations[op.path] = op
        if request_id:
            self.request_ids[(project, request_id)] = op.path
        return op

    def _check_no_operation_running(self, target: str) -> None:
        """Refuse a change while an operation on ``target`` is not DONE, as Compute does.

        409 ``operationInProgress`` by default; 400 ``resourceNotReady`` ("The resource '...'
        is not ready") when the config's ``busy_answer`` says so: Compute answers both.
        """
        now = self.world.now()
        for op in self.operations.values():
            if op.target == target and op.status(now) != "DONE":
                if self.world.config.busy_answer == "resourceNotReady":
                    raise ResourceNotReady(f"The resource '{target}' is not ready")
                raise OperationInProgress(
                    f"The resource '{target}' is being changed by operation '{op.name}' ({op.operation_type}); "
                    "retry when that operation is DONE."
                )

    def get_operation(self, project: str, region: str | None, name: str) -> ComputeOperation:
        """A region or global operation."""
        with self.world.lock:
            project = self._scope(project, region)
            scope = f"regions/{region}" if region else "global"
            path = f"projects/{project}/{scope}/operations/{name}"
            op = self.operations.get(path)
            if op is None:
                raise not_found(path)
            return op

    # -- the PSC connection rule shared with Apigee -------------------------------------------------

    def connection_status(
        self,
        sa_path: str,
        project_id: str,
        project_number: str,
        rank: int = 0,
        network: str | None = None,
        consumer: str | None = None,
    ) -> str | None:
        """Status of a consumer of ``sa_path`` (None when the service attachment is gone).

        Under the current settings: ACCEPT_AUTOMATIC -> ACCEPTED; ACCEPT_MANUAL -> REJECTED
        when the project (id or number) or network is reject-listed, ACCEPTED when
        accept-listed and ``rank`` (the consumer's index among that project's endpoints) is
        within the connection limit, else PENDING.

        ``consumer`` names an existing connection (an endpoint). As Compute does, once such a
        connection is ACCEPTED or REJECTED it keeps that status when the preference or the
        lists change, unless the attachment has ``reconcileConnections: true``; only PENDING
        connections (and new ones) follow the lists.
        """
        sa = self.resources.get(sa_path)
        if sa is None or sa.collection != "serviceAttachments":
            return None
        live = self._status_under_lists(sa, project_id, project_number, rank, network)
        if consumer is None:
            return live
        key = (sa_path, consumer)
        decided = self.connections.get(key)
        if decided is not None and (not sa.fields.get("reconcileConnections") or key in self.pinned):
            return decided
        if live in ("ACCEPTED", "REJECTED"):
            self.connections[key] = live
        else:
            self.connections.pop(key, None)
        return live

    def forget_connection(self, sa_path: str, consumer: str) -> None:
        """Drop the decided status of a connection whose consumer is gone (or starts again)."""
        self.connections.pop((sa_path, consumer), None)
        self.pinned.discard((sa_path, consumer))

    def _reconcile_reading(self, sa_path: str, before: JSON, after: JSON) -> None:
        """Which decided connections a PATCH re-decides, under the configured reading of
        Google's rule (``reconcile_in_same_patch``). Google documents that with
        ``reconcileConnections`` on, a change of the lists also moves ACCEPTED and REJECTED
        connections; it does not say whether the PATCH that turns it on counts. ``true`` (the
        default): it does, and from then on decided connections follow the lists. ``false``:
        connections decided before that PATCH keep their status until the lists change again."""
        was, now = bool(before.get("reconcileConnections")), bool(after.get("reconcileConnections"))
        keys = ("connectionPreference", "consumerAcceptLists", "consumerRejectLists")
        lists_changed = any(before.get(k) != after.get(k) for k in keys)
        mine = {key for key in self.connections if key[0] == sa_path}
        if was and lists_changed:
            self.pinned -= mine
        elif now and not was and not self.world.config.reconcile_in_same_patch:
            self.pinned |= mine

    @staticmethod
    def _status_under_lists(
        sa: ComputeResource, project_id: str, project_number: str, rank: int, network: str | None
    ) -> str:
        if sa.fields.get("connectionPreference") == "ACCEPT_AUTOMATIC":
            return "ACCEPTED"
        ids = {project_id, project_number}
        for entry in sa.fields.get("consumerRejectLists", []) or []:
            if entry in ids or (network and same_ref(entry, network)):
                return "REJECTED"
        for entry in sa.fields.get("consumerAcceptLists", []) or []:
            hit = entry.get("projectIdOrNum") in ids or (
                network is not None and bool(entry.get("networkUrl")) and same_ref(entry["networkUrl"], network)
            )
            if hit:
                return "ACCEPTED" if rank < int(entry.get("connectionLimit", 0)) else "PENDING"
        return "PENDING"

    def service_attachment_extra(self, res: ComputeResource, root: str) -> JSON:
        """The output-only fields of a service attachment (connectedEndpoints, pscServiceAttachmentId)."""
        base = f"{root}compute/v1/"
        digest = hashlib.sha256(res.path.encode()).digest()
        extra: JSON = {
            "pscServiceAttachmentId": {"high": str(int.from_bytes(digest[:8], "big") >> 1), "low": str(res.id)}
        }
        endpoints = []
        for ep in self.world.apigee.endpoints_for(res.path) + self.foreign_endpoints(res.path):
            endpoints.append(
                {
                    "endpoint": base + ep["endpoint"],
                    "status": ep["status"],
                    "pscConnectionId": ep["pscConnectionId"],
                    "consumerNetwork": base + ep["consumerNetwork"],
                    **self.nat_fields(res.path, ep["consumer"]),
                }
            )
        if endpoints:
            extra["connectedEndpoints"] = endpoints
        return extra

    def render(self, res: ComputeResource, root: str) -> JSON:
        """``res`` on the wire, with the live output-only fields."""
        extra = self.service_attachment_extra(res, root) if res.collection == "serviceAttachments" else None
        return res.to_dict(root, extra)

    def dump(self, root: str) -> JSON:
        """State for ``/_emulator/state``."""
        now = self.world.now()
        return {
            "resources": [self.render(r, root) for _, r in sorted(self.resources.items())],
            "operations": [op.to_dict(root, now) for op in self.operations.values()],
            "psc": self.psc_dump(),
        }

    # -- seeding ---------------------------------------------------------------------------------------

    def seed(self, collection: str, project: str, region: str | None, body: JSON) -> ComputeResource:
        """Create a resource at once (no operation is recorded); for ``/_emulator/config``."""
        with self.world.lock:
            if collection not in COLLECTIONS:
                raise InvalidArgument(f"Unknown Compute collection {collection!r}.")
            if collection == "networks":
                project = self._scope(project)
                name = str(body.get("name", ""))
                if not NAME_RE.match(name):
                    raise invalid_field("name", name, "Invalid network name.")
                if resource_path(project, None, "networks", name) in self.resources:
                    raise AlreadyExists(
                        f"The resource '{resource_path(project, None, 'networks', name)}' already exists"
                    )
                net = self._store_new(
                    "networks",
                    project,
                    None,
                    name,
                    {
                        "autoCreateSubnetworks": bool(body.get("autoCreateSubnetworks", False)),
                        "subnetworks": [],
                        "routingConfig": {"routingMode": "REGIONAL"},
                        "mtu": 1460,
                    },
                )
                self.resources[net.path] = net
                return net
            op = self.insert(collection, project, region, body)
            del self.operations[op.path]  # a seeded resource has no operation (nothing to wait for)
            return self.lookup(op.target)
