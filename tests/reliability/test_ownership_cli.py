"""Issue 10's ownership cases end to end, through the real ``apigee-psc`` command: what apigee-psc
did not create is neither changed by ``apply`` nor deleted by ``destroy``, another consumer's
connection is not broken, access is not widened silently. A refusal is exit code 1 naming the
resource, with no request that changes anything.

The contract (engine): ``Southbound.apply()`` / ``destroy()`` raise
:class:`apigee_psc.southbound.engine.PlanRefused` naming the resource and write nothing;
``destroy(force=True)`` (``--force``) and ``service_attachment.allow_widening: true`` are the
explicit confirmations. Each test is skipped, with the reason, on a branch whose engine lacks
the feature it needs.
"""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path
from typing import Any

import pytest
import yaml
from reliability_helpers import last_seq, mutations, run_cli, southbound

from apigee_psc import ApigeeClient, ComputeClient, errors
from apigee_psc.cloud import CloudDnsClient
from apigee_psc.demo import SEED_SPEC
from apigee_psc.emulator import EmulatorServer
from apigee_psc.southbound import PlanRefused, Southbound, SouthboundSpec
from apigee_psc.southbound import spec as spec_module

EXIT_REFUSED = 1


def _has_field(cls_name: str, field: str) -> bool:
    cls = getattr(spec_module, cls_name, None)
    return cls is not None and dataclasses.is_dataclass(cls) and field in {f.name for f in dataclasses.fields(cls)}


HAS_OWNERSHIP = _has_field("SouthboundSpec", "adopt")
HAS_FORCE = "force" in inspect.signature(Southbound.destroy).parameters
HAS_WIDENING = _has_field("ServiceAttachmentSpec", "allow_widening")

needs_ownership = pytest.mark.skipif(
    not HAS_OWNERSHIP, reason="engine without ownership marks (issue 10.1: no `adopt` in the spec yet)"
)
needs_force = pytest.mark.skipif(
    not HAS_FORCE, reason="engine without Southbound.destroy(force=...) (issue 10.2 not landed)"
)
needs_widening = pytest.mark.skipif(
    not HAS_WIDENING, reason="engine without service_attachment.allow_widening (issue 10.3 not landed)"
)


def _write(tmp_path: Path, data: dict[str, Any], name: str = "spec.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def _refused(done: Any, *fragments: str) -> None:
    assert done.returncode == EXIT_REFUSED, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    for fragment in fragments:
        assert fragment in done.stderr, done.stderr


@needs_ownership
def test_foreign_firewall_is_not_changed_by_apply_nor_deleted_by_destroy(
    server: EmulatorServer, tmp_path: Path
) -> None:
    compute = ComputeClient("my-project", "us-west1")
    compute.firewalls.create(
        "allow-psc-nat-80", network="default", source_ranges=["192.168.0.0/16"], ports=[22], target_tags=["psc-demo"]
    )
    spec_path = _write(tmp_path, SEED_SPEC)
    before = last_seq(server)
    _refused(run_cli(server, "apply", spec_path, "--yes"), "allow-psc-nat-80")
    assert mutations(server, before) == []
    # The Python API refuses the same way.
    with pytest.raises(PlanRefused) as caught:
        southbound(SouthboundSpec.from_yaml(spec_path)).apply()
    assert "allow-psc-nat-80" in str(caught.value)
    assert mutations(server, before) == []
    done = run_cli(server, "destroy", spec_path, "--yes")
    assert done.returncode == 0, done.stderr
    kept = compute.firewalls.get("allow-psc-nat-80")
    assert kept.tcp_ports == (22,)
    assert tuple(kept.source_ranges) == ("192.168.0.0/16",)


@needs_ownership
def test_foreign_a_record_is_not_overwritten_nor_deleted(server: EmulatorServer, tmp_path: Path) -> None:
    dns = CloudDnsClient()
    dns.records.upsert_a("my-project", "my-private-zone", "orders.example.com.", ["10.9.9.9"])
    spec_path = _write(tmp_path, SEED_SPEC)
    before = last_seq(server)
    _refused(run_cli(server, "apply", spec_path, "--yes"), "orders.example.com.")
    assert mutations(server, before) == []
    done = run_cli(server, "destroy", spec_path, "--yes")
    assert done.returncode == 0, done.stderr
    assert dns.records.get("my-project", "my-private-zone", "orders.example.com.").rrdatas == ("10.9.9.9",)


@needs_force
def test_destroy_with_another_organizations_accepted_connection_is_refused_unless_forced(
    server: EmulatorServer, tmp_path: Path
) -> None:
    spec_path = _write(tmp_path, SEED_SPEC)
    assert southbound(SouthboundSpec.from_yaml(spec_path)).apply().ok
    server.configure(orgs=["other-org"])
    other = ApigeeClient("other-org")
    attachment = SouthboundSpec.from_yaml(spec_path).service_attachment_path
    other.operations.wait(
        other.endpoint_attachments.create("theirs", location="us-west1", service_attachment=attachment), timeout=20
    )
    assert str(other.endpoint_attachments.wait_until_ready("theirs", timeout=20).connection_state) == "ACCEPTED"
    before = last_seq(server)
    _refused(run_cli(server, "destroy", spec_path, "--yes"), "gkebackend", "--force")
    assert mutations(server, before) == []
    assert str(other.endpoint_attachments.get("theirs").connection_state) == "ACCEPTED"
    done = run_cli(server, "destroy", spec_path, "--yes", "--force")
    assert done.returncode == 0, done.stderr
    assert str(other.endpoint_attachments.get("theirs").connection_state) == "CLOSED"
    with pytest.raises(errors.NotFound):
        ComputeClient("my-project", "us-west1").service_attachments.get("gkebackend")


@needs_widening
def test_manual_to_automatic_with_a_reject_list_is_refused_unless_allowed(
    server: EmulatorServer, tmp_path: Path
) -> None:
    manual = {"name": "gkebackend", "connection_preference": "ACCEPT_MANUAL", "reject_projects": ["bad-project-1"]}
    assert southbound(SouthboundSpec.from_dict({**SEED_SPEC, "service_attachment": manual})).apply().ok
    automatic = {"name": "gkebackend", "connection_preference": "ACCEPT_AUTOMATIC"}
    spec_path = _write(tmp_path, {**SEED_SPEC, "service_attachment": automatic})
    before = last_seq(server)
    _refused(run_cli(server, "apply", spec_path, "--yes"), "allow_widening", "bad-project-1")
    assert mutations(server, before) == []
    compute = ComputeClient("my-project", "us-west1")
    live = compute.service_attachments.get("gkebackend")
    assert str(live.connection_preference) == "ACCEPT_MANUAL" and live.consumer_reject_lists
    allowed = _write(tmp_path, {**SEED_SPEC, "service_attachment": {**automatic, "allow_widening": True}}, "ok.yaml")
    done = run_cli(server, "apply", allowed, "--yes")
    assert done.returncode == 0, done.stderr
    assert str(compute.service_attachments.get("gkebackend").connection_preference) == "ACCEPT_AUTOMATIC"
