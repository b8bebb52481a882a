"""A connection that stays PENDING (the emulator is told so): apply and the sensor must fail
with the library's diagnosis once their short timeouts run out."""

from __future__ import annotations

import datetime
from pathlib import Path

import yaml
from airflow.sdk import DAG

from apigee_psc.airflow import ApigeeEndpointAttachmentSensor, ApigeePscApplyOperator

# A dict spec (the other DAGs use YAML files): ../specs/stuck.yaml, read as data.
SPEC = yaml.safe_load((Path(__file__).resolve().parent.parent / "specs" / "stuck.yaml").read_text())

with DAG(
    dag_id="apigee_psc_stuck",
    schedule=None,
    start_date=datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc),
    catchup=False,
    default_args={"retries": 0},
) as dag:
    apply = ApigeePscApplyOperator(task_id="apply_stuck", spec=SPEC, timeout=4.0, poll_interval=0.5, deferrable=True)
    sensor = ApigeeEndpointAttachmentSensor(
        task_id="sense_stuck",
        organization="retail-org",
        endpoint_attachment="ea-stuck",
        timeout=3.0,
        poke_interval=0.5,
        deferrable=True,
        trigger_rule="all_done",
    )
    in_worker = ApigeeEndpointAttachmentSensor(
        task_id="sense_stuck_in_worker",
        organization="retail-org",
        endpoint_attachment="ea-stuck",
        timeout=2.0,
        poke_interval=0.5,
        deferrable=False,
        trigger_rule="all_done",
    )
    apply >> [sensor, in_worker]
