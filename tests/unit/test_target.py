"""TargetEndpoint XML: built with ElementTree, parses back, escapes, and refuses bad hosts."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from apigee_psc.errors import ValidationError
from apigee_psc.southbound.spec import TlsSpec
from apigee_psc.target import target_endpoint_xml, target_url


def _url_of(xml: str) -> str:
    root = ET.fromstring(xml)
    assert root.tag == "TargetEndpoint"
    url = root.find("./HTTPTargetConnection/URL")
    assert url is not None and url.text is not None
    return url.text


def test_target_endpoint_xml_seed_ip_snippet() -> None:
    xml = target_endpoint_xml("7.0.3.4", path="/orders")
    assert xml == (
        '<TargetEndpoint name="default">\n'
        "    <HTTPTargetConnection>\n"
        "        <URL>http://7.0.3.4/orders</URL>\n"
        "    </HTTPTargetConnection>\n"
        "</TargetEndpoint>\n"
    )
    assert ET.fromstring(xml).attrib == {"name": "default"}


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("7.0.3.4", "http://7.0.3.4/orders"),
        ("orders.example.com", "http://orders.example.com/orders"),
        ("orders.example.com.", "http://orders.example.com/orders"),
        ("my-private-dns-zone.example.com", "http://my-private-dns-zone.example.com/orders"),
        ("2001:db8::1", "http://[2001:db8::1]/orders"),
        ("[2001:db8::1]", "http://[2001:db8::1]/orders"),
        ("localhost", "http://localhost/orders"),
    ],
)
def test_target_endpoint_xml_host_forms_parse_back(host: str, url: str) -> None:
    assert _url_of(target_endpoint_xml(host, path="/orders")) == url


def test_target_endpoint_xml_special_characters_escaped() -> None:
    xml = target_endpoint_xml("7.0.3.4", path="/orders?a=1&b=<2>", name='x"&<y>')
    assert "&amp;" in xml and "&lt;" in xml and "<2>" not in xml
    root = ET.fromstring(xml)
    assert root.attrib["name"] == 'x"&<y>'
    assert _url_of(xml) == "http://7.0.3.4/orders?a=1&b=<2>"


def test_target_url_options() -> None:
    assert target_url("7.0.3.4", "orders") == "http://7.0.3.4/orders"
    assert target_url("7.0.3.4", "/", scheme="https", port=8443) == "https://7.0.3.4:8443/"
    assert target_url("::1", "/x", port=80) == "http://[::1]:80/x"


@pytest.mark.parametrize(
    "host",
    [
        "",
        "bad host",
        "under_score.example.com",
        "-lead.example.com",
        "trail-.example.com",
        "a..b",
        "x" * 64 + ".com",
        "host\n",
        "10.0.1",
        "300.1.1.1",
        "http://7.0.3.4",
        "7.0.3.4/orders",
    ],
)
def test_target_url_invalid_host_refused(host: str) -> None:
    with pytest.raises(ValidationError) as info:
        target_endpoint_xml(host, path="/orders")
    assert info.value.field == "host"
    assert info.value.value == host


@pytest.mark.parametrize(
    ("kwargs", "field"), [({"scheme": "ftp"}, "scheme"), ({"port": 0}, "port"), ({"port": 70000}, "port")]
)
def test_target_url_invalid_scheme_or_port_refused(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        target_url("7.0.3.4", "/", **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


def test_https_target_gets_ssl_info_with_the_options_set() -> None:
    tls = TlsSpec(
        enforce=True,
        trust_store="ref://backend-ts",
        key_store="ref://client-ks",
        key_alias="client",
        protocols=("TLSv1.2", "TLSv1.3"),
        ciphers=("TLS_AES_128_GCM_SHA256",),
        common_name="*.internal.example.com",
    )
    xml = target_endpoint_xml("7.0.3.4", "/v2", scheme="https", port=8443, tls=tls)
    assert _url_of(xml) == "https://7.0.3.4:8443/v2"
    info = ET.fromstring(xml).find("./HTTPTargetConnection/SSLInfo")
    assert info is not None
    assert [child.tag for child in info] == [
        "Enabled", "Enforce", "ClientAuthEnabled", "KeyStore", "KeyAlias", "TrustStore", "Protocols", "Ciphers",
        "CommonName",
    ]  # fmt: skip
    assert (info.findtext("Enabled"), info.findtext("Enforce"), info.findtext("ClientAuthEnabled")) == (
        "true",
        "true",
        "true",
    )
    assert [p.text for p in info.iterfind("Protocols/Protocol")] == ["TLSv1.2", "TLSv1.3"]
    assert [c.text for c in info.iterfind("Ciphers/Cipher")] == ["TLS_AES_128_GCM_SHA256"]
    common = info.find("CommonName")
    assert common is not None and common.get("wildcardMatch") == "true"
    assert info.find("IgnoreValidationErrors") is None  # unset: Apigee's default holds


def test_https_without_options_only_enables_ssl_and_http_has_none() -> None:
    info = ET.fromstring(target_endpoint_xml("orders.example.com", scheme="https")).find(".//SSLInfo")
    assert info is not None and [(c.tag, c.text) for c in info] == [("Enabled", "true")]
    assert ET.fromstring(target_endpoint_xml("orders.example.com")).find(".//SSLInfo") is None
    with pytest.raises(ValidationError) as caught:
        target_endpoint_xml("orders.example.com", scheme="http", tls=TlsSpec(enforce=True))
    assert caught.value.field == "tls"
