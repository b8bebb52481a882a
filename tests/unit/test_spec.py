"""Unit tests of apigee_psc.southbound.spec: parsing, validation, key paths and round trips."""

from __future__ import annotations

import copy
import ipaddress
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apigee_psc.errors import ValidationError
from apigee_psc.southbound import SouthboundSpec as LazySouthboundSpec
from apigee_psc.southbound.spec import (
    DnsSpec,
    DnsZoneSpec,
    EndpointAttachmentSpec,
    FirewallSpec,
    NatSubnetSpec,
    ServiceAttachmentSpec,
    SouthboundSpec,
    TargetSpec,
    TlsSpec,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SOURCE = "examples/x.yaml"

SEED: dict[str, Any] = {
    "organization": "my-organization",
    "project": "my-project",
    "region": "us-west1",
    "network": "default",
    "forwarding_rule": "fr-ilb",
    "nat_subnet": {"name": "psc-subnet", "range": "10.100.0.0/28"},
    "firewall": {"name": "allow-psc-nat-80", "ports": [80], "target_tags": ["psc-demo"]},
    "service_attachment": {
        "name": "gkebackend",
        "connection_preference": "ACCEPT_AUTOMATIC",
        "accept_projects": [],
    },
    "endpoint_attachment": {"name": "gkebackend"},
    "dns": {
        "zone": {"name": "my-zone", "domain": "example.com."},
        "managed_zone": "my-private-zone",
        "record": "orders.example.com.",
    },
    "target": {"path": "/orders"},
}


def seed(**changes: Any) -> dict[str, Any]:
    """A deep copy of the seed spec dict; ``a__b=v`` sets d[a][b] = v, ``a=DELETE`` removes."""
    d = copy.deepcopy(SEED)
    for key, value in changes.items():
        parts = key.split("__")
        target = d
        for part in parts[:-1]:
            target = target[part]
        if value is DELETE:
            del target[parts[-1]]
        else:
            target[parts[-1]] = value
    return d


DELETE = object()


def error_of(d: Any, source: str | None = SOURCE) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        SouthboundSpec.from_dict(d, source=source)
    return info.value


def write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- the seed


def test_from_yaml_seed_scenario_parses_every_field() -> None:
    spec = SouthboundSpec.from_yaml(EXAMPLES / "seed-scenario.yaml")
    assert spec.organization == "my-organization"
    assert spec.project == "my-project"
    assert spec.region == "us-west1"
    assert spec.network == "default"
    assert spec.forwarding_rule == "fr-ilb"
    assert spec.nat_subnet == NatSubnetSpec("psc-subnet", "10.100.0.0/28")
    assert spec.firewall == FirewallSpec("allow-psc-nat-80", (80,), ("psc-demo",))
    assert spec.service_attachment == ServiceAttachmentSpec("gkebackend", "ACCEPT_AUTOMATIC", ())
    assert spec.endpoint_attachment == EndpointAttachmentSpec("gkebackend")
    assert spec.dns == DnsSpec(
        zone=DnsZoneSpec("my-zone", "example.com."),
        managed_zone="my-private-zone",
        record="orders.example.com.",
    )
    assert spec.target == TargetSpec("/orders")
    assert spec.source == str(EXAMPLES / "seed-scenario.yaml")


def test_from_yaml_seed_scenario_equals_design_dict() -> None:
    assert SouthboundSpec.from_yaml(EXAMPLES / "seed-scenario.yaml") == SouthboundSpec.from_dict(SEED)


def test_derived_names_seed_scenario_match_api_paths() -> None:
    spec = SouthboundSpec.from_dict(SEED)
    assert spec.service_attachment_path == ("projects/my-project/regions/us-west1/serviceAttachments/gkebackend")
    assert spec.forwarding_rule_name == "fr-ilb"
    assert spec.forwarding_rule_project == "my-project"
    assert spec.forwarding_rule_region == "us-west1"
    assert spec.forwarding_rule_path == "projects/my-project/regions/us-west1/forwardingRules/fr-ilb"
    assert spec.network_path == "projects/my-project/global/networks/default"
    assert spec.nat_subnet_path == "projects/my-project/regions/us-west1/subnetworks/psc-subnet"
    assert spec.endpoint_attachment_location == "us-west1"
    assert spec.endpoint_attachment_path == ("organizations/my-organization/endpointAttachments/gkebackend")
    assert spec.target_host_name == "orders.example.com"
    assert spec.target_path == "/orders"
    assert spec.nat_subnet.ip_network == ipaddress.IPv4Network("10.100.0.0/28")


def test_to_dict_seed_scenario_equals_input() -> None:
    assert SouthboundSpec.from_dict(SEED).to_dict() == SEED


def test_to_yaml_seed_scenario_reloads_equal(tmp_path: Path) -> None:
    spec = SouthboundSpec.from_dict(SEED)
    path = write(tmp_path, spec.to_yaml())
    assert SouthboundSpec.from_yaml(path) == spec
    assert list(yaml.safe_load(spec.to_yaml())) == list(SEED)


def test_southbound_package_lazy_export_is_same_class() -> None:
    assert LazySouthboundSpec is SouthboundSpec


# --------------------------------------------------------------------------- examples


EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml")) + sorted((EXAMPLES / "fleet").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_from_yaml_example_file_is_valid_and_round_trips(path: Path) -> None:
    spec = SouthboundSpec.from_yaml(path)
    assert SouthboundSpec.from_dict(spec.to_dict()) == spec


def test_examples_expected_files_exist() -> None:
    names = {p.relative_to(EXAMPLES).as_posix() for p in EXAMPLE_FILES}
    assert {"seed-scenario.yaml", "manual-accept.yaml"} <= names
    assert len([n for n in names if n.startswith("fleet/")]) == 5


def test_fleet_examples_one_org_distinct_resources() -> None:
    specs = [SouthboundSpec.from_yaml(p) for p in sorted((EXAMPLES / "fleet").glob("*.yaml"))]
    assert len(specs) == 5
    assert {s.organization for s in specs} == {"my-organization"}
    assert len({s.service_attachment_path for s in specs}) == 5
    assert len({s.endpoint_attachment.name for s in specs}) == 5
    assert len({s.nat_subnet.name for s in specs}) == 5
    networks = [s.nat_subnet.ip_network for s in specs]
    for i, a in enumerate(networks):
        for b in networks[i + 1 :]:
            assert not a.overlaps(b)


def test_manual_accept_example_uses_accept_manual() -> None:
    spec = SouthboundSpec.from_yaml(EXAMPLES / "manual-accept.yaml")
    assert spec.service_attachment.connection_preference == "ACCEPT_MANUAL"
    assert spec.service_attachment.accept_projects
    assert spec.forwarding_rule_name == "payments-ilb"


# --------------------------------------------------------------------------- invalid values


INVALID_VALUES = [
    ("organization", "My_Org", "organization"),
    ("project", "p", "project"),
    ("project", "1project", "project"),
    ("region", "us-west1-a", "region"),
    ("network", "Default", "network"),
    ("forwarding_rule", "FR_ILB", "forwarding_rule"),
    ("forwarding_rule", "projects/my-project/zones/us-west1-a/forwardingRules/fr", "forwarding_rule"),
    ("nat_subnet__name", "psc_subnet", "nat_subnet.name"),
    ("nat_subnet__range", "10.100.0.0/33", "nat_subnet.range"),
    ("nat_subnet__range", "10.100.0.0/30", "nat_subnet.range"),
    ("nat_subnet__range", "10.0.0.0/8", "nat_subnet.range"),
    ("nat_subnet__range", "8.8.8.0/28", "nat_subnet.range"),
    ("nat_subnet__range", "10.100.0.1/28", "nat_subnet.range"),
    ("nat_subnet__range", "fd00::/64", "nat_subnet.range"),
    ("firewall__name", "-allow", "firewall.name"),
    ("firewall__ports", [], "firewall.ports"),
    ("firewall__ports", 80, "firewall.ports"),
    ("firewall__ports", [80, 0], "firewall.ports[1]"),
    ("firewall__ports", [80, 65536], "firewall.ports[1]"),
    ("firewall__ports", [80, True], "firewall.ports[1]"),
    ("firewall__ports", [80, 80], "firewall.ports[1]"),
    ("firewall__target_tags", ["psc-demo", "Bad_Tag"], "firewall.target_tags[1]"),
    ("firewall__target_tags", "psc-demo", "firewall.target_tags"),
    ("service_attachment__name", "9backend", "service_attachment.name"),
    ("service_attachment__connection_preference", "ACCEPT_ALL", "service_attachment.connection_preference"),
    ("service_attachment__connection_preference", "accept_automatic", "service_attachment.connection_preference"),
    ("service_attachment__connection_limit", 0, "service_attachment.connection_limit"),
    ("service_attachment__connection_limit", "10", "service_attachment.connection_limit"),
    ("service_attachment__enable_proxy_protocol", "true", "service_attachment.enable_proxy_protocol"),
    ("service_attachment__domain_names", ["p.example.com"], "service_attachment.domain_names[0]"),
    ("service_attachment__domain_names", ["a.example.com.", "b.example.com."], "service_attachment.domain_names"),
    ("endpoint_attachment__name", "g", "endpoint_attachment.name"),
    ("endpoint_attachment__name", "gkebackend-", "endpoint_attachment.name"),
    ("endpoint_attachment__name", "a" * 33, "endpoint_attachment.name"),
    ("endpoint_attachment__location", "us-east1", "endpoint_attachment.location"),
    ("dns__zone__name", "1zone", "dns.zone.name"),
    ("dns__zone__domain", "example.com", "dns.zone.domain"),
    ("dns__zone__description", "x" * 1025, "dns.zone.description"),
    ("dns__managed_zone", "My Zone", "dns.managed_zone"),
    ("dns__record", "orders.example.com", "dns.record"),
    ("dns__record", "orders.example.org.", "dns.record"),
    ("target__path", "orders", "target.path"),
    ("target__path", "/orders list", "target.path"),
    ("target__path", 5, "target.path"),
]


@pytest.mark.parametrize(("key", "value", "path"), INVALID_VALUES)
def test_from_dict_invalid_value_names_key_path_and_file(key: str, value: Any, path: str) -> None:
    err = error_of(seed(**{key: value}))
    assert err.field == path
    assert err.source == SOURCE
    assert str(err).startswith(f"{SOURCE}: {path}: ")
    assert err.rule


def test_from_dict_nat_range_error_message_reads_like_contract() -> None:
    err = error_of(seed(nat_subnet__range="10.100.0.0/33"))
    assert str(err).startswith("examples/x.yaml: nat_subnet.range: '10.100.0.0/33' is invalid: ")
    assert "/16 to /29" in err.rule


def test_from_dict_port_as_string_rejected_with_hint() -> None:
    err = error_of(seed(firewall__ports=["80"]))
    assert err.field == "firewall.ports[0]"
    assert "without quotes" in err.rule


def test_from_dict_accept_projects_with_automatic_rejected() -> None:
    err = error_of(seed(service_attachment__accept_projects=["other-project"]))
    assert err.field == "service_attachment.accept_projects"
    assert "ACCEPT_MANUAL" in err.rule


def test_from_dict_invalid_accept_project_names_index() -> None:
    d = seed(
        service_attachment__connection_preference="ACCEPT_MANUAL",
        service_attachment__accept_projects=["good-project", "Bad_Project"],
    )
    assert error_of(d).field == "service_attachment.accept_projects[1]"


def test_from_dict_duplicate_accept_project_rejected() -> None:
    d = seed(
        service_attachment__connection_preference="ACCEPT_MANUAL",
        service_attachment__accept_projects=["good-project", "good-project"],
    )
    assert error_of(d).field == "service_attachment.accept_projects[1]"


def test_from_dict_project_both_accepted_and_rejected_rejected() -> None:
    d = seed(
        service_attachment__connection_preference="ACCEPT_MANUAL",
        service_attachment__accept_projects=["good-project"],
        service_attachment__reject_projects=["good-project"],
    )
    assert error_of(d).field == "service_attachment.reject_projects[0]"


def test_from_dict_manual_with_numbers_and_extras_accepted() -> None:
    d = seed(
        service_attachment__connection_preference="ACCEPT_MANUAL",
        service_attachment__accept_projects=["good-project", 123456789012],
        service_attachment__reject_projects=["987654321"],
        service_attachment__connection_limit=50,
        service_attachment__enable_proxy_protocol=True,
        service_attachment__domain_names=["p.example.com."],
    )
    sa = SouthboundSpec.from_dict(d).service_attachment
    assert sa.accept_projects == ("good-project", "123456789012")
    assert sa.reject_projects == ("987654321",)
    assert sa.connection_limit == 50
    assert sa.enable_proxy_protocol is True
    assert sa.domain_names == ("p.example.com.",)


def test_from_dict_connection_preference_missing_defaults_automatic() -> None:
    d = seed(service_attachment__connection_preference=DELETE, service_attachment__accept_projects=DELETE)
    sa = SouthboundSpec.from_dict(d).service_attachment
    assert sa.connection_preference == "ACCEPT_AUTOMATIC"
    assert sa.accept_projects == ()
    assert sa.connection_limit == 10


def test_from_dict_forwarding_rule_path_accepted() -> None:
    spec = SouthboundSpec.from_dict(seed(forwarding_rule="projects/lb-project/regions/us-west1/forwardingRules/fr-ilb"))
    assert spec.forwarding_rule_name == "fr-ilb"
    assert spec.forwarding_rule_project == "lb-project"
    assert spec.forwarding_rule_region == "us-west1"


def test_from_dict_forwarding_rule_url_accepted() -> None:
    url = "https://www.googleapis.com/compute/v1/projects/my-project/regions/us-west1/forwardingRules/fr-ilb"
    spec = SouthboundSpec.from_dict(seed(forwarding_rule=url))
    assert spec.forwarding_rule == url
    assert spec.forwarding_rule_path == "projects/my-project/regions/us-west1/forwardingRules/fr-ilb"


def test_from_dict_forwarding_rule_other_region_rejected() -> None:
    err = error_of(seed(forwarding_rule="projects/my-project/regions/us-east1/forwardingRules/fr-ilb"))
    assert err.field == "forwarding_rule"
    assert "us-west1" in err.rule


def test_from_dict_forwarding_rule_path_bad_name_rejected() -> None:
    err = error_of(seed(forwarding_rule="projects/my-project/regions/us-west1/forwardingRules/FR"))
    assert err.field == "forwarding_rule (name)"


def test_from_dict_organization_prefix_normalised() -> None:
    spec = SouthboundSpec.from_dict(seed(organization="organizations/my-organization"))
    assert spec.organization == "my-organization"


def test_from_dict_nat_range_is_stored_canonical() -> None:
    spec = SouthboundSpec.from_dict(seed(nat_subnet__range="10.100.0.0/28"))
    assert spec.nat_subnet.range == "10.100.0.0/28"


def test_from_dict_endpoint_attachment_location_equal_region_accepted() -> None:
    spec = SouthboundSpec.from_dict(seed(endpoint_attachment__location="us-west1"))
    assert spec.endpoint_attachment_location == "us-west1"


# --------------------------------------------------------------------------- cross-field DNS


def test_from_dict_record_without_managed_zone_rejected() -> None:
    err = error_of(seed(dns__managed_zone=DELETE))
    assert err.field == "dns.managed_zone"
    assert "record" in err.rule


def test_from_dict_managed_zone_without_record_rejected() -> None:
    assert error_of(seed(dns__record=DELETE)).field == "dns.record"


def test_from_dict_empty_dns_section_rejected() -> None:
    assert error_of(seed(dns={"zone": None})).field == "dns.zone"


def test_from_dict_record_without_zone_accepted() -> None:
    spec = SouthboundSpec.from_dict(seed(dns__zone=DELETE, dns__record="orders.example.org."))
    assert spec.dns is not None and spec.dns.zone is None
    assert spec.target_host_name == "orders.example.org"


def test_from_dict_zone_only_accepted() -> None:
    spec = SouthboundSpec.from_dict(seed(dns__managed_zone=DELETE, dns__record=DELETE))
    assert spec.dns is not None and spec.target_host_name is None


def test_from_dict_record_equal_to_zone_domain_accepted() -> None:
    assert SouthboundSpec.from_dict(seed(dns__record="example.com.")).dns is not None


def test_from_dict_optional_sections_absent_accepted() -> None:
    spec = SouthboundSpec.from_dict(seed(firewall=DELETE, dns=DELETE, target=DELETE))
    assert spec.firewall is None and spec.dns is None and spec.target is None
    assert spec.target_path == "/"
    assert "firewall" not in spec.to_dict()


def test_from_dict_optional_sections_null_treated_as_absent() -> None:
    spec = SouthboundSpec.from_dict(seed(firewall=None, dns=None, target=None))
    assert spec.firewall is None and spec.dns is None and spec.target is None


def test_from_dict_target_without_path_defaults_to_root() -> None:
    assert SouthboundSpec.from_dict(seed(target={})).target == TargetSpec("/")


def test_from_dict_firewall_without_tags_accepted() -> None:
    spec = SouthboundSpec.from_dict(seed(firewall__target_tags=DELETE))
    assert spec.firewall is not None and spec.firewall.target_tags == ()


# --------------------------------------------------------------------------- unknown / missing keys


def test_from_dict_unknown_top_level_key_named_with_suggestion() -> None:
    err = error_of(seed(organisation="x"))
    assert err.field == "organisation"
    assert "did you mean 'organization'?" in err.rule


@pytest.mark.parametrize(
    ("section", "bad", "path", "suggestion"),
    [
        ("nat_subnet", "rnage", "nat_subnet.rnage", "range"),
        ("firewall", "port", "firewall.port", "ports"),
        ("firewall", "target_tag", "firewall.target_tag", "target_tags"),
        (
            "service_attachment",
            "connection_preferences",
            "service_attachment.connection_preferences",
            "connection_preference",
        ),
        ("service_attachment", "accept_project", "service_attachment.accept_project", "accept_projects"),
        ("endpoint_attachment", "nmae", "endpoint_attachment.nmae", "name"),
        ("dns", "managedZone", "dns.managedZone", "managed_zone"),
        ("target", "pth", "target.pth", "path"),
    ],
)
def test_from_dict_unknown_nested_key_named_with_suggestion(section: str, bad: str, path: str, suggestion: str) -> None:
    d = seed()
    d[section][bad] = "x"
    err = error_of(d)
    assert err.field == path
    assert f"did you mean {suggestion!r}?" in err.rule


def test_from_dict_unknown_key_in_dns_zone_named() -> None:
    d = seed()
    d["dns"]["zone"]["domian"] = "example.com."
    err = error_of(d)
    assert err.field == "dns.zone.domian"
    assert "'domain'" in err.rule


def test_from_dict_unknown_key_far_from_any_has_no_suggestion_but_lists_keys() -> None:
    err = error_of(seed(zzzzzz=1))
    assert err.field == "zzzzzz"
    assert "did you mean" not in err.rule
    assert "organization" in err.rule


def test_from_dict_non_string_key_rejected() -> None:
    d = seed()
    d["nat_subnet"][80] = "x"
    assert error_of(d).field == "nat_subnet.80"


@pytest.mark.parametrize(
    "path",
    [
        "organization",
        "project",
        "region",
        "network",
        "forwarding_rule",
        "nat_subnet",
        "service_attachment",
        "endpoint_attachment",
        "nat_subnet.name",
        "nat_subnet.range",
        "firewall.name",
        "firewall.ports",
        "service_attachment.name",
        "endpoint_attachment.name",
        "dns.zone.name",
        "dns.zone.domain",
    ],
)
def test_from_dict_missing_required_key_named(path: str) -> None:
    err = error_of(seed(**{path.replace(".", "__"): DELETE}))
    assert err.field == path
    assert "missing" in err.rule


def test_from_dict_section_not_a_mapping_rejected() -> None:
    err = error_of(seed(nat_subnet="psc-subnet"))
    assert err.field == "nat_subnet"
    assert "mapping" in err.rule


def test_from_dict_top_level_not_a_mapping_rejected() -> None:
    err = error_of(["organization"], source=None)
    assert err.field == "spec"


def test_from_dict_without_source_has_no_file_prefix() -> None:
    err = error_of(seed(region="west"), source=None)
    assert err.source is None
    assert str(err).startswith("region: ")


# --------------------------------------------------------------------------- YAML files


def test_from_yaml_invalid_field_error_names_file(tmp_path: Path) -> None:
    path = write(tmp_path, yaml.safe_dump(seed(nat_subnet__range="10.100.0.0/33")))
    with pytest.raises(ValidationError) as info:
        SouthboundSpec.from_yaml(path)
    assert info.value.source == str(path)
    assert str(info.value).startswith(f"{path}: nat_subnet.range: '10.100.0.0/33' is invalid: ")


def test_from_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "organization: my-organization\nproject: [my-project\nregion: us-west1\n")
    with pytest.raises(ValidationError) as info:
        SouthboundSpec.from_yaml(path)
    assert info.value.field == "<file>"
    assert info.value.source == str(path)
    assert "line " in info.value.rule


