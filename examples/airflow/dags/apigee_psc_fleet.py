"""Provision a fleet of southbound connections across two Apigee organizations with Airflow.

One apply task per spec in ../specs (each spec names its organization), then a status task
that fails unless the connection is in sync. Every task of an organization runs in the pool
``apigee-psc-<organization>`` of one slot, so Airflow runs one Apigee writer per organization
at a time across all workers (Apigee runs one long-running operation per organization); the
library's own wait for the organization lock stays as the safety net. Create the pools once:

    airflow pools set apigee-psc-retail-org 1 "Apigee organization retail-org" --include-deferred
    airflow pools set apigee-psc-logistics-org 1 "Apigee organization logistics-org" --include-deferred

The waits (the endpoint attachment's operation, ACTIVE and ACCEPTED, the DNS zone) defer to
the triggerer when ``[operators] default_deferrable`` is true (or pass ``deferrable=True``).
The connection ``google_cloud_default`` holds the credentials (ADC on Cloud Composer); for
the local emulator give it ``{"endpoint": "http://127.0.0.1:8089"}`` as its extra.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path

from airflow.sdk import DAG

from apigee_psc import SouthboundSpec
from apigee_psc.airflow import ApigeePscApplyOperator, ApigeePscStatusOperator

SPECS = Path(__file__).resolve().parent.parent / "specs"
#: Seconds between the triggerer's polls (15 s suits Google; the emulator's operations take ~1 s).
POLL_INTERVAL = float(os.environ.get("APIGEE_PSC_POLL_INTERVAL", "15"))


def pool_for(organization: str) -> str:
    """The one-slot pool that serialises the writers of one Apigee organization."""
    return f"apigee-psc-{organization}"


with DAG(
    dag_id="apigee_psc_fleet",
    description="Apply every spec of examples/airflow/specs, one writer per Apigee organization",
    schedule=None,
    start_date=datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc),
    catchup=False,
    template_searchpath=[str(SPECS)],
    default_args={"retries": 1, "retry_delay": datetime.timedelta(minutes=1)},
    tags=["apigee-psc"],
) as dag:
    for path in sorted(SPECS.glob("*.yaml")):
        organization = SouthboundSpec.from_yaml(path).organization  # read at parse time: no API call
        apply = ApigeePscApplyOperator(
            task_id=f"apply_{path.stem}",
            spec=path.name,  # a *.yaml name: Airflow renders it (Jinja) from template_searchpath
            pool=pool_for(organization),
            poll_interval=POLL_INTERVAL,
            execution_timeout=datetime.timedelta(hours=2),
        )
        status = ApigeePscStatusOperator(
            task_id=f"status_{path.stem}",
            spec=path.name,
            require_in_sync=True,
        )
        apply >> status
