"""Declarative southbound connections: the spec (desired state), plans and the engine.

Names are resolved lazily (PEP 562) so importing this package stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from apigee_psc import _lazy

if TYPE_CHECKING:
    from apigee_psc.southbound.conditions import SpecState, WatchEvent
    from apigee_psc.southbound.engine import Southbound
    from apigee_psc.southbound.fleet import FleetResult, apply_fleet
    from apigee_psc.southbound.plan import Action, Change, DestroyPlan, FieldDiff, Plan, Problem
    from apigee_psc.southbound.reports import (
        DestroyReport,
        EntityStatus,
        ProgressEvent,
        Realization,
        RealizationReport,
    )
    from apigee_psc.southbound.resources.base import PlanRefused, PlanStale
    from apigee_psc.southbound.resources.endpoint_attachment import diagnose_attachment
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
    from apigee_psc.southbound.watch import Watcher

__all__ = [
    "Action",
    "Change",
    "DestroyPlan",
    "DestroyReport",
    "DnsSpec",
    "DnsZoneSpec",
    "EndpointAttachmentSpec",
    "EntityStatus",
    "FieldDiff",
    "FirewallSpec",
    "FleetResult",
    "NatSubnetSpec",
    "Plan",
    "PlanRefused",
    "PlanStale",
    "Problem",
    "ProgressEvent",
    "Realization",
    "RealizationReport",
    "ServiceAttachmentSpec",
    "Southbound",
    "SouthboundSpec",
    "SpecState",
    "TargetSpec",
    "TlsSpec",
    "WatchEvent",
    "Watcher",
    "apply_fleet",
    "diagnose_attachment",
]

_HOMES = {
    "Southbound": "apigee_psc.southbound.engine",
    "FleetResult": "apigee_psc.southbound.fleet",
    "apply_fleet": "apigee_psc.southbound.fleet",
    "PlanRefused": "apigee_psc.southbound.resources.base",
    "PlanStale": "apigee_psc.southbound.resources.base",
    "diagnose_attachment": "apigee_psc.southbound.resources.endpoint_attachment",
}
_MODULES = {
    "apigee_psc.southbound.plan": ("Action", "Change", "DestroyPlan", "FieldDiff", "Plan", "Problem"),
    "apigee_psc.southbound.reports": (
        "DestroyReport",
        "EntityStatus",
        "ProgressEvent",
        "Realization",
        "RealizationReport",
    ),
    "apigee_psc.southbound.conditions": ("SpecState", "WatchEvent"),
    "apigee_psc.southbound.watch": ("Watcher",),
}
#: Each public name -> the module it lives in (the spec's names are the rest).
_LAZY = {
    name: _HOMES.get(name)
    or next((module for module, names in _MODULES.items() if name in names), "apigee_psc.southbound.spec")
    for name in __all__
}


def __getattr__(name: str) -> Any:
    return _lazy.load(globals(), _LAZY, name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