def test_from_yaml_bad_indentation_reports_line(tmp_path: Path) -> None:
    path = write(tmp_path, "organization: my-org\nnat_subnet:\n  name: a\n   range: b\n")
    with pytest.raises(ValidationError) as info:
        SouthboundSpec.from_yaml(path)
    assert "line 4" in info.value.rule


def test_from_yaml_duplicate_key_rejected_with_lines(tmp_path: Path) -> None:
    text = yaml.safe_dump(SEED, sort_keys=False) + "region: us-east1\n"
    path = write(tmp_path, text)
    with pytest.raises(ValidationError) as info:
        SouthboundSpec.from_yaml(path)
    assert info.value.field == "<file>"
    assert info.value.value == "region"
    assert "line 3" in info.value.rule


def test_from_yaml_missing_file_is_validation_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as info:
        SouthboundSpec.from_yaml(tmp_path / "nope.yaml")
    assert info.value.field == "<file>"


def test_from_yaml_empty_file_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as info:
        SouthboundSpec.from_yaml(write(tmp_path, "# nothing here\n"))
    assert info.value.field == "<file>"
    assert "mapping" in info.value.rule


def test_from_yaml_quoted_port_rejected(tmp_path: Path) -> None:
    text = yaml.safe_dump(SEED, sort_keys=False).replace("- 80", "- '80'")
    with pytest.raises(ValidationError) as info:
        SouthboundSpec.from_yaml(write(tmp_path, text))
    assert info.value.field == "firewall.ports[0]"


