"""The TargetEndpoint snippet that sends an API proxy's traffic through the endpoint attachment."""

from __future__ import annotations

import ipaddress
import re
import xml.etree.ElementTree as ET

from apigee_psc.errors import ValidationError

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
) -> str:
    """Render ``<TargetEndpoint name="default"><HTTPTargetConnection><URL>...`` for ``host``.

    ``host`` is the endpoint attachment's host IP (``7.0.3.4``) or a DNS name that resolves
    to it (``orders.example.com``). Special characters in the path and name are escaped.
    """
    root = ET.Element("TargetEndpoint", {"name": name})
    connection = ET.SubElement(root, "HTTPTargetConnection")
    url = ET.SubElement(connection, "URL")
    url.text = target_url(host, path, scheme=scheme, port=port)
    ET.indent(root, space="    ")
    return ET.tostring(root, encoding="unicode") + "\n"
