"""Validation rules, property-tested: generated valid names are accepted, and for arbitrary
text each validator agrees with an independent oracle written here without regular expressions."""

from __future__ import annotations

import ipaddress
import string

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from apigee_psc import names
from apigee_psc.errors import ValidationError

LOWER = set(string.ascii_lowercase)
DIGITS = set(string.digits)
NAME_CHARS = LOWER | DIGITS | {"-"}

# Text drawn mostly from the interesting alphabet, with some noise (upper case, dots, newlines, unicode).
name_like = st.text(
    alphabet=st.sampled_from([*sorted(NAME_CHARS), "A", "Z", "_", ".", " ", "\n", "é", "/"]), max_size=70
)


def _oracle_label(value: str, *, min_len: int, max_len: int, last_may_be_digit: bool = True) -> bool:
    if not min_len <= len(value) <= max_len:
        return False
    if value[0] not in LOWER:
        return False
    if any(c not in NAME_CHARS for c in value):
        return False
    last = value[-1]
    return last in LOWER or (last_may_be_digit and last in DIGITS)


def oracle_endpoint_attachment_id(value: str) -> bool:
    """A lowercase letter, then up to 31 lowercase letters/digits/hyphens, no trailing hyphen, >= 2."""
    return _oracle_label(value, min_len=2, max_len=32)


def oracle_dns_zone_id(value: str) -> bool:
    """1-63 chars, begins with a letter, ends with a letter or digit, lowercase letters/digits/dashes."""
    return _oracle_label(value, min_len=1, max_len=63)


def oracle_compute_name(value: str) -> bool:
    """RFC 1035: 1-63, a lowercase letter first, not ending with a hyphen."""
    return _oracle_label(value, min_len=1, max_len=63)


def _accepts(validator: object, value: object) -> bool:
    assert callable(validator)
    try:
        validator(value)
    except ValidationError:
        return False
    return True


# -- endpoint attachment ids ------------------------------------------------------------------


@given(st.from_regex(r"[a-z][a-z0-9-]{0,30}[a-z0-9]", fullmatch=True))
def test_validate_endpoint_attachment_id_generated_valid_accepted(value: str) -> None:
    assert names.validate_endpoint_attachment_id(value) == value


@given(name_like)
@example("gkebackend\n")
@example("a")
@example("ab")
@example("a-")
@example("a" * 32)
@example("a" * 33)
@example("1ab")
@example("-ab")
@settings(max_examples=400)
def test_validate_endpoint_attachment_id_arbitrary_text_agrees_with_oracle(value: str) -> None:
    assert _accepts(names.validate_endpoint_attachment_id, value) is oracle_endpoint_attachment_id(value)


@pytest.mark.parametrize("value", ["gkebackend", "ab", "a1", "a-b", "a" * 32])
def test_validate_endpoint_attachment_id_examples_accepted(value: str) -> None:
    assert names.validate_endpoint_attachment_id(value) == value


@pytest.mark.parametrize("value", ["a", "a-", "Gke", "gke_backend", "1gke", "-gke", "a" * 33, "gke\n", "", None, 12])
def test_validate_endpoint_attachment_id_bad_value_names_field_value_rule(value: object) -> None:
    with pytest.raises(ValidationError) as info:
        names.validate_endpoint_attachment_id(value, "endpoint_attachment.name")
    err = info.value
    assert err.field == "endpoint_attachment.name"
    assert err.value == value
    assert err.rule == names.ENDPOINT_ATTACHMENT_ID_RULE
    assert "endpoint_attachment.name" in str(err) and repr(value) in str(err)


# -- dns zone ids and compute names ---------------------------------------------------------------


@given(st.from_regex(r"[a-z]([a-z0-9-]{0,61}[a-z0-9])?", fullmatch=True))
def test_validate_dns_zone_id_generated_valid_accepted(value: str) -> None:
    assert names.validate_dns_zone_id(value) == value


@given(name_like)
@example("z")
@example("z" * 63)
@example("z" * 64)
@example("zone-")
@example("zone\n")
@settings(max_examples=300)
def test_validate_dns_zone_id_arbitrary_text_agrees_with_oracle(value: str) -> None:
    assert _accepts(names.validate_dns_zone_id, value) is oracle_dns_zone_id(value)


