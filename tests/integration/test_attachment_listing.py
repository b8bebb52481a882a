"""``endpoint_attachments.list()`` over the emulator: lazy, and a table in a notebook."""

from __future__ import annotations

from integration_helpers import southbound

from apigee_psc import ApigeeClient
from apigee_psc.emulator import EmulatorServer
from apigee_psc.southbound import SouthboundSpec


def test_the_listing_is_a_table_in_a_notebook_and_displaying_it_uses_nothing_up(
    producer: EmulatorServer, seed_spec: SouthboundSpec
) -> None:
    assert southbound(seed_spec).apply().ok
    listing = ApigeeClient("my-organization").endpoint_attachments.list()
    before = len(producer.requests())
    page = listing._repr_html_()  # what Jupyter calls to display it
    assert "<td>gkebackend</td>" in page and "<td>ACCEPTED</td>" in page and "<td>7.0.3.4</td>" in page
    assert len(producer.requests()) == before + 1  # one page read, once
    assert [a.name for a in listing] == ["gkebackend"]  # still there to iterate after display
    assert len(producer.requests()) == before + 1
