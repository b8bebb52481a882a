"""Read-only checks against real Google Cloud.

Skipped unless ``APIGEE_PSC_LIVE=1`` and ``APIGEE_PSC_LIVE_ORG`` name an organization the
Application Default Credentials may read. They never create or delete anything.
"""

from __future__ import annotations

import os

import pytest

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        os.environ.get("APIGEE_PSC_LIVE") != "1" or not os.environ.get("APIGEE_PSC_LIVE_ORG"),
        reason="live tests need APIGEE_PSC_LIVE=1 and APIGEE_PSC_LIVE_ORG",
    ),
]


@pytest.fixture()
def organization(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delenv("APIGEE_PSC_EMULATOR_HOST", raising=False)
    return os.environ["APIGEE_PSC_LIVE_ORG"]


def test_get_organization_live_has_apigee_project(organization: str) -> None:
    from apigee_psc import ApigeeClient

    org = ApigeeClient(organization).get_organization()
    assert org.name == organization
    assert org.apigee_project_id


def test_list_endpoint_attachments_live_each_has_a_known_state(organization: str) -> None:
    from apigee_psc import ApigeeClient, ConnectionState, State

    for attachment in ApigeeClient(organization).endpoint_attachments.list():
        assert attachment.state in set(State)
        assert attachment.connection_state in set(ConnectionState)