@given(st.from_regex(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?", fullmatch=True))
def test_validate_compute_name_generated_valid_accepted(value: str) -> None:
    assert names.validate_compute_name(value) == value


@given(name_like)
@example("psc-subnet")
@example("psc-subnet-")
@example("x" * 64)
@settings(max_examples=300)
def test_validate_compute_name_arbitrary_text_agrees_with_oracle(value: str) -> None:
    assert _accepts(names.validate_compute_name, value) is oracle_compute_name(value)


# -- service attachment references --------------------------------------------------------------


SA = "projects/my-project/regions/us-west1/serviceAttachments/gkebackend"


@pytest.mark.parametrize(
    "value",
    [
        SA,
        f"https://www.googleapis.com/compute/v1/{SA}",
        f"https://compute.googleapis.com/compute/v1/{SA}",
        f"https://compute.googleapis.com/compute/beta/{SA}",
    ],
)
def test_validate_service_attachment_relative_and_url_normalised(value: str) -> None:
    assert names.validate_service_attachment(value) == SA
    assert names.parse_service_attachment(value) == ("my-project", "us-west1", "gkebackend")


@pytest.mark.parametrize(
    "value",
    [
        "projects/my-project/regions/us-west1/serviceAttachment/gkebackend",
        "projects/my-project/zones/us-west1-a/serviceAttachments/gkebackend",
        f"{SA}/extra",
        f"{SA}\n",
        "projects/MY-PROJECT/regions/us-west1/serviceAttachments/gkebackend",
        "projects/my-project/regions/us-west1-a/serviceAttachments/gkebackend",
        "projects/my-project/regions/us-west1/serviceAttachments/Gke",
        f"http://compute.googleapis.com/compute/v1/{SA}",
        f"https://evil.example.com/compute/v1/{SA}",
        "gkebackend",
        "",
        None,
    ],
)
def test_validate_service_attachment_malformed_refused(value: object) -> None:
    with pytest.raises(ValidationError) as info:
        names.validate_service_attachment(value)
    assert info.value.field.startswith("service_attachment")


@given(
    st.from_regex(r"[a-z][a-z0-9-]{4,28}[a-z0-9]", fullmatch=True),
    st.sampled_from(["us-west1", "europe-west4", "asia-southeast1", "northamerica-northeast2"]),
    st.from_regex(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?", fullmatch=True),
)
def test_parse_service_attachment_round_trips(project: str, region: str, name: str) -> None:
    path = names.service_attachment_path(project, region, name)
    assert names.parse_service_attachment(path) == (project, region, name)
    assert names.validate_service_attachment(f"https://compute.googleapis.com/compute/v1/{path}") == path


# -- regions, projects, organizations ------------------------------------------------------------------


@pytest.mark.parametrize("value", ["us-west1", "europe-west4", "us-central1", "northamerica-northeast1", "me-central2"])
def test_validate_region_real_regions_accepted(value: str) -> None:
    assert names.validate_region(value) == value


@pytest.mark.parametrize("value", ["us-west1-a", "US-WEST1", "uswest1", "us-west", "global", "us-west1\n", ""])
def test_validate_region_zones_and_junk_refused(value: str) -> None:
    with pytest.raises(ValidationError) as info:
        names.validate_region(value, "location")
    assert info.value.field == "location"
    assert "region" in info.value.rule


@pytest.mark.parametrize("value", ["my-project", "abcdef", "a" * 30, "example.com:my-project"])
def test_validate_project_id_valid_accepted(value: str) -> None:
    assert names.validate_project_id(value) == value


@pytest.mark.parametrize("value", ["abcde", "a" * 31, "my-project-", "1project", "My-project", "my_project"])
def test_validate_project_id_invalid_refused(value: str) -> None:
    with pytest.raises(ValidationError):
        names.validate_project_id(value)


def test_validate_organization_prefix_stripped() -> None:
    assert names.validate_organization("organizations/my-organization") == "my-organization"
    with pytest.raises(ValidationError):
        names.validate_organization("My Org")


# -- domains and descriptions ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["example.com.", "a.b.c.example.com.", "x1-y.example.", "com."])
def test_validate_domain_absolute_lowercase_accepted(value: str) -> None:
    assert names.validate_domain(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "example.com",
        ".",
        "Example.com.",
        "-bad.example.com.",
        "bad-.example.com.",
        "a..b.",
        "x" * 64 + ".com.",
        "ex ample.com.",
        "example.com.\n",
    ],
)
def test_validate_domain_invalid_refused(value: str) -> None:
    with pytest.raises(ValidationError) as info:
        names.validate_domain(value)
    assert "ending with a dot" in info.value.rule


def test_validate_domain_too_long_refused() -> None:
    long_name = ".".join(["a" * 63] * 4) + "."
    assert len(long_name) == 256
    with pytest.raises(ValidationError):
        names.validate_domain(long_name)


def test_validate_dns_name_inside_domain_checked() -> None:
    assert names.validate_dns_name("orders.example.com.", "example.com.") == "orders.example.com."
    assert names.validate_dns_name("example.com.", "example.com.") == "example.com."
    with pytest.raises(ValidationError) as info:
        names.validate_dns_name("orders.badexample.com.", "example.com.")
    assert "inside the domain example.com." in info.value.rule


def test_validate_description_1024_accepted_1025_refused() -> None:
    assert names.validate_description("d" * 1024) == "d" * 1024
    with pytest.raises(ValidationError) as info:
        names.validate_description("d" * 1025)
    assert info.value.field == "description"
    assert info.value.value == "<1025 characters>"
    assert "1024" in info.value.rule
    with pytest.raises(ValidationError):
        names.validate_description(None)


# -- NAT CIDRs -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("10.0.0.0/15", False),
        ("10.0.0.0/16", True),
        ("10.100.0.0/28", True),
        ("10.100.0.0/29", True),
        ("10.100.0.0/30", False),
        ("172.16.0.0/16", True),
        ("192.168.10.0/24", True),
        ("100.64.0.0/16", True),
    ],
)
def test_validate_nat_cidr_prefix_bounds(value: str, ok: bool) -> None:
    if ok:
        assert names.validate_nat_cidr(value) == ipaddress.IPv4Network(value)
    else:
        with pytest.raises(ValidationError) as info:
            names.validate_nat_cidr(value)
        assert "/16 to /29" in info.value.rule


