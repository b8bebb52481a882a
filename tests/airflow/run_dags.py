"""Run DAG files with ``dag.test()`` in an Airflow venv and print what happened, one line per
DAG: ``RESULT {"dag_id", "state", "tasks": {task_id: {"state", "xcom": {...}}}}``.

Run by tests/airflow/test_airflow_provider.py with the Airflow venv's python, after
``airflow db migrate``, with AIRFLOW_HOME, AIRFLOW__CORE__DAGS_FOLDER and the connection set.
It creates the one-slot pool of every pool the DAGs' tasks name, as docs/airflow.md says.
"""

from __future__ import annotations

import json
import runpy
import sys

from airflow.models.pool import Pool
from airflow.models.taskinstance import TaskInstance
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session


def main(paths: list[str]) -> None:
    dags = [runpy.run_path(path)["dag"] for path in paths]
    pools = sorted({t.pool for d in dags for t in d.tasks if t.pool != Pool.DEFAULT_POOL_NAME})
    with create_session() as session:
        for pool in pools:
            Pool.create_or_update_pool(pool, 1, f"one Apigee writer at a time ({pool})", True, session=session)
    for dag in dags:
        run = dag.test()
        tasks = {}
        with create_session() as session:
            for ti in session.query(TaskInstance).filter(TaskInstance.dag_id == dag.dag_id):
                rows = session.query(XComModel).filter(
                    XComModel.dag_id == dag.dag_id, XComModel.run_id == run.run_id, XComModel.task_id == ti.task_id
                )
                tasks[ti.task_id] = {"state": str(ti.state), "pool": ti.pool, "xcom": {r.key: r.value for r in rows}}
        print("RESULT " + json.dumps({"dag_id": dag.dag_id, "state": str(run.state), "tasks": tasks}, default=str))
        sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
