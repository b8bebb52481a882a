"""The provider's description, for Airflow's ``apache_airflow_provider`` entry point (imports no Airflow)."""

from __future__ import annotations

from typing import Any

from apigee_psc._version import __version__

__all__ = ["get_provider_info"]


def get_provider_info() -> dict[str, Any]:
    """What Airflow's providers manager reads: the package, its hooks, operators, sensors,
    triggers and connection type."""
    integration = "Apigee PSC"
    return {
        "package-name": "apigee-psc",
        "name": "Apigee PSC",
        "description": "Apigee X southbound connectivity over Private Service Connect, end to end "
        "(apply, destroy and status of specs; deferrable waits for ACTIVE and ACCEPTED).",
        "versions": [__version__],
        "integrations": [{"integration-name": integration, "tags": ["gcp"]}],
        "hooks": [{"integration-name": integration, "python-modules": ["apigee_psc.airflow.hooks"]}],
        "operators": [{"integration-name": integration, "python-modules": ["apigee_psc.airflow.operators"]}],
        "sensors": [{"integration-name": integration, "python-modules": ["apigee_psc.airflow.sensors"]}],
        "triggers": [{"integration-name": integration, "python-modules": ["apigee_psc.airflow.triggers"]}],
        "connection-types": [
            {"hook-class-name": "apigee_psc.airflow.hooks.ApigeePscHook", "connection-type": "apigee_psc"}
        ],
    }