@pytest.mark.parametrize(
    "value",
    ["8.8.8.0/24", "35.190.0.0/16", "127.0.0.0/24", "169.254.0.0/24", "0.0.0.0/16", "224.0.0.0/24", "240.0.0.0/16"],
)
def test_validate_nat_cidr_public_or_special_range_refused(value: str) -> None:
    with pytest.raises(ValidationError) as info:
        names.validate_nat_cidr(value)
    assert info.value.value == value


@pytest.mark.parametrize("value", ["10.100.0.1/28", "10.100.0.8/28", "192.168.1.1/24"])
def test_validate_nat_cidr_host_bits_set_refused(value: str) -> None:
    with pytest.raises(ValidationError) as info:
        names.validate_nat_cidr(value)
    assert "host bits" in info.value.rule


@pytest.mark.parametrize("value", ["fd00::/64", "10.0.0.0", "not-a-cidr", 10, None])
def test_validate_nat_cidr_not_ipv4_network_refused(value: object) -> None:
    with pytest.raises(ValidationError) as info:
        names.validate_nat_cidr(value, "nat_subnet.range")
    assert info.value.field == "nat_subnet.range"


@given(st.ip_addresses(v=4), st.integers(min_value=16, max_value=29))
def test_validate_nat_cidr_agrees_with_rfc1918_oracle(address: ipaddress.IPv4Address, prefix: int) -> None:
    network = ipaddress.IPv4Network(f"{address}/{prefix}", strict=False)
    private = any(
        network.subnet_of(ipaddress.IPv4Network(block))
        for block in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
    )
    assert _accepts(names.validate_nat_cidr, str(network)) is private


# -- ports -------------------------------------------------------------------------------------------------------


def test_validate_ports_valid_list_returned() -> None:
    assert names.validate_ports([80, 443, 1, 65535]) == [80, 443, 1, 65535]


@pytest.mark.parametrize(
    ("ports", "rule"),
    [
        ([0], "1 to 65535"),
        ([65536], "1 to 65535"),
        ([True], "1 to 65535"),
        (["80"], "1 to 65535"),
        ([80, 80], "each port once"),
        ([], "at least one"),
        ([1, 2, 3, 4, 5, 6], "at most 5"),
    ],
)
def test_validate_ports_invalid_refused(ports: list[object], rule: str) -> None:
    with pytest.raises(ValidationError) as info:
        names.validate_ports(ports, "firewall.ports")
    assert info.value.field == "firewall.ports"
    assert rule in info.value.rule


@given(st.lists(st.integers(min_value=-10, max_value=70000), max_size=7))
def test_validate_ports_agrees_with_oracle(ports: list[int]) -> None:
    ok = 1 <= len(ports) <= 5 and len(set(ports)) == len(ports) and all(1 <= p <= 65535 for p in ports)
    assert _accepts(names.validate_ports, ports) is ok


# -- own_name: a resource of the client's own parent --------------------------------------------------


@pytest.mark.parametrize(
    "value,expected",
    [
        ("gkebackend", "gkebackend"),
        ("organizations/my-org/endpointAttachments/gkebackend", "gkebackend"),
        ("v1/organizations/my-org/endpointAttachments/gkebackend", "gkebackend"),
        ("https://apigee.googleapis.com/v1/organizations/my-org/endpointAttachments/gkebackend", "gkebackend"),
    ],
)
def test_own_name_accepts_id_or_own_full_name(value: str, expected: str) -> None:
    got = names.own_name(
        value,
        parent="organizations/my-org",
        collection="endpointAttachments",
        validate=names.validate_endpoint_attachment_id,
        field="endpoint_attachment",
    )
    assert got == expected


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        42,
        "organizations/other-org/endpointAttachments/x",
        "organizations/my-org-2/endpointAttachments/x",
        "xorganizations/my-org/endpointAttachments/x",
        "organizations/my-org/dnsZones/x",
        "organizations/my-org/endpointAttachments/x/y",
        "organizations/my-org/endpointAttachments/",
        "UPPER",
    ],
)
def test_own_name_refuses_others_and_bad_ids(value: object) -> None:
    with pytest.raises(ValidationError) as info:
        names.own_name(
            value,
            parent="organizations/my-org",
            collection="endpointAttachments",
            validate=names.validate_endpoint_attachment_id,
            field="endpoint_attachment",
        )
    assert info.value.field == "endpoint_attachment"
