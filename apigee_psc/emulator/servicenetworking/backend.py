"""Service Networking backend: peered DNS domains and their operations."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from apigee_psc.emulator.errors import AlreadyExists, EmulatorError, InvalidArgument, NotFound
from apigee_psc.emulator.routing import OperationClock, with_outcome

if TYPE_CHECKING:
    from apigee_psc.emulator.state import World


JSON = dict[str, Any]

NAME_RE = re.compile(r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$")
SUFFIX_RE = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+$", re.IGNORECASE)
SERVICE = "servicenetworking.googleapis.com"
TYPE_PREFIX = "type.googleapis.com/google.cloud.servicenetworking.v1."


@dataclass
class SnOperation:
    """operations/{id}: done once ``created + seconds`` has passed."""

    name: str
    created: float
    seconds: float
    finish: Callable[[SnOperation], None] = field(repr=False)
    kind: str = ""
    done: bool = False
    error: EmulatorError | None = None
    response: JSON | None = None

    def to_dict(self) -> JSON:
        """The wire Operation (``done`` omitted while false)."""
        out: JSON = {"name": self.name, "metadata": {"@type": TYPE_PREFIX + "PeeredDnsDomainMetadata"}}
        return with_outcome(out, self.done, self.error, self.response)


class ServiceNetworkingBackend(OperationClock[SnOperation]):
    """Peered DNS domains per consumer network."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.domains: dict[tuple[str, str], dict[str, JSON]] = {}
        self.pending: set[tuple[str, str, str]] = set()
        self.operations: dict[str, SnOperation] = {}

    def _network(self, service: str, project: str, network: str) -> tuple[str, str]:
        if service != SERVICE:
            raise NotFound(f"Service '{service}' not found.")
        project_id = self.world.ensure_project(project)
        if not self.world.compute.network_exists(project_id, network):
            raise InvalidArgument(f"Network 'projects/{project}/global/networks/{network}' does not exist.")
        return project_id, network

    def _start(self, kind: str, finish: Callable[[SnOperation], None]) -> SnOperation:
        seconds, error = self.world.operation_timing(kind)
        op = SnOperation(f"operations/pdd.{self.world.uuid()}", self.world.now(), seconds, finish, kind, error=error)
        self.operations[op.name] = op
        self._advance_op(op)
        return op

    def create(self, service: str, project: str, network: str, body: JSON) -> SnOperation:
        """peeredDnsDomains.create."""
        with self.world.lock:
            key = self._network(service, project, network)
            for k in body:
                if k not in ("name", "dnsSuffix"):
                    raise InvalidArgument(f'Invalid JSON payload received. Unknown name "{k}": Cannot find field.')
            name, suffix = body.get("name"), body.get("dnsSuffix")
            if not isinstance(name, str) or not NAME_RE.match(name):
                raise InvalidArgument(f"Invalid peered DNS domain name '{name}'.")
            if not isinstance(suffix, str) or not SUFFIX_RE.match(suffix):
                raise InvalidArgument(f"Invalid DNS suffix '{suffix}': it must be a domain ending with a dot.")
            existing = self.domains.setdefault(key, {})
            if name in existing or (*key, name) in self.pending:
                raise AlreadyExists(f"Peered DNS domain '{name}' already exists.")
            self.pending.add((*key, name))
            domain = {"name": name, "dnsSuffix": suffix}

            def finish(op: SnOperation) -> None:
                self.pending.discard((*key, name))
                if op.error is None:
                    existing[name] = domain
                    op.response = {"@type": TYPE_PREFIX + "PeeredDnsDomain", **domain}

            return self._start("servicenetworking.peeredDnsDomains.create", finish)

    def list(self, service: str, project: str, network: str) -> list[JSON]:
        """peeredDnsDomains.list."""
        with self.world.lock:
            key = self._network(service, project, network)
            return [dict(d) for _, d in sorted(self.domains.get(key, {}).items())]

    def delete(self, service: str, project: str, network: str, name: str) -> SnOperation:
        """peeredDnsDomains.delete."""
        with self.world.lock:
            key = self._network(service, project, network)
            existing = self.domains.get(key, {})
            if name not in existing:
                raise NotFound(f"Peered DNS domain '{name}' not found.")

            def finish(op: SnOperation) -> None:
                if op.error is None:
                    existing.pop(name, None)
                    op.response = {"@type": "type.googleapis.com/google.protobuf.Empty"}

            return self._start("servicenetworking.peeredDnsDomains.delete", finish)

    def get_operation(self, op_id: str) -> SnOperation:
        """operations.get."""
        with self.world.lock:
            op = self.operations.get(f"operations/{op_id}")
            if op is None:
                raise NotFound(f"Operation 'operations/{op_id}' not found.")
            return op

    def dump(self) -> JSON:
        """State for ``/_emulator/state``."""
        return {
            "peeredDnsDomains": [
                {"project": p, "network": n, **d} for (p, n), ds in sorted(self.domains.items()) for d in ds.values()
            ],
            "operations": [op.to_dict() for op in self.operations.values()],
        }
