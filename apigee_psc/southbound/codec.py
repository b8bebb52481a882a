"""JSON for the live and wanted objects a plan carries, so that a plan can be saved and applied later.

:func:`encode` turns this library's frozen dataclasses (a :class:`~apigee_psc.compute.ServiceAttachment`,
an :class:`~apigee_psc.models.EndpointAttachment`, a DNS record set, ...) into JSON objects tagged
with ``"@type"``; :func:`decode` builds them again. Only the types listed here can be
decoded: a plan file names data, never code.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from functools import cache
from typing import Any

from apigee_psc.errors import ValidationError

__all__ = ["decode", "encode"]

TYPE_KEY = "@type"


@cache
def _types() -> dict[str, type[Any]]:
    from apigee_psc import cloud, models
    from apigee_psc.compute import models as compute
    from apigee_psc.southbound import live

    classes: list[type[Any]] = [
        compute.Subnet,
        compute.Firewall,
        compute.FirewallAllowed,
        compute.ForwardingRule,
        compute.ServiceAttachment,
        compute.ConsumerProjectLimit,
        compute.ConnectedEndpoint,
        models.EndpointAttachment,
        models.DnsZone,
        models.Operation,
        models.OperationError,
        cloud.RecordSet,
        cloud.ManagedZone,
        cloud.PeeredDnsDomain,
        live.Grant,
        live.OrgInfo,
        live.ServiceAttachmentTarget,
    ]
    return {cls.__name__: cls for cls in classes}


def encode(value: object) -> Any:
    """``value`` as JSON-ready data: dataclasses become objects tagged with ``@type``."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        data: dict[str, Any] = {TYPE_KEY: type(value).__name__}
        for item in dataclasses.fields(value):
            data[item.name] = encode(getattr(value, item.name))
        return data
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(key): encode(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(item) for item in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"cannot encode {type(value).__name__} in a plan")


def decode(data: Any, *, where: str = "plan") -> Any:
    """The object :func:`encode` made ``data`` from; lists in dataclass fields become tuples.
    An unknown ``@type`` is a :class:`~apigee_psc.errors.ValidationError`."""
    if isinstance(data, Mapping):
        tag = data.get(TYPE_KEY)
        if tag is None:
            return {str(key): decode(item, where=where) for key, item in data.items()}
        cls = _types().get(str(tag))
        if cls is None:
            raise ValidationError(f"{where}.{TYPE_KEY}", tag, f"one of {', '.join(sorted(_types()))}")
        known = {item.name for item in dataclasses.fields(cls)}
        fields = {key: _field(decode(item, where=where)) for key, item in data.items() if key in known}
        try:
            return cls(**fields)
        except (TypeError, ValidationError) as exc:
            raise ValidationError(where, tag, f"a valid {tag} ({exc})") from None
    if isinstance(data, list):
        return [decode(item, where=where) for item in data]
    return data


def _field(value: Any) -> Any:
    return tuple(_field(item) for item in value) if isinstance(value, list) else value
