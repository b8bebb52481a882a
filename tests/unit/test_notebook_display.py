"""What a notebook shows: attachments as HTML tables, and ``dir(apigee_psc)`` as the public API."""

from __future__ import annotations

import re
import subprocess
import sys

import apigee_psc
from apigee_psc.models import ConnectionState, EndpointAttachment, State


def _attachment(name: str, host: str | None = "7.0.3.4") -> EndpointAttachment:
    return EndpointAttachment(
        name=name,
        location="us-west1",
        service_attachment=f"projects/p/regions/us-west1/serviceAttachments/{name}",
        host=host,
        state=State.ACTIVE,
        connection_state=ConnectionState.ACCEPTED,
    )


def _cells(html: str) -> list[list[str]]:
    return [re.findall(r"<t[dh]>(.*?)</t[dh]>", row) for row in re.findall(r"<tr>(.*?)</tr>", html)]


def test_an_attachment_displays_as_a_one_row_table() -> None:
    rows = _cells(_attachment("gkebackend")._repr_html_())
    assert rows == [
        ["name", "location", "host", "state", "connection", "service attachment"],
        [
            "gkebackend",
            "us-west1",
            "7.0.3.4",
            "ACTIVE",
            "ACCEPTED",
            "projects/p/regions/us-west1/serviceAttachments/gkebackend",
        ],
    ]


def test_a_list_of_attachments_displays_as_one_table_with_every_cell_escaped() -> None:
    html = EndpointAttachment.html_table([_attachment("a"), _attachment("<script>", host=None)])
    rows = _cells(html)
    assert [r[0] for r in rows] == ["name", "a", "&lt;script&gt;"]
    assert rows[2][2] == "-"
    assert "<script>" not in html


def test_dir_shows_only_the_public_api() -> None:
    names = dir(apigee_psc)
    assert names == sorted(apigee_psc.__all__)
    assert {"Southbound", "SouthboundSpec", "ApigeeClient", "ValidationError", "__version__"} <= set(names)
    assert not {"importlib", "annotations", "TYPE_CHECKING", "Any", "_LAZY"} & set(names)
    for name in apigee_psc.__all__:
        assert getattr(apigee_psc, name) is not None


def test_dir_does_not_import_the_heavy_modules() -> None:
    code = "import sys, apigee_psc; dir(apigee_psc); print('google.cloud.compute_v1' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "False"


def test_destroy_report_renders_outcomes_escaped_and_iterates_like_the_old_list() -> None:
    from apigee_psc.southbound import Action, Change, DestroyReport

    deleted = Change(Action.DELETE, "Firewall", "allow-psc-nat-80", "projects/p/global/firewalls/allow-psc-nat-80")
    kept = Change(Action.NOOP, "DnsRecord", "a.example.com.", "x", note="not created by <apigee-psc>")
    report = DestroyReport("seed.yaml", "my-organization", [deleted, kept], [("NatSubnet", "psc-subnet")])
    assert list(report) == [deleted, kept] and report[0] is deleted and len(report) == 2
    assert report.deleted == (deleted,) and report.kept == (kept,)
    page = report._repr_html_()
    assert "&lt;apigee-psc&gt;" in page and "<apigee-psc>" not in page
    assert page.count("<tr>") == 4  # the header and three entities
    assert report.to_dict()["summary"] == {"deleted": 1, "kept": 1, "absent": 1}
    assert "absent   NatSubnet" in report.to_text()


def test_a_southbound_displays_its_connection_escaped() -> None:
    from apigee_psc.demo import SEED_SPEC
    from apigee_psc.southbound import Southbound, SouthboundSpec

    spec = SouthboundSpec.from_dict(SEED_SPEC, source="<seed>.yaml")
    rows = dict(tuple(row) for row in _cells(Southbound(spec)._repr_html_()))
    assert rows["organization"] == "my-organization"
    assert rows["endpoint attachment"] == "organizations/my-organization/endpointAttachments/gkebackend"
    assert rows["target"] == "http://orders.example.com/orders"
    assert "&lt;seed&gt;.yaml" in Southbound(spec)._repr_html_()
    assert dict(tuple(row) for row in _cells(spec._repr_html_())) == rows  # a spec displays the same
