"""Resource Manager backend: projects, their numbers and IAM policies."""

from __future__ import annotations

import base64
import copy
import hashlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from apigee_psc.emulator.errors import Aborted, InvalidArgument, NotFound, PermissionDenied
from apigee_psc.emulator.routing import rfc3339

if TYPE_CHECKING:
    from apigee_psc.emulator.state import World


JSON = dict[str, Any]

PROJECT_ID_RE = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_MEMBER_RE = re.compile(
    r"^(allUsers|allAuthenticatedUsers|(user|serviceAccount|group|domain|principal|principalSet|"
    r"deleted:serviceAccount|deleted:user|deleted:group):.+)$"
)
_ROLE_RE = re.compile(r"^(roles/[A-Za-z0-9_.]+|(projects|organizations)/[^/]+/roles/[A-Za-z0-9_.]+)$")
OWNER = "user:emulator-owner@example.com"


def project_number_for(project_id: str) -> str:
    """The deterministic 12-digit project number of ``project_id``."""
    value = int(hashlib.sha256(project_id.encode()).hexdigest()[:12], 16)
    return str(100_000_000_000 + value % 900_000_000_000)


@dataclass
class Project:
    """A project with its IAM policy."""

    project_id: str
    number: str
    create_time: float
    bindings: list[JSON] = field(default_factory=list)
    version: int = 1
    etag_seq: int = 0
    granted_at: dict[tuple[str, str], float] = field(default_factory=dict)

    @property
    def etag(self) -> str:
        """The policy's current etag (base64 of 8 bytes)."""
        digest = hashlib.sha256(f"{self.project_id}/{self.etag_seq}".encode()).digest()[:8]
        return base64.b64encode(digest).decode()

    def to_dict(self) -> JSON:
        """The v3 Project resource."""
        ts = rfc3339(self.create_time)
        return {
            "name": f"projects/{self.number}",
            "parent": "organizations/100000000001",
            "projectId": self.project_id,
            "state": "ACTIVE",
            "displayName": self.project_id,
            "createTime": ts,
            "updateTime": ts,
        }

    def to_v1_dict(self) -> JSON:
        """The v1 Project resource (what ``gcloud projects describe`` reads)."""
        return {
            "projectNumber": self.number,
            "projectId": self.project_id,
            "lifecycleState": "ACTIVE",
            "name": self.project_id,
            "createTime": rfc3339(self.create_time),
            "parent": {"type": "organization", "id": "100000000001"},
        }

    def policy(self, requested_version: int = 1) -> JSON:
        """The IAM policy as returned for ``requested_version``.

        Like IAM, a version < 3 request on a policy with conditions gets the conditional
        bindings with ``_withcond_`` role names and no condition.
        """
        bindings = copy.deepcopy(self.bindings)
        version = self.version
        if requested_version < 3 and any("condition" in b for b in bindings):
            version = 1
            for b in bindings:
                cond = b.pop("condition", None)
                if cond is not None:
                    tag = hashlib.sha256(repr(cond).encode()).hexdigest()[:20]
                    b["role"] = f"{b['role']}_withcond_{tag}"
        out: JSON = {"version": version, "etag": self.etag}
        if bindings:
            out["bindings"] = bindings
        return out


