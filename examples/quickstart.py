"""Quickstart: one southbound connection from Python.

By default it runs against the bundled emulator (nothing to install, no Google account):

    python examples/quickstart.py

To run it against Google Cloud with your Application Default Credentials, pass a spec of yours:

    python examples/quickstart.py --real my-connection.yaml
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from apigee_psc import ApigeeClient, Southbound, SouthboundSpec
from apigee_psc.southbound import ProgressEvent

HERE = Path(__file__).resolve().parent


def show(event: ProgressEvent) -> None:
    if event.status != "waiting":
        print(event.to_text())


def run(spec: SouthboundSpec) -> int:
    southbound = Southbound(spec)
    plan = southbound.plan()
    print(plan.to_text())
    if not plan.ok:
        return 1
    report = southbound.apply(progress=show)
    print(report.to_text())

    attachment = ApigeeClient(spec.organization).endpoint_attachments.get(spec.endpoint_attachment.name)
    print(f"{attachment.name}: {attachment.state}/{attachment.connection_state}, host {attachment.host}")
    print(southbound.target_xml())
    return 0 if report.ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--real", metavar="SPEC", help="apply SPEC on Google Cloud instead of the emulator")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.real:
        return run(SouthboundSpec.from_yaml(args.real))

    from apigee_psc.demo import build_producer
    from apigee_psc.emulator import EmulatorServer

    with EmulatorServer(orgs=["my-organization"], op_seconds=0.2) as emulator:
        os.environ["APIGEE_PSC_EMULATOR_HOST"] = emulator.host_port
        build_producer()  # the "existing" internal load balancer fr-ilb and the private zone
        return run(SouthboundSpec.from_yaml(HERE / "seed-scenario.yaml"))


if __name__ == "__main__":
    raise SystemExit(main())
