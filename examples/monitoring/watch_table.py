"""Draw the watch's table (docs/img/watch-table.svg) from real passes over the embedded emulator.

    python examples/monitoring/watch_table.py [OUT.svg]

Two connections of the seed's scenario are applied; then someone deletes the second one's
service attachment and the first one's A record, and one pass of a watch shows what it sees.
"""

from __future__ import annotations

import copy
import os
import sys

from rich.console import Console

from apigee_psc.cloud import CloudDnsClient
from apigee_psc.compute import ComputeClient
from apigee_psc.demo import SEED_SPEC, build_producer
from apigee_psc.emulator import EmulatorServer
from apigee_psc.southbound import SouthboundSpec, apply_fleet
from apigee_psc.southbound.watch import Watcher


def main(out: str) -> None:
    with EmulatorServer(op_seconds=0) as server:
        os.environ["APIGEE_PSC_EMULATOR_HOST"] = server.host_port
        build_producer()
        compute = ComputeClient("my-project", "us-west1")
        compute.forwarding_rules.create("fr-payments", backend_service="be-ilb", ports=[80], network="default")
        second = copy.deepcopy(SEED_SPEC)
        second.update(
            forwarding_rule="fr-payments",
            nat_subnet={"name": "psc-payments", "range": "10.100.1.0/28"},
            firewall=None,
            service_attachment={"name": "payments", "connection_preference": "ACCEPT_AUTOMATIC"},
            endpoint_attachment={"name": "payments"},
            dns=None,
        )
        specs = [
            SouthboundSpec.from_dict(SEED_SPEC, source="orders.yaml"),
            SouthboundSpec.from_dict({k: v for k, v in second.items() if v is not None}, source="payments.yaml"),
        ]
        apply_fleet(specs)
        CloudDnsClient().records.delete("my-project", "my-private-zone", "orders.example.com.", "A")
        compute.service_attachments.delete("payments")
        watcher = Watcher(specs)
        watcher.run_pass()
        console = Console(record=True, width=130, file=open(os.devnull, "w"))  # noqa: SIM115
        console.print(watcher.rich_table())
        console.save_svg(out, title="apigee-psc watch")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/img/watch-table.svg")