def test_from_yaml_python_tag_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "organization: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ValidationError) as info:
        SouthboundSpec.from_yaml(path)
    assert info.value.field == "<file>"


# --------------------------------------------------------------------------- Python construction


def test_construct_directly_validates_fields() -> None:
    with pytest.raises(ValidationError) as info:
        NatSubnetSpec("psc-subnet", "192.168.0.0/30")
    assert info.value.field == "range"


def test_construct_spec_directly_normalises_lists_to_tuples() -> None:
    fw = FirewallSpec("allow", [80, 443], ["web"])  # type: ignore[arg-type]
    assert fw.ports == (80, 443)
    assert fw.target_tags == ("web",)


def test_construct_spec_directly_checks_cross_fields() -> None:
    with pytest.raises(ValidationError) as info:
        SouthboundSpec(
            organization="my-organization",
            project="my-project",
            region="us-west1",
            network="default",
            forwarding_rule="fr-ilb",
            nat_subnet=NatSubnetSpec("psc-subnet", "10.100.0.0/28"),
            service_attachment=ServiceAttachmentSpec("gkebackend"),
            endpoint_attachment=EndpointAttachmentSpec("gkebackend", location="europe-west1"),
            source="inline.yaml",
        )
    assert info.value.field == "endpoint_attachment.location"
    assert info.value.source == "inline.yaml"


