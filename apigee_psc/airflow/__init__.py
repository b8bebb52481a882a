"""apigee-psc for Apache Airflow: a hook, operators (apply, destroy, status), a sensor and a
deferrable trigger (``pip install 'apigee-psc[airflow]'``; docs/airflow.md).

Names are loaded on first use, so ``import apigee_psc.airflow`` imports Airflow only when one
of them is used (and ``import apigee_psc`` never does).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from apigee_psc import _lazy

if TYPE_CHECKING:
    from apigee_psc.airflow.hooks import ApigeePscHook
    from apigee_psc.airflow.operators import ApigeePscApplyOperator, ApigeePscDestroyOperator, ApigeePscStatusOperator
    from apigee_psc.airflow.sensors import ApigeeEndpointAttachmentSensor
    from apigee_psc.airflow.triggers import ApigeePscWaitTrigger

__all__ = [
    "ApigeeEndpointAttachmentSensor",
    "ApigeePscApplyOperator",
    "ApigeePscDestroyOperator",
    "ApigeePscHook",
    "ApigeePscStatusOperator",
    "ApigeePscWaitTrigger",
]

_LAZY = {
    "ApigeeEndpointAttachmentSensor": "apigee_psc.airflow.sensors",
    "ApigeePscApplyOperator": "apigee_psc.airflow.operators",
    "ApigeePscDestroyOperator": "apigee_psc.airflow.operators",
    "ApigeePscHook": "apigee_psc.airflow.hooks",
    "ApigeePscStatusOperator": "apigee_psc.airflow.operators",
    "ApigeePscWaitTrigger": "apigee_psc.airflow.triggers",
}


def __getattr__(name: str) -> Any:
    return _lazy.load(globals(), _LAZY, name)


def __dir__() -> list[str]:
    return sorted(__all__)
