"""Applying several specs at once."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from apigee_psc import errors
from apigee_psc.progress import or_notebook_display
from apigee_psc.southbound.plan import Plan
from apigee_psc.southbound.reports import RealizationReport as Report
from apigee_psc.southbound.runner import ProgressCallback
from apigee_psc.southbound.spec import SouthboundSpec

__all__ = ["FleetResult", "apply_fleet"]

logger = logging.getLogger("apigee_psc.southbound")


@dataclass(frozen=True)
class FleetResult:
    """The outcome of one spec of a fleet: its report, or the error that stopped it."""

    spec: SouthboundSpec
    report: Report | None = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        """True when the connection is in sync."""
        return self.report is not None and self.report.ok


def apply_fleet(
    specs: Sequence[SouthboundSpec],
    *,
    progress: ProgressCallback | None = None,
    max_workers: int = 4,
    cancel: threading.Event | None = None,
    plans: Sequence[Plan | None] | None = None,
    **options: Any,
) -> list[FleetResult]:
    """Apply several specs at once: Compute steps run concurrently across specs, and each
    spec's Apigee operation starts as soon as its own service attachment exists (one at a time
    per organization). Every spec is attempted; results come back in the order of ``specs``.

    ``cancel`` stops every spec's apply at its next safe point (each result then holds
    :class:`~apigee_psc.errors.Cancelled`); an interrupt of the calling thread does the same.

    ``plans``, parallel to ``specs``, are the plans to apply (e.g. the ones a person confirmed):
    each spec's apply uses its plan's reads and re-reads only what it changes, exactly as
    ``Southbound.apply(plan=...)`` does, so a plan whose resources changed since is refused
    for that spec (:class:`PlanStale` in its result) with nothing written. Without ``plans``
    (or where an entry is ``None``) each spec is planned afresh."""

    from apigee_psc.southbound.engine import Southbound

    chosen: list[Plan | None] = list(plans) if plans is not None else [None] * len(specs)
    if len(chosen) != len(specs):
        raise errors.ValidationError("plans", len(chosen), f"one plan per spec ({len(specs)}), in the same order")
    event = cancel if cancel is not None else threading.Event()
    progress = or_notebook_display(progress)  # one table for the whole fleet in a notebook

    def one(spec: SouthboundSpec, plan: Plan | None) -> FleetResult:
        try:
            report = Southbound(spec, **options).apply(progress=progress, cancel=event, plan=plan)
            return FleetResult(spec, report=report)
        except errors.ApigeePscError as exc:
            # Debug only: the caller reports each failure once, from FleetResult.error.
            logger.debug("apply: %s failed: %s", spec.source or spec.endpoint_attachment.name, exc)
            return FleetResult(spec, error=exc)

    with ThreadPoolExecutor(max_workers=max(1, max_workers), thread_name_prefix="apigee-psc-fleet") as pool:
        futures = [pool.submit(one, spec, plan) for spec, plan in zip(specs, chosen, strict=True)]
        try:
            return [future.result() for future in futures]
        except BaseException:  # Ctrl-C or SIGTERM here: the specs' applies stop too
            event.set()
            raise
