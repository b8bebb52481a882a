"""The TargetEndpoint snippet that sends an API proxy's traffic through the endpoint attachment."""

from __future__ import annotations

import ipaddress
import re
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from apigee_psc.errors import ValidationError

if TYPE_CHECKING:
    from apigee_psc.southbound.spec import TlsSpec

__all__ = ["target_endpoint_xml", "target_url"]

_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$")


def target_url(host: str, path: str = "/", *, scheme: str = "http", port: int | None = None) -> str:
    """``scheme://host[:port]/path`` for an IP address or a DNS name (a trailing dot is dropped)."""
    if not isinstance(host, str) or not host:
        raise ValidationError("host", host, "an IP address or a DNS name")
    name = host[:-1] if host.endswith(".") else host
    try:
        address = ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        # fullmatch (``$`` would accept a trailing newline); an all-numeric last label is
        # a mistyped address such as 10.0.1, not a host name (RFC 3696 section 2).
        if not _HOSTNAME.fullmatch(name) or name.rsplit(".", 1)[-1].isdigit():
            raise ValidationError("host", host, "an IP address or a DNS name") from None
        authority = name
    else:
        authority = f"[{address}]" if address.version == 6 else str(address)
    if scheme not in {"http", "https"}:
        raise ValidationError("scheme", scheme, "http or https")
    if port is not None:
        if not 1 <= port <= 65535:
            raise ValidationError("port", port, "a port from 1 to 65535")
        authority = f"{authority}:{port}"
    if not path.startswith("/"):
        path = "/" + path
    return f"{scheme}://{authority}{path}"


def target_endpoint_xml(
    host: str,
    path: str = "/",
    *,
    name: str = "default",
    scheme: str = "http",
    port: int | None = None,
    tls: TlsSpec | None = None,
) -> str:
    """Render ``<TargetEndpoint name="default"><HTTPTargetConnection><URL>...`` for ``host``.

    ``host`` is the endpoint attachment's host IP (``7.0.3.4``) or a DNS name that resolves
    to it (``orders.example.com``). An ``https`` target gets an ``<SSLInfo>`` block:
    ``<Enabled>true</Enabled>`` and the options of ``tls`` that are set (see
    :class:`~apigee_psc.southbound.spec.TlsSpec`). Special characters are escaped.
    """
    if tls is not None and scheme != "https":
        raise ValidationError("tls", scheme, "TLS options only with scheme https")
    root = ET.Element("TargetEndpoint", {"name": name})
    connection = ET.SubElement(root, "HTTPTargetConnection")
    url = ET.SubElement(connection, "URL")
    url.text = target_url(host, path, scheme=scheme, port=port)
    if scheme == "https":
        _ssl_info(connection, tls)
    ET.indent(root, space="    ")
    return ET.tostring(root, encoding="unicode") + "\n"


def _ssl_info(connection: ET.Element, tls: TlsSpec | None) -> None:
    """``<SSLInfo>`` with the element names of Apigee's TargetEndpoint configuration."""
    info = ET.SubElement(connection, "SSLInfo")

    def text(tag: str, value: object) -> None:
        element = ET.SubElement(info, tag)
        element.text = str(value).lower() if isinstance(value, bool) else str(value)

    text("Enabled", True)
    if tls is None:
        return
    if tls.enforce is not None:
        text("Enforce", tls.enforce)
    if tls.key_store is not None:
        text("ClientAuthEnabled", True)
        text("KeyStore", tls.key_store)
        text("KeyAlias", tls.key_alias)
    if tls.trust_store is not None:
        text("TrustStore", tls.trust_store)
    if tls.ignore_validation_errors is not None:
        text("IgnoreValidationErrors", tls.ignore_validation_errors)
    for many, one, values in (("Protocols", "Protocol", tls.protocols), ("Ciphers", "Cipher", tls.ciphers)):
        if values:
            group = ET.SubElement(info, many)
            for value in values:
                ET.SubElement(group, one).text = value
    if tls.common_name is not None:
        common = ET.SubElement(info, "CommonName")
        common.text = tls.common_name
        if tls.common_name.startswith("*."):
            common.set("wildcardMatch", "true")
