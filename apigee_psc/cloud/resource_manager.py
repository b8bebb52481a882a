"""Resource Manager: a project's number (``resource_manager.projects``) and its IAM policy
(``resource_manager.iam``: grants and revokes as an etag-checked read-modify-write of the
project's policy, version 3, keeping conditions and every other binding; a stale etag redoes
the whole cycle, see :data:`IAM_ETAG_STALE`).
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from apigee_psc import errors, names
from apigee_psc._retry import RereadPolicy

if TYPE_CHECKING:
    pass
from apigee_psc.cloud._client import _Client

__all__ = [
    "APIGEE_SERVICE_AGENT_DOMAIN",
    "DNS_PEER_ROLE",
    "IAM_ETAG_STALE",
    "IamBinding",
    "IamPolicy",
    "ResourceManagerClient",
    "apigee_service_agent",
    "apigee_service_agent_for",
]

logger = logging.getLogger("apigee_psc.cloud")

#: The role the Apigee service agent needs on the producer project for DNS peering.
DNS_PEER_ROLE = "roles/dns.peer"
APIGEE_SERVICE_AGENT_DOMAIN = "gcp-sa-apigee.iam.gserviceaccount.com"

_MEMBER = re.compile(r"^(allUsers|allAuthenticatedUsers|[A-Za-z]+:\S+)$")
_ROLE = re.compile(r"^(roles/|projects/[^/]+/roles/|organizations/[^/]+/roles/)[A-Za-z0-9_.]+$")


def apigee_service_agent(apigee_project_number: str | int) -> str:
    """The Apigee service agent of the organization whose tenant project has this number:
    ``service-{NUMBER}@gcp-sa-apigee.iam.gserviceaccount.com``."""
    number = str(apigee_project_number)
    if not number.isdigit():
        raise errors.ValidationError("apigee_project_number", apigee_project_number, "a project number (digits)")
    return f"service-{number}@{APIGEE_SERVICE_AGENT_DOMAIN}"


def apigee_service_agent_for(apigee_project_id: str, resource_manager: ResourceManagerClient) -> str:
    """The Apigee service agent named after project ``apigee_project_id`` (looks up its number
    with ``projects.get``, which needs ``resourcemanager.projects.get`` on that project)."""
    return apigee_service_agent(resource_manager.projects.number(apigee_project_id))


@dataclass(frozen=True)
class IamBinding:
    """One binding of an IAM policy; ``condition`` is the raw ``Expr`` when conditional."""

    role: str
    members: tuple[str, ...]
    condition: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class IamPolicy:
    """A project's IAM policy (``raw`` keeps the whole JSON, audit configs included)."""

    version: int
    etag: str | None
    bindings: tuple[IamBinding, ...]
    raw: Mapping[str, Any]

    def has(self, role: str, member: str) -> bool:
        """True if an unconditional binding of ``role`` holds ``member``."""
        return any(b.role == role and b.condition is None and member in b.members for b in self.bindings)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> IamPolicy:
        """Build from the API's JSON."""
        return cls(
            version=int(data.get("version") or 1),
            etag=data.get("etag"),
            bindings=tuple(
                IamBinding(
                    role=str(b.get("role", "")),
                    members=tuple(str(m) for m in b.get("members") or ()),
                    condition=dict(b["condition"]) if isinstance(b.get("condition"), Mapping) else None,
                )
                for b in data.get("bindings") or ()
            ),
            raw=copy.deepcopy(dict(data)),
        )


def _member(value: object) -> str:
    if not isinstance(value, str) or not _MEMBER.match(value):
        raise errors.ValidationError(
            "member", value, "an IAM principal such as serviceAccount:NAME@PROJECT.iam.gserviceaccount.com"
        )
    return value


def _role(value: object) -> str:
    if not isinstance(value, str) or not _ROLE.match(value):
        raise errors.ValidationError("role", value, "a role such as roles/dns.peer")
    return value


def _add_member(policy: dict[str, Any], role: str, member: str) -> bool:
    bindings = policy.setdefault("bindings", [])
    plain = [b for b in bindings if b.get("role") == role and not b.get("condition")]
    if any(member in (b.get("members") or []) for b in plain):
        return False
    if plain:
        plain[0].setdefault("members", []).append(member)
    else:
        bindings.append({"role": role, "members": [member]})
    return True


def _remove_member(policy: dict[str, Any], role: str, member: str) -> bool:
    changed = False
    kept = []
    for binding in policy.get("bindings") or []:
        if binding.get("role") == role and not binding.get("condition") and member in (binding.get("members") or []):
            binding["members"] = [m for m in binding["members"] if m != member]
            changed = True
            if not binding["members"]:
                continue
        kept.append(binding)
    if changed:
        policy["bindings"] = kept
    return changed


def _is_stale_etag(error: BaseException) -> bool:
    if isinstance(error, errors.FailedPrecondition):
        return error.status_code == 412
    return isinstance(error, errors.Conflict)


