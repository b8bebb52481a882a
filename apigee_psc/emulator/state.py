"""The emulator's whole world: one backend per API, a lock, a clock and the run-time config.

Every backend method runs under :attr:`World.lock`; time-driven transitions (an Apigee
operation finishing, a Compute operation reaching DONE) are applied lazily by
:meth:`World.advance`, which the server calls before each request, so a fake clock can
drive the world from tests without threads.
"""

from __future__ import annotations

import hashlib
import math
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from apigee_psc.emulator.apigee import ApigeeBackend
from apigee_psc.emulator.compute import ComputeBackend
from apigee_psc.emulator.crm import CrmBackend
from apigee_psc.emulator.dns import DnsBackend
from apigee_psc.emulator.errors import EmulatorError, InvalidArgument
from apigee_psc.emulator.faults import FaultInjector
from apigee_psc.emulator.servicenetworking import ServiceNetworkingBackend

__all__ = ["Clock", "Config", "OrgConfig", "RequestRecord", "World", "parse_org"]

#: A clock returns the current time in epoch seconds (``time.time`` by default).
Clock = Callable[[], float]

DEFAULT_OP_SECONDS = 0.5
#: How many requests the log keeps (a long-running emulator must not grow without bound).
MAX_LOGGED_REQUESTS = 10_000


@dataclass(frozen=True)
class OrgConfig:
    """An Apigee organization the emulator knows: its name and whether it is VPC-peered."""

    name: str
    peered: bool = False

    @property
    def tenant_project_id(self) -> str:
        """The deterministic tenant project (``apigeeProjectId``) of this organization."""
        digest = hashlib.sha256(self.name.encode()).hexdigest()[:4]
        return f"{self.name[:18].rstrip('-')}-tenant-{digest}"


def parse_org(spec: str | OrgConfig | Mapping[str, Any]) -> OrgConfig:
    """Parse ``NAME`` or ``NAME:peered`` (or a mapping ``{name, peered}``) into an OrgConfig."""
    if isinstance(spec, OrgConfig):
        return spec
    if isinstance(spec, Mapping):
        name = spec.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidArgument("org: 'name' is required")
        return OrgConfig(name, bool(spec.get("peered", False)))
    name, _, flag = spec.partition(":")
    if not name or flag not in ("", "peered"):
        raise InvalidArgument(f"org {spec!r}: expected NAME or NAME:peered")
    return OrgConfig(name, flag == "peered")


DNS_PEER_FAILURES = ("request", "operation")
#: How Compute answers a change to a resource another operation is still changing.
BUSY_ANSWERS = ("operationInProgress", "resourceNotReady")


def check_busy_answer(value: Any) -> str:
    """``value`` if it is a known ``busy_answer``; 400 otherwise."""
    if value not in BUSY_ANSWERS:
        raise InvalidArgument(f"busy_answer must be one of {BUSY_ANSWERS}, not {value!r}")
    return str(value)


def check_dns_peer_failure(value: Any) -> str:
    """``value`` if it is a known ``dns_peer_failure`` mode; 400 otherwise."""
    if value not in DNS_PEER_FAILURES:
        raise InvalidArgument(f"dns_peer_failure must be one of {DNS_PEER_FAILURES}, not {value!r}")
    return str(value)


