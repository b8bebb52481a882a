"""Airflow's base classes and settings, from the Task SDK (Airflow 3)."""

from __future__ import annotations

from airflow.sdk import BaseHook, BaseOperator, BaseSensorOperator, conf
from airflow.sdk.exceptions import AirflowSensorTimeout
from airflow.triggers.base import BaseTrigger, TriggerEvent

__all__ = [
    "AirflowSensorTimeout",
    "BaseHook", "BaseOperator", "BaseSensorOperator", "BaseTrigger", "TriggerEvent", "default_deferrable"]


def default_deferrable() -> bool:
    """``[operators] default_deferrable`` of Airflow's configuration (``False`` when unset), the
    default of ``deferrable=`` as in Airflow's own Google operators."""
    return bool(conf.getboolean("operators", "default_deferrable", fallback=False))