class CrmBackend:
    """Projects, their numbers and their IAM policies."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.projects: dict[str, Project] = {}
        self.by_number: dict[str, str] = {}

    # -- projects --------------------------------------------------------------------------

    def ensure(self, project: str, *, strict: bool = True) -> str:
        """Return the id of ``project`` (id or number), creating it if allowed.

        ``strict=False`` (used for an organization's own project) skips the project id pattern.
        """
        if project in self.projects:
            return project
        if project.isdigit():
            if project in self.by_number:
                return self.by_number[project]
            raise PermissionDenied(
                f"Permission denied on resource project {project} (or it may not exist).",
                reason="forbidden",
            )
        if strict and not PROJECT_ID_RE.match(project):
            raise InvalidArgument(f"Invalid project id '{project}'.")
        if strict and not self.world.config.auto_create_projects:
            raise PermissionDenied(
                f"Permission 'resourcemanager.projects.get' denied on resource "
                f"'//cloudresourcemanager.googleapis.com/projects/{project}' (or it may not exist).",
            )
        number = project_number_for(project)
        proj = Project(project, number, self.world.now(), bindings=[{"role": "roles/owner", "members": [OWNER]}])
        self.projects[project] = proj
        self.by_number[number] = project
        return project

    def get(self, project: str) -> Project:
        """The project ``project`` (id or number)."""
        with self.world.lock:
            return self.projects[self.world.ensure_project(project)]

    def number(self, project: str) -> str:
        """The project number of ``project``."""
        return self.get(project).number

    # -- IAM ------------------------------------------------------------------------------------

    def get_iam_policy(self, project: str, requested_version: int = 1) -> JSON:
        """projects.getIamPolicy."""
        if requested_version not in (0, 1, 3):
            raise InvalidArgument(f"Invalid requested policy version {requested_version}: must be 0, 1 or 3.")
        with self.world.lock:
            return self.get(project).policy(requested_version)

    def set_iam_policy(self, project: str, policy: JSON) -> JSON:
        """projects.setIamPolicy: 409 ABORTED on a stale etag; version 3 needed for conditions."""
        with self.world.lock:
            proj = self.get(project)
            etag = policy.get("etag")
            if etag is not None and etag != proj.etag:
                raise Aborted(
                    "There were concurrent policy changes. Please retry the whole read-modify-write "
                    "with exponential backoff.",
                )
            version = int(policy.get("version") or 1)
            bindings_in = policy.get("bindings") or []
            if not isinstance(bindings_in, list):
                raise InvalidArgument("Invalid JSON payload received. 'policy.bindings' must be a list.")
            bindings = [self._check_binding(b, version) for b in bindings_in]
            if version not in (1, 3):
                raise InvalidArgument(f"Invalid policy version {version}: must be 1 or 3.")
            before = {(b["role"], m) for b in proj.bindings for m in b.get("members", [])}
            now = self.world.now()
            for b in bindings:
                for m in b.get("members", []):
                    if (b["role"], m) not in before:
                        proj.granted_at[(b["role"], m)] = now
            proj.bindings = [b for b in bindings if b.get("members")]
            proj.version = version
            proj.etag_seq += 1
            return proj.policy(3)

    @staticmethod
    def _check_binding(binding: Any, version: int) -> JSON:
        if not isinstance(binding, dict):
            raise InvalidArgument("Invalid JSON payload received. A binding must be an object.")
        role = binding.get("role")
        if not isinstance(role, str) or not _ROLE_RE.match(role):
            raise InvalidArgument(f"Role {role!r} is not supported.", reason="badRequest")
        members = binding.get("members") or []
        for m in members:
            if not isinstance(m, str) or not _MEMBER_RE.match(m):
                raise InvalidArgument(f"Invalid member {m!r} in binding for {role}.", reason="badRequest")
        out: JSON = {"role": role, "members": sorted(set(members), key=members.index)}
        if "condition" in binding and binding["condition"] is not None:
            if version != 3:
                raise InvalidArgument(
                    "Conditions can only be set on policies of version 3; set policy.version to 3.",
                    reason="badRequest",
                )
            cond = binding["condition"]
            if not isinstance(cond, dict) or not cond.get("expression") or not cond.get("title"):
                raise InvalidArgument("A condition needs a title and an expression.", reason="badRequest")
            out["condition"] = dict(cond)
        return out

    def has_role(self, project: str, member: str, role: str) -> bool:
        """Whether ``member`` holds ``role`` on ``project`` and the grant has propagated."""
        with self.world.lock:
            try:
                proj = self.get(project)
            except (NotFound, PermissionDenied, InvalidArgument):
                return False
            held = any(b["role"] == role and member in b.get("members", []) for b in proj.bindings)
            if not held:
                return False
            since = proj.granted_at.get((role, member))
            delay = self.world.config.iam_propagation_seconds
            return since is None or self.world.now() - since >= delay

    def dump(self) -> JSON:
        """State for ``/_emulator/state``."""
        return {
            "projects": [
                {**p.to_dict(), "policy": p.policy(3)}
                for p in sorted(self.projects.values(), key=lambda p: p.project_id)
            ]
        }