def test_replace_revalidates() -> None:
    spec = SouthboundSpec.from_dict(SEED)
    assert spec.replace(network="other-net").network == "other-net"
    with pytest.raises(ValidationError):
        spec.replace(region="nowhere")


def test_spec_is_frozen_and_hashable() -> None:
    spec = SouthboundSpec.from_dict(SEED)
    with pytest.raises(AttributeError):
        spec.region = "us-east1"  # type: ignore[misc]
    assert hash(spec) == hash(SouthboundSpec.from_dict(SEED))


def test_equality_ignores_source() -> None:
    assert SouthboundSpec.from_dict(SEED, source="a.yaml") == SouthboundSpec.from_dict(SEED)


def test_to_dict_writes_non_default_extras_only() -> None:
    d = seed(
        service_attachment__connection_preference="ACCEPT_MANUAL",
        service_attachment__connection_limit=3,
    )
    out = SouthboundSpec.from_dict(d).to_dict()["service_attachment"]
    assert out == {
        "name": "gkebackend",
        "connection_preference": "ACCEPT_MANUAL",
        "accept_projects": [],
        "connection_limit": 3,
    }


# --------------------------------------------------------------------------- properties

_name = st.from_regex(r"[a-z]([-a-z0-9]{0,20}[a-z0-9])?", fullmatch=True)
_ea_name = st.from_regex(r"[a-z][-a-z0-9]{0,20}[a-z0-9]", fullmatch=True)
_project = st.from_regex(r"[a-z][-a-z0-9]{4,20}[a-z0-9]", fullmatch=True)
_region = st.sampled_from(["us-west1", "us-central1", "europe-west4", "asia-southeast1"])
_label = st.from_regex(r"[a-z]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)


@st.composite
def _nat_range(draw: st.DrawFn) -> str:
    prefix = draw(st.integers(16, 29))
    base = draw(st.sampled_from(["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]))
    parent = ipaddress.IPv4Network(base)
    if prefix < parent.prefixlen:
        prefix = parent.prefixlen
    count = 2 ** (prefix - parent.prefixlen)
    index = draw(st.integers(0, count - 1))
    address = int(parent.network_address) + index * 2 ** (32 - prefix)
    return str(ipaddress.IPv4Network((address, prefix)))


@st.composite
def spec_dicts(draw: st.DrawFn) -> dict[str, Any]:
    region = draw(_region)
    manual = draw(st.booleans())
    d: dict[str, Any] = {
        "organization": draw(_name),
        "project": draw(_project),
        "region": region,
        "network": draw(_name),
        "forwarding_rule": draw(_name),
        "nat_subnet": {"name": draw(_name), "range": draw(_nat_range())},
        "service_attachment": {
            "name": draw(_name),
            "connection_preference": "ACCEPT_MANUAL" if manual else "ACCEPT_AUTOMATIC",
            "accept_projects": (draw(st.lists(_project, max_size=3, unique=True)) if manual else []),
        },
        "endpoint_attachment": {"name": draw(_ea_name)},
    }
    if draw(st.booleans()):
        d["forwarding_rule"] = f"projects/{draw(_project)}/regions/{region}/forwardingRules/{draw(_name)}"
    if draw(st.booleans()):
        # the default (10) is left out of to_dict(), so an explicit 10 would not round-trip as given
        d["service_attachment"]["connection_limit"] = draw(st.integers(1, 10_000).filter(lambda n: n != 10))
    if draw(st.booleans()):
        d["firewall"] = {
            "name": draw(_name),
            "ports": draw(st.lists(st.integers(1, 65535), min_size=1, max_size=5, unique=True)),
            "target_tags": draw(st.lists(_name, max_size=3, unique=True)),
        }
    if draw(st.booleans()):
        domain = ".".join(draw(st.lists(_label, min_size=1, max_size=3))) + "."
        dns: dict[str, Any] = {"zone": {"name": draw(_name), "domain": domain}}
        if draw(st.booleans()):
            dns["managed_zone"] = draw(_name)
            dns["record"] = f"{draw(_label)}.{domain}"
        d["dns"] = dns
    if draw(st.booleans()):
        d["target"] = {"path": "/" + draw(st.from_regex(r"[a-z0-9/_.-]{0,20}", fullmatch=True))}
    return d


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(spec_dicts())
def test_from_dict_any_valid_spec_round_trips(d: dict[str, Any]) -> None:
    spec = SouthboundSpec.from_dict(d)
    assert spec.to_dict() == d
    assert SouthboundSpec.from_dict(spec.to_dict()) == spec
    assert spec.service_attachment_path.endswith("/serviceAttachments/" + spec.service_attachment.name)


@given(st.integers(0, 32).filter(lambda p: not 16 <= p <= 29))
def test_from_dict_nat_prefix_outside_16_29_rejected(prefix: int) -> None:
    network = ipaddress.IPv4Network(("10.0.0.0", prefix), strict=False)
    err = error_of(seed(nat_subnet__range=str(network)))
    assert err.field == "nat_subnet.range"


@given(st.integers(16, 29))
def test_from_dict_nat_prefix_inside_16_29_accepted(prefix: int) -> None:
    network = ipaddress.IPv4Network(("10.100.0.0", prefix), strict=False)
    spec = SouthboundSpec.from_dict(seed(nat_subnet__range=str(network)))
    assert spec.nat_subnet.ip_network.prefixlen == prefix


@given(st.integers().filter(lambda p: not 1 <= p <= 65535))
def test_from_dict_port_out_of_range_rejected(port: int) -> None:
    assert error_of(seed(firewall__ports=[80, port])).field == "firewall.ports[1]"


@given(
    st.from_regex(r"[a-z_]{1,20}", fullmatch=True).filter(
        lambda k: k not in SEED and k not in {"firewall", "dns", "target"}
    )
)
def test_from_dict_any_unknown_top_level_key_named(key: str) -> None:
    d = seed()
    d[key] = "x"
    err = error_of(d)
    assert err.field == key
    assert "unknown key" in err.rule


# --------------------------------------------------------------------------- every problem at once


def test_every_problem_of_a_spec_is_reported_at_once_in_the_files_order() -> None:
    d = copy.deepcopy(SEED)
    d["project"] = "BAD"
    d["colour"] = "blue"
    del d["network"]
    d["nat_subnet"]["range"] = "10.0.0.0/99"
    d["service_attachment"]["connection_preference"] = "MAYBE"
    d["service_attachment"]["acept_projects"] = ["x"]
    d["dns"]["zone"] = {"name": "my-zone"}  # domain missing
    with pytest.raises(ValidationError) as caught:
        SouthboundSpec.from_dict(d, source=SOURCE)
    error = caught.value
    fields = [p.field for p in error.problems]
    assert fields == [
        "colour",
        "network",
        "project",
        "nat_subnet.range",
        "service_attachment.acept_projects",
        "service_attachment.connection_preference",
        "dns.zone.domain",
    ]
    assert all(p.source == SOURCE for p in error.problems)
    assert "did you mean 'accept_projects'?" in error.problems[4].rule
    lines = str(error).splitlines()
    assert lines[0] == f"{SOURCE}: 7 problems:" and len(lines) == 8
    assert (error.field, error.value) == ("colour", "colour")  # the first problem's, as before
    assert [item["field"] for item in error.to_dict()] == fields


def test_a_single_problem_keeps_its_one_line_message() -> None:
    d = copy.deepcopy(SEED)
    d["region"] = "us-west1-a"
    with pytest.raises(ValidationError) as caught:
        SouthboundSpec.from_dict(d, source=SOURCE)
    assert caught.value.problems == (caught.value,)
    assert str(caught.value).startswith(f"{SOURCE}: region: 'us-west1-a' is invalid:")
    assert "\n" not in str(caught.value)


def test_problems_are_found_in_every_section_even_when_the_top_level_misses_keys() -> None:
    d = {"region": "nowhere", "nat_subnet": {"range": "10.100.0.0/28"}, "endpoint_attachment": {"name": "E"}}
    with pytest.raises(ValidationError) as caught:
        SouthboundSpec.from_dict(d)
    fields = {p.field for p in caught.value.problems}
    assert {"organization", "project", "network", "forwarding_rule", "service_attachment"} <= fields
    assert {"region", "nat_subnet.name", "endpoint_attachment.name"} <= fields


def test_a_cross_field_rule_is_checked_once_each_field_is_valid() -> None:
    d = copy.deepcopy(SEED)
    d["forwarding_rule"] = "projects/my-project/regions/europe-west4/forwardingRules/fr-ilb"
    with pytest.raises(ValidationError, match="in the spec's region us-west1") as caught:
        SouthboundSpec.from_dict(d)
    assert len(caught.value.problems) == 1


def test_target_scheme_port_and_tls_round_trip_and_render() -> None:
    target = {
        "path": "/v2/payments",
        "scheme": "https",
        "port": 8443,
        "tls": {"enforce": True, "trust_store": "ref://ts", "protocols": ["TLSv1.3"]},
    }
    spec = SouthboundSpec.from_dict(seed(target=target))
    assert spec.target == TargetSpec(
        "/v2/payments", "https", 8443, TlsSpec(enforce=True, trust_store="ref://ts", protocols=("TLSv1.3",))
    )
    assert spec.to_dict()["target"] == target
    assert SouthboundSpec.from_dict(spec.to_dict()) == spec
    assert spec.target_url() == "https://orders.example.com:8443/v2/payments"  # the DNS name, when set
    xml = spec.target_xml()
    assert "<URL>https://orders.example.com:8443/v2/payments</URL>" in xml
    assert "<Enforce>true</Enforce>" in xml and "<TrustStore>ref://ts</TrustStore>" in xml
    no_dns = SouthboundSpec.from_dict(seed(target=target, dns=DELETE))
    assert no_dns.target_url("7.0.3.4") == "https://7.0.3.4:8443/v2/payments"
    with pytest.raises(ValidationError) as caught:
        no_dns.target_url()
    assert caught.value.field == "host"


@pytest.mark.parametrize(
    ("target", "fields"),
    [
        ({"scheme": "ftp"}, ["target.scheme"]),
        ({"port": "8443"}, ["target.port"]),
        ({"port": 0}, ["target.port"]),
        ({"tls": {"enforce": True}}, ["target.tls"]),  # TLS options need https
        ({"scheme": "https", "tls": {"protocols": ["TLSv1.1"]}}, ["target.tls.protocols[0]"]),
        ({"scheme": "https", "tls": {"key_store": "ref://ks"}}, ["target.tls.key_alias"]),
        ({"scheme": "https", "tls": {"enforce": "yes"}}, ["target.tls.enforce"]),
        ({"scheme": "https", "tls": {"trust_store": "my store"}}, ["target.tls.trust_store"]),
        ({"scheme": "https", "tls": {"comon_name": "x.example.com"}}, ["target.tls.comon_name"]),
        ({"scheme": "https", "tls": {"common_name": "bad name"}}, ["target.tls.common_name"]),
    ],
)
def test_target_scheme_port_and_tls_refused(target: dict[str, Any], fields: list[str]) -> None:
    with pytest.raises(ValidationError) as caught:
        SouthboundSpec.from_dict(seed(target=target))
    assert [p.field for p in caught.value.problems] == fields
