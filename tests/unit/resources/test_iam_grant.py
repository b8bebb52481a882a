"""IamBinding: roles/dns.peer for the service agent of the organization's own project."""

from __future__ import annotations

import pytest
from resource_kit import ORG, PEERED, context, reconciler, snapshot, spec

from apigee_psc import errors
from apigee_psc.southbound import Action, Realization
from apigee_psc.southbound.live import OrgInfo
from apigee_psc.southbound.resources.base import Seen

IAM = reconciler("IamBinding")
AGENT = "serviceAccount:service-1@gcp-sa-apigee.iam.gserviceaccount.com"


def test_missing_grant_is_created_and_reported_as_the_member_lacking_the_role() -> None:
    ctx, snap = context(), snapshot(IamBinding=Seen(None, None, {"member": AGENT}))
    found = IAM.assess(ctx, snap)
    assert found.change.action is Action.CREATE and found.change.diffs == (f"member: {AGENT}",)
    status = IAM.realize(ctx, snap, found)
    assert status.state is Realization.NOT_FOUND and status.failure_message == f"{AGENT} lacks roles/dns.peer"


def test_grant_applies_only_to_organizations_without_peering_that_have_a_zone() -> None:
    assert IAM.applies(spec(), ORG)
    assert not IAM.applies(spec(), PEERED)
    assert not IAM.applies(spec(dns=None), ORG)


def test_invalid_project_id_of_the_organization_is_reported_as_the_organizations() -> None:
    org = OrgInfo("my-organization", "tenant", True, "Not_A_Project")
    with pytest.raises(errors.ValidationError) as caught:
        _ = org.own_project
    assert caught.value.field == "projectId of organization my-organization"
    assert "project:" not in str(caught.value)


def test_grant_is_kept_by_destroy_unless_revoking() -> None:
    seen = snapshot()["IamBinding"]
    assert "revoke_iam" in (IAM.keep_reason(context(), seen) or "")
    assert IAM.keep_reason(context(revoke_iam=True), seen) is None
