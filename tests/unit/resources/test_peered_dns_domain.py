"""PeeredDnsDomain: on the network peered with Apigee (the organization's authorizedNetwork)."""

from __future__ import annotations

from resource_kit import ORG, PEERED, TENANT, context, reconciler, snapshot, spec

from apigee_psc.cloud import PeeredDnsDomain
from apigee_psc.southbound import Action
from apigee_psc.southbound.live import OrgInfo
from apigee_psc.southbound.resources.base import Seen

DOMAIN = reconciler("PeeredDnsDomain")


def test_domain_applies_only_to_peered_organizations() -> None:
    assert DOMAIN.applies(spec(), PEERED) and not DOMAIN.applies(spec(), ORG)


def test_authorized_network_names_the_project_and_network() -> None:
    assert PEERED.peered_network == ("my-organization", "default")
    shared = OrgInfo(
        "my-organization", TENANT, False, "my-organization", "projects/host-project/global/networks/shared"
    )
    assert shared.peered_network == ("host-project", "shared")


def test_domain_goes_on_the_peered_network_and_a_mismatch_is_explained() -> None:
    ctx = context(org=PEERED)
    found = DOMAIN.assess(ctx, snapshot(PeeredDnsDomain=Seen(None)))
    assert found.change.action is Action.CREATE
    assert found.change.resource_id == "projects/my-organization/global/networks/default/peeredDnsDomains/my-zone"
    assert (
        "authorizedNetwork" in found.change.note
        and "not the spec's network default of project my-project" in found.change.note
    )
    same = OrgInfo("my-organization", TENANT, False, "my-project", "default")
    assert DOMAIN.assess(context(org=same), snapshot(PeeredDnsDomain=Seen(None))).change.note == ""


def test_existing_domain_with_the_suffix_is_in_sync() -> None:
    found = DOMAIN.assess(context(org=PEERED), snapshot(PeeredDnsDomain=PeeredDnsDomain("my-zone", "example.com.")))
    assert found.noop