@dataclass
class Config:
    """Run-time knobs, changed through ``/_emulator/config``."""

    op_seconds: float = DEFAULT_OP_SECONDS
    """How long an operation takes unless overridden (0 = done at once)."""
    op_seconds_overrides: dict[str, float] = field(default_factory=dict)
    """Per-kind durations: ``apigee.endpointAttachments.delete``, ``apigee``, ``compute``..."""
    wait_deadline: float = 2.0
    """How long Compute's ``operations/{op}/wait`` long-polls at most."""
    iam_propagation_seconds: float = 0.0
    """How long a new IAM grant takes to become effective."""
    auto_create_projects: bool = True
    """Create unknown projects (CRM + a ``default`` network) on first reference."""
    dns_peer_failure: str = "request"
    """How a DNS zone create without the ``roles/dns.peer`` grant fails: ``request`` (403
    PERMISSION_DENIED at once) or ``operation`` (the create's operation ends with error code 7
    PERMISSION_DENIED, the grant being checked when it ends); both happen at Google."""
    busy_answer: str = "operationInProgress"
    """How Compute refuses a change to a resource while an operation on it is not DONE:
    ``operationInProgress`` (409) or ``resourceNotReady`` (400 "The resource '...' is not
    ready"); Google answers both, and Terraform retries both."""
    connection_states: dict[str, str] = field(default_factory=dict)
    """Forced ``connectionState`` per ``ORG/ATTACHMENT`` (e.g. ``FROZEN``), for states the
    emulator does not derive from the service attachment; the attachment's ``connectedEndpoints``
    entry follows it."""

    reconcile_in_same_patch: bool = True
    """Whether the service attachment PATCH that turns ``reconcileConnections`` on re-decides
    ACCEPTED/REJECTED connections at once (``true``), or only a later change of the lists does
    (``false``); Google's documentation allows both readings."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return asdict(self)


@dataclass(frozen=True)
class RequestRecord:
    """One API request as seen by the server (for ``/_emulator/requests``)."""

    seq: int
    method: str
    path: str
    query: str
    api: str
    endpoint: str
    status: int
    fault: str | None
    time: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return asdict(self)


class World:
    """All emulated state plus the lock, clock, config, faults and request log."""

    def __init__(
        self,
        orgs: Iterable[str | OrgConfig | Mapping[str, Any]] = (),
        *,
        op_seconds: float = DEFAULT_OP_SECONDS,
        clock: Clock | None = None,
        seed: int = 0,
        wait_deadline: float = 2.0,
        iam_propagation_seconds: float = 0.0,
        dns_peer_failure: str = "request",
    ) -> None:
        self.lock = threading.RLock()
        self.clock: Clock = clock or time.time
        self.stopping = threading.Event()
        self.seed = seed
        self._initial_config = Config(
            op_seconds=op_seconds,
            wait_deadline=wait_deadline,
            iam_propagation_seconds=iam_propagation_seconds,
            dns_peer_failure=check_dns_peer_failure(dns_peer_failure),
        )
        self.orgs: dict[str, OrgConfig] = {}
        for spec in orgs:
            org = parse_org(spec)
            self.orgs[org.name] = org
        self.faults = FaultInjector(seed)
        self.requests: list[RequestRecord] = []
        self._build()

    def _build(self) -> None:
        self.config = Config(**{**asdict(self._initial_config), "op_seconds_overrides": {}})
        self.rng = random.Random(self.seed)
        self._counter = 0
        self.crm = CrmBackend(self)
        self.compute = ComputeBackend(self)
        self.dns = DnsBackend(self)
        self.servicenetworking = ServiceNetworkingBackend(self)
        self.apigee = ApigeeBackend(self)
        for org in self.orgs.values():
            self.apigee.add_org(org)

    # -- lifecycle -------------------------------------------------------------------

    def reset(self, orgs: Iterable[str | OrgConfig | Mapping[str, Any]] | None = None) -> None:
        """Forget every resource, operation, fault and logged request.

        The organizations are kept, unless ``orgs`` is given: then they are replaced by it.
        """
        with self.lock:
            if orgs is not None:
                self.orgs = {o.name: o for o in map(parse_org, orgs)}
            self.faults.clear()
            self.requests.clear()
            self._build()

    def add_org(self, spec: str | OrgConfig | Mapping[str, Any]) -> OrgConfig:
        """Add (or replace) an organization; it survives :meth:`reset`."""
        org = parse_org(spec)
        with self.lock:
            self.orgs[org.name] = org
            self.apigee.add_org(org)
        return org

    def now(self) -> float:
        """The world's current time (epoch seconds)."""
        return self.clock()

    def advance(self) -> None:
        """Apply every time-driven transition that is due."""
        with self.lock:
            self.apigee.advance()
            self.servicenetworking.advance()

    # -- ids and timing ----------------------------------------------------------------

    def next_id(self) -> int:
        """A deterministic 19-digit numeric id (Compute ``id``, DNS zone id...)."""
        with self.lock:
            self._counter += 1
            return 1_000_000_000_000_000_000 + self.rng.getrandbits(58) * 10 + self._counter % 10

    def uuid(self) -> str:
        """A deterministic UUID4 string."""
        with self.lock:
            return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def operation_timing(self, kind: str) -> tuple[float, EmulatorError | None]:
        """How long the next operation of ``kind`` runs and the error it ends with: its
        configured duration, unless an operation fault makes it never finish or fail."""
        fault = self.faults.take_operation_fault(kind)
        if fault is None:
            return self.op_seconds(kind), None
        if fault.outcome == "never":
            return math.inf, None
        return self.op_seconds(kind), fault.error()

    def op_seconds(self, kind: str) -> float:
        """How long an operation of ``kind`` (``api.collection.verb``) takes."""
        overrides = self.config.op_seconds_overrides
        parts = kind.split(".")
        for n in range(len(parts), 0, -1):
            key = ".".join(parts[:n])
            if key in overrides:
                return max(0.0, float(overrides[key]))
        return max(0.0, self.config.op_seconds)

    # -- projects shared by every API --------------------------------------------------

    def ensure_project(self, project: str, *, strict: bool = True) -> str:
        """Return the project id of ``project`` (id or number), creating it when allowed.

        A created project exists in Resource Manager (with a number and an IAM policy)
        and in Compute (with a ``default`` auto-mode network).
        """
        with self.lock:
            project_id = self.crm.ensure(project, strict=strict)
            self.compute.ensure_project(project_id)
            return project_id

    # -- request log ---------------------------------------------------------------------

    def log_request(
        self, method: str, path: str, query: str, api: str, endpoint: str, status: int, fault: str | None
    ) -> None:
        """Append one record to the request log (the oldest are dropped past ``MAX_LOGGED_REQUESTS``)."""
        with self.lock:
            seq = self.requests[-1].seq + 1 if self.requests else 1
            self.requests.append(RequestRecord(seq, method, path, query, api, endpoint, status, fault, self.now()))
            if len(self.requests) > MAX_LOGGED_REQUESTS:
                del self.requests[: len(self.requests) - MAX_LOGGED_REQUESTS]

    # -- dump -------------------------------------------------------------------------------

    def dump(self, root: str = "http://emulator/") -> dict[str, Any]:
        """Everything as JSON (for ``/_emulator/state``)."""
        with self.lock:
            self.advance()
            return {
                "time": self.now(),
                "config": self.config.to_dict(),
                "organizations": [self.apigee.org_dict(name) for name in sorted(self.orgs)],
                "apigee": self.apigee.dump(),
                "compute": self.compute.dump(root),
                "dns": self.dns.dump(),
                "crm": self.crm.dump(),
                "servicenetworking": self.servicenetworking.dump(),
                "faults": self.faults.dump(),
                "requests": len(self.requests),
            }
