"""A local, stateful fake of the five Google APIs apigee-psc calls, over real HTTP.

One port serves Apigee v1 (``/v1/organizations/...``), Compute v1
(``/compute/v1/projects/...``), Cloud DNS v1 (``/dns/v1/projects/...``), Resource Manager
v3 (``/v3/projects/...``) and Service Networking v1 (``/v1/services/...``,
``/v1/operations/...``), plus a control API under ``/_emulator/``::

    from apigee_psc.emulator import EmulatorServer

    with EmulatorServer(orgs=["my-organization"], op_seconds=0) as server:
        os.environ["APIGEE_PSC_EMULATOR_HOST"] = server.host_port
        ...

or from a shell: ``apigee-psc emulator --port 8089 --org my-organization``.
The emulator imports nothing from the rest of apigee_psc.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import threading
from types import FrameType

from apigee_psc.emulator.control import seed_producer_for
from apigee_psc.emulator.errors import EmulatorError
from apigee_psc.emulator.producer import SEED_PRODUCER, load_specs
from apigee_psc.emulator.server import DEFAULT_ORG, EmulatorServer
from apigee_psc.emulator.state import DEFAULT_OP_SECONDS, OrgConfig, World, parse_org

__all__ = ["EMULATOR_ENV", "EmulatorServer", "OrgConfig", "World", "main", "seed_producer", "seed_producer_for"]

#: The environment variable that points apigee-psc at an emulator (``HOST:PORT``).
EMULATOR_ENV = "APIGEE_PSC_EMULATOR_HOST"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="apigee-psc emulator",
        description="Serve a local fake of Apigee, Compute, Cloud DNS, Resource Manager and "
        "Service Networking on one port.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=_port, default=8089, help="port to listen on (default 8089; 0 = any)")
    parser.add_argument(
        "--org",
        action="append",
        default=None,
        metavar="NAME[:peered]",
        help=f"an Apigee organization; repeatable (default {DEFAULT_ORG}). "
        "':peered' makes it VPC-peered (disableVpcPeering unset)",
    )
    parser.add_argument(
        "--op-seconds",
        type=_seconds,
        default=DEFAULT_OP_SECONDS,
        metavar="S",
        help=f"how long operations take (default {DEFAULT_OP_SECONDS}; 0 = done at once)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for ids and fault injection (default 0)")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    parser.add_argument(
        "--dns-peer-failure",
        choices=("request", "operation"),
        default="request",
        help="how a DNS zone create without the roles/dns.peer grant fails: 'request' (403 at once, the "
        "default) or 'operation' (its operation ends with PERMISSION_DENIED); Google does both",
    )
    parser.add_argument(
        "--producer",
        action="store_true",
        help="also create the seed's producer in my-project/us-west1: health check hc-tcp-foo, backend "
        "service be-ilb, internal forwarding rule fr-ilb (tcp:80) and private zone my-private-zone "
        "(example.com.), so examples/seed-scenario.yaml applies as it is",
    )
    parser.add_argument(
        "--producer-for",
        nargs="+",
        default=[],
        metavar="SPEC",
        help="also create the producer side these spec files reference (network, health check, backend "
        "service, internal forwarding rule, Cloud DNS private zone) and serve their organizations, so they "
        "apply as they are; e.g. --producer-for examples/fleet/*.yaml",
    )
    return parser


def seed_producer(server: EmulatorServer, project: str = "my-project", region: str = "us-west1") -> None:
    """Create the seed's producer at once (no operations): health check ``hc-tcp-foo``, backend
    service ``be-ilb``, internal forwarding rule ``fr-ilb`` (tcp:80) and private zone
    ``my-private-zone`` (``example.com.``), so ``examples/seed-scenario.yaml`` applies as it is."""
    seed_producer_for(server.world, [{**SEED_PRODUCER, "project": project, "region": region}])


def _port(text: str) -> int:
    """A TCP port for argparse: 0 (any free port) to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port (0 to 65535)")
    return port


def _seconds(text: str) -> float:
    """A finite, non-negative number of seconds for argparse (NaN and infinity are refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a finite number of seconds >= 0")
    return value


def main(argv: list[str] | None = None) -> int:
    """Run the emulator until interrupted; return the process exit code."""
    args = _parser().parse_args(argv)
    if args.op_seconds < 0:
        print("error: --op-seconds must not be negative", file=sys.stderr)
        return 2
    try:
        specs = load_specs(args.producer_for)
        orgs = [parse_org(o) for o in (args.org or [DEFAULT_ORG])]
        server = EmulatorServer(
            args.host,
            args.port,
            orgs=orgs,
            op_seconds=args.op_seconds,
            seed=args.seed,
            verbose=args.verbose,
            dns_peer_failure=args.dns_peer_failure,
        )
    except EmulatorError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1

    try:
        if args.producer:
            seed_producer(server)
        if specs:
            seed_producer_for(server.world, specs)
    except EmulatorError as exc:
        server.stop()
        print(f"error: {exc.message}", file=sys.stderr)
        return 2

    def _terminate(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    print(
        f"apigee-psc emulator serving {server.url} (orgs: {', '.join(sorted(server.world.orgs))}); "
        f"export {EMULATOR_ENV}={server.host_port}",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0
