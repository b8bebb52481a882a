"""Destroy the fleet of ../specs again: one destroy task per spec, in the same one-slot pool
per Apigee organization as the apply DAG (apigee_psc_fleet.py). The waits for the endpoint
attachment and the DNS zone to be deleted defer to the triggerer like apply's."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

from airflow.sdk import DAG

from apigee_psc import SouthboundSpec
from apigee_psc.airflow import ApigeePscDestroyOperator

SPECS = Path(__file__).resolve().parent.parent / "specs"
POLL_INTERVAL = float(os.environ.get("APIGEE_PSC_POLL_INTERVAL", "15"))

with DAG(
    dag_id="apigee_psc_fleet_teardown",
    description="Destroy every spec of examples/airflow/specs, one writer per Apigee organization",
    schedule=None,
    start_date=datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc),
    catchup=False,
    template_searchpath=[str(SPECS)],
    tags=["apigee-psc"],
) as dag:
    for path in sorted(SPECS.glob("*.yaml")):
        ApigeePscDestroyOperator(
            task_id=f"destroy_{path.stem}",
            spec=path.name,
            pool=f"apigee-psc-{SouthboundSpec.from_yaml(path).organization}",
            poll_interval=POLL_INTERVAL,
        )
