"""Checks of the provider inside the Airflow venv, printed as one ``RESULT {...}`` JSON line.

argv: the emulator's URL, an Apigee operation name in flight and its endpoint attachment.
The trigger is serialised, sent through JSON and re-created from its class path (as the
triggerer does after a restart), then run in an asyncio loop beside a ticker that must keep
ticking (the trigger never blocks the loop).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

from airflow.providers_manager import ProvidersManager
from airflow.sdk.module_loading import import_string
from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

from apigee_psc import errors
from apigee_psc.airflow import ApigeePscApplyOperator, ApigeePscHook, ApigeePscWaitTrigger


async def run_beside_ticker(trigger: Any) -> tuple[list[dict[str, Any]], int, float]:
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.01)

    started = time.monotonic()
    task = asyncio.create_task(ticker())
    events = [event.payload async for event in trigger.run()]
    done.set()
    await task
    return events, ticks, time.monotonic() - started


def main(url: str, operation: str, attachment: str) -> None:
    connection = {"conn_type": "apigee_psc", "extra": {"endpoint": url}}
    os.environ["AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT"] = json.dumps(connection)
    result: dict[str, Any] = {}
    result["provider"] = "apigee-psc" in ProvidersManager().providers
    hooks = ProvidersManagerTaskRuntime().hooks
    result["hook"] = hooks["apigee_psc"].hook_class_name if "apigee_psc" in hooks else None
    hook = ApigeePscHook()
    result["endpoint"] = hook.options().endpoint

    waits = [{"kind": "operation", "name": operation}, {"kind": "attachment_ready", "name": attachment}]
    first = ApigeePscWaitTrigger(organization="retail-org", waits=waits, deadline=time.time() + 60, poll_interval=0.2)
    path, kwargs = first.serialize()
    kwargs = json.loads(json.dumps(kwargs))  # what the database keeps
    again = import_string(path)(**kwargs)
    result["round_trip"] = again.serialize() == first.serialize()
    events, ticks, elapsed = asyncio.run(run_beside_ticker(again))
    result["events"] = events
    result["ticks_per_second"] = ticks / elapsed

    late = ApigeePscWaitTrigger(
        organization="retail-org", waits=[{"kind": "attachment_deleted", "name": attachment}],
        deadline=time.time() + 1.0, poll_interval=0.2,
    )
    result["timeout_event"] = asyncio.run(run_beside_ticker(late))[0]

    result["default_deferrable"] = ApigeePscApplyOperator(task_id="a", spec={"organization": "o"}).deferrable
    try:
        ApigeePscApplyOperator(task_id="b", spec={}, timeout=-1)
        result["bad_timeout"] = None
    except errors.ValidationError as exc:
        result["bad_timeout"] = exc.field
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main(*sys.argv[1:4])