#: A ``setIamPolicy`` refused for a stale etag (409 ABORTED, or 412) redoes the whole
#: read-modify-write, backing off from 1 s to 8 s, for about 30 s (as the Terraform provider).
IAM_ETAG_STALE = RereadPolicy(
    "iam: project policy", _is_stale_etag, attempts=None, initial=1.0, maximum=8.0, deadline=30.0
)


class ResourceManagerClient(_Client):
    """Cloud Resource Manager v3: ``projects`` (numbers) and ``iam`` (project IAM policies).

    Takes ``credentials``, ``quota_project_id``, ``endpoint``, ``retry``, ``timeout``,
    ``sleep`` and ``clock`` like :class:`~apigee_psc._http.Transport`.
    """

    _api = "cloudresourcemanager"

    def _setup(self) -> None:
        self.projects = Projects(self)
        self.iam = Iam(self)


class Projects:
    """Projects (``resource_manager.projects``): a project's number, and the Apigee service
    agent named after one."""

    def __init__(self, client: ResourceManagerClient) -> None:
        self._c = client

    def number(self, project_id: str) -> str:
        """The number of project ``project_id`` (``"123456789012"``), cached per client."""
        if isinstance(project_id, str) and project_id.isdigit():
            return project_id
        names.validate_project_id(project_id, "project")
        if project_id not in self._c._numbers:
            data = self._c.transport.request("GET", f"v3/projects/{project_id}")
            name = str(data.get("name", ""))
            number = name.rsplit("/", 1)[-1]
            if not number.isdigit():
                raise errors.ApiError(f"project {project_id} has no number in its name {name!r}")
            self._c._numbers[project_id] = number
        return self._c._numbers[project_id]

    def apigee_service_agent(self, apigee_project_id: str) -> str:
        """The Apigee service agent email for the organization's ``apigeeProjectId``."""
        return apigee_service_agent_for(apigee_project_id, self._c)


class Iam:
    """Project IAM policies (``resource_manager.iam``): ``get_policy``, ``has_binding``,
    ``grant``, ``revoke``."""

    def __init__(self, client: ResourceManagerClient) -> None:
        self._c = client

    def _raw_policy(self, project: str) -> dict[str, Any]:
        return self._c.transport.request(
            "POST",
            f"v3/projects/{_project_ref(project)}:getIamPolicy",
            json={"options": {"requestedPolicyVersion": 3}},
            wait_out_lock=False,
        )

    def get_policy(self, project: str) -> IamPolicy:
        """The project's IAM policy, read at version 3 (conditions included)."""
        return IamPolicy.from_api(self._raw_policy(project))

    def has_binding(self, project: str, role: str, member: str) -> bool:
        """True if ``member`` holds ``role`` on the project without a condition."""
        return self.get_policy(project).has(_role(role), _member(member))

    def grant(self, project: str, role: str, member: str, *, policy: IamPolicy | None = None) -> bool:
        """Give ``member`` ``role`` on the project (unconditionally). Returns ``True`` if the
        policy changed, ``False`` if the binding was already there.

        ``policy``: the project's policy as the caller just read it, to save the first read.
        It is used only if it carries an etag: the write sends it, so a policy changed since
        is refused (409/412) and the cycle starts again from a fresh read."""
        role, member = _role(role), _member(member)
        first = policy if policy is not None and policy.etag else None
        changed = self._read_modify_write(project, lambda raw: _add_member(raw, role, member), first=first)
        if changed:
            logger.info("iam: granted %s to %s on %s", role, member, project)
        return changed

    def revoke(self, project: str, role: str, member: str) -> bool:
        """Take ``role`` from ``member`` on the project (unconditional bindings only; an
        emptied binding is dropped). Returns ``True`` if the policy changed."""
        role, member = _role(role), _member(member)
        changed = self._read_modify_write(project, lambda policy: _remove_member(policy, role, member))
        if changed:
            logger.info("iam: revoked %s from %s on %s", role, member, project)
        return changed

    def _read_modify_write(
        self, project: str, modify: Callable[[dict[str, Any]], bool], *, first: IamPolicy | None = None
    ) -> bool:
        """Read the policy (the first time, ``first`` if given), apply ``modify``, write it
        back with its etag; a stale etag is handled by :data:`IAM_ETAG_STALE` (the whole cycle
        again, for about 30 s)."""
        ref = _project_ref(project)
        given = [copy.deepcopy(dict(first.raw))] if first is not None else []

        def cycle() -> bool:
            policy = given.pop() if given else self._raw_policy(project)
            if not modify(policy):
                return False
            policy["version"] = 3
            self._c.transport.request(
                "POST", f"v3/projects/{ref}:setIamPolicy", json={"policy": policy}, wait_out_lock=False
            )
            return True

        return IAM_ETAG_STALE.call(cycle, sleep=self._c.sleep, clock=self._c.clock, rng=self._c._rng)


def _project_ref(project: str) -> str:
    if isinstance(project, str) and project.isdigit():
        return project
    return names.validate_project_id(project, "project")
