"""Resource Manager v3 and v1 routes: thin handlers over the backend."""

from __future__ import annotations

from apigee_psc.emulator.errors import InvalidArgument
from apigee_psc.emulator.routing import Call, Reply, RouteGroup

ROUTES = RouteGroup("crm", style="rpc", service="cloudresourcemanager.googleapis.com")


# Endpoints of v1 carry ``@v1``: both versions have the same discovery method ids.


@ROUTES.route("GET", "/v3/projects/<id:project>", "cloudresourcemanager.projects.get")
def _get(call: Call, project: str) -> Reply:
    return Reply(call.world.crm.get(project).to_dict())


@ROUTES.route("GET", "/v1/projects/<id:project>", "cloudresourcemanager.projects.get@v1")
def _get_v1(call: Call, project: str) -> Reply:
    return Reply(call.world.crm.get(project).to_v1_dict())


@ROUTES.route("POST", "/v3/projects/<id:project>:getIamPolicy", "cloudresourcemanager.projects.getIamPolicy")
@ROUTES.route("POST", "/v1/projects/<id:project>:getIamPolicy", "cloudresourcemanager.projects.getIamPolicy@v1")
def _get_iam_policy(call: Call, project: str) -> Reply:
    options = call.json().get("options") or {}
    version = int(options.get("requestedPolicyVersion") or 0)
    return Reply(call.world.crm.get_iam_policy(project, version))


@ROUTES.route("POST", "/v3/projects/<id:project>:setIamPolicy", "cloudresourcemanager.projects.setIamPolicy")
@ROUTES.route("POST", "/v1/projects/<id:project>:setIamPolicy", "cloudresourcemanager.projects.setIamPolicy@v1")
def _set_iam_policy(call: Call, project: str) -> Reply:
    policy = call.json().get("policy")
    if not isinstance(policy, dict):
        raise InvalidArgument("Invalid JSON payload received. 'policy' is required.")
    return Reply(call.world.crm.set_iam_policy(project, policy))
