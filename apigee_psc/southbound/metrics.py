"""Prometheus metrics of a watch, with ``prometheus_client`` (the ``watch`` extra).

Every metric lives in the :class:`WatchMetrics`'s own registry (never the process-wide default
one), so a watch inside other automation adds nothing to that program's ``/metrics`` unless
it serves this registry. Three ways out:

* :meth:`WatchMetrics.serve`: ``/metrics`` (the exposition format) and ``/healthz`` on a port;
* :meth:`WatchMetrics.write_textfile`: a ``.prom`` file for node-exporter's textfile
  collector, written atomically (for ``watch --once`` from cron);
* :meth:`WatchMetrics.push`: to a Pushgateway with push-add semantics (POST: only the metrics
  pushed replace their namesakes in the group).

The names (see docs/watch.md for the table) follow Prometheus's conventions: the
``apigee_psc_`` prefix, base units in the name (``_seconds``), ``_total`` for counters,
``_timestamp_seconds`` for times.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from apigee_psc import errors
from apigee_psc._version import __version__
from apigee_psc.models import ConnectionState

if TYPE_CHECKING:
    from apigee_psc.southbound.conditions import SpecState

__all__ = ["METRICS", "WatchMetrics", "api_of"]

#: (name, type, help) of every metric, the documentation's table.
METRICS: tuple[tuple[str, str, str], ...] = (
    ("apigee_psc_ready", "gauge", "1 when the spec's endpoint attachment is ACTIVE and ACCEPTED, else 0."),
    ("apigee_psc_in_sync", "gauge", "1 when every resource of the spec equals the spec, else 0."),
    ("apigee_psc_owned", "gauge", "1 when no resource of the spec belongs to someone else, else 0."),
    ("apigee_psc_condition", "gauge", "1 for each condition's current status and reason (one-hot)."),
    ("apigee_psc_connection_state", "gauge", "1 for the endpoint attachment's connectionState, 0 for the others."),
    ("apigee_psc_nat_ips_used", "gauge", "NAT addresses the service attachment's connections use."),
    ("apigee_psc_nat_ips_total", "gauge", "NAT addresses the service attachment's NAT subnets give."),
    ("apigee_psc_connected_endpoints", "gauge", "Endpoints connected to the service attachment, by status."),
    ("apigee_psc_propagated_connections", "gauge", "Propagated connections of the connected endpoints (NCC)."),
    ("apigee_psc_last_success_timestamp_seconds", "gauge", "When a pass last read every resource of the spec."),
    ("apigee_psc_consecutive_errors", "gauge", "Passes in a row that failed to read the spec."),
    ("apigee_psc_pass_duration_seconds", "gauge", "Wall time of the spec's last pass."),
    ("apigee_psc_heals_total", "counter", "Heals applied by --heal safe, by result (done, failed)."),
    ("apigee_psc_api_requests_total", "counter", "HTTP requests to Google's APIs, by API and status code."),
    ("apigee_psc_build_info", "gauge", "Always 1; the version of apigee-psc in a label."),
)

_API_HOSTS = {
    "apigee": "apigee",
    "compute": "compute",
    "dns": "dns",
    "cloudresourcemanager": "cloudresourcemanager",
    "servicenetworking": "servicenetworking",
}


def api_of(what: str) -> str:
    """The API of a request line ``"METHOD URL"``: from Google's host name, or (the emulator,
    one host for all) from the path."""
    url = what.split(" ", 1)[-1]
    parts = urlsplit(url)
    host = (parts.hostname or "").split(".")[0]
    if host in _API_HOSTS and (parts.hostname or "").endswith("googleapis.com"):
        return _API_HOSTS[host]
    path = parts.path
    if path.startswith("/compute/"):
        return "compute"
    if path.startswith("/dns/"):
        return "dns"
    if path.startswith(("/v3/", "/v1/projects/")):
        return "cloudresourcemanager"
    if path.startswith(("/v1/services/", "/v1/operations")):
        return "servicenetworking"
    return "apigee"


class WatchMetrics:
    """The metrics of one watch, in a registry of their own (``prometheus_client`` is imported here)."""

    def __init__(self) -> None:
        try:
            from prometheus_client import CollectorRegistry, Counter, Gauge, Info  # noqa: F401
        except ImportError:  # pragma: no cover - the extra is missing
            raise errors.ValidationError(
                "metrics", "prometheus_client", "installed: pip install 'apigee-psc[watch]'"
            ) from None
        self.registry = CollectorRegistry()
        reg = self.registry
        spec = ["spec", "organization"]
        self.ready = Gauge("apigee_psc_ready", METRICS[0][2], spec, registry=reg)
        self.in_sync = Gauge("apigee_psc_in_sync", METRICS[1][2], spec, registry=reg)
        self.owned = Gauge("apigee_psc_owned", METRICS[2][2], spec, registry=reg)
        self.condition = Gauge(
            "apigee_psc_condition", METRICS[3][2], ["spec", "condition", "status", "reason"], registry=reg
        )
        self.connection_state = Gauge("apigee_psc_connection_state", METRICS[4][2], ["spec", "state"], registry=reg)
        self.nat_used = Gauge("apigee_psc_nat_ips_used", METRICS[5][2], ["spec"], registry=reg)
        self.nat_total = Gauge("apigee_psc_nat_ips_total", METRICS[6][2], ["spec"], registry=reg)
        self.endpoints = Gauge("apigee_psc_connected_endpoints", METRICS[7][2], ["spec", "status"], registry=reg)
        self.propagated = Gauge("apigee_psc_propagated_connections", METRICS[8][2], ["spec"], registry=reg)
        self.last_success = Gauge("apigee_psc_last_success_timestamp_seconds", METRICS[9][2], ["spec"], registry=reg)
        self.consecutive_errors = Gauge("apigee_psc_consecutive_errors", METRICS[10][2], ["spec"], registry=reg)
        self.duration = Gauge("apigee_psc_pass_duration_seconds", METRICS[11][2], ["spec"], registry=reg)
        self.heals = Counter("apigee_psc_heals", METRICS[12][2], ["result"], registry=reg)
        self.requests = Counter("apigee_psc_api_requests", METRICS[13][2], ["api", "code"], registry=reg)
        build = Gauge("apigee_psc_build_info", METRICS[14][2], ["version"], registry=reg)
        build.labels(__version__).set(1)
        for result in ("done", "failed"):
            self.heals.labels(result)
        self._lock = threading.Lock()
        self._conditions: dict[str, set[tuple[str, str, str]]] = {}
        self._statuses: dict[str, set[str]] = {}
        self._server: Any = None
        self.healthy_after: float | None = None  # /healthz fails when no pass ended for this long
        self._last_pass = time.time()

    # -- updates -----------------------------------------------------------------------------

    def request(self, what: str, status: int) -> None:
        """Count one HTTP attempt (``status`` 0 when no answer came)."""
        self.requests.labels(api_of(what), str(status)).inc()

    def heal(self, result: str) -> None:
        """Count one heal by ``result`` (``done`` or ``failed``)."""
        self.heals.labels(result).inc()

    def observe(self, state: SpecState, *, consecutive_errors: int, now: float) -> None:
        """Set the spec's gauges from one pass."""
        spec = state.spec
        with self._lock:
            self._last_pass = time.time()
            for type_, gauge in (("ready", self.ready), ("in_sync", self.in_sync), ("owned", self.owned)):
                condition = state.condition(type_)
                gauge.labels(spec, state.organization).set(1 if condition.ok else 0)
            current = {(c.type, c.status, c.reason) for c in state.conditions}
            for stale in self._conditions.get(spec, set()) - current:
                self.condition.remove(spec, *stale)
            for labels in current:
                self.condition.labels(spec, *labels).set(1)
            self._conditions[spec] = current
            known = [s.value for s in ConnectionState]
            if state.connection_state and state.connection_state not in known:
                known.append(state.connection_state)
            for value in known:
                self.connection_state.labels(spec, value).set(1 if value == state.connection_state else 0)
            capacity = state.capacity
            if capacity is not None:
                self.nat_used.labels(spec).set(capacity.used)
                self.nat_total.labels(spec).set(capacity.total)
                statuses = set(capacity.endpoints)
                for gone in self._statuses.get(spec, set()) - statuses:
                    self.endpoints.labels(spec, gone).set(0)
                for status, count in capacity.endpoints.items():
                    self.endpoints.labels(spec, status).set(count)
                self._statuses[spec] = statuses | self._statuses.get(spec, set())
            if state.propagated_connections is not None:
                self.propagated.labels(spec).set(state.propagated_connections)
            if state.error is None:
                self.last_success.labels(spec).set(now)
            else:
                self.last_success.labels(spec)  # present (0) until a first success
            self.consecutive_errors.labels(spec).set(consecutive_errors)
            self.duration.labels(spec).set(state.duration)

    # -- output ------------------------------------------------------------------------------

    def exposition(self) -> bytes:
        """The metrics in Prometheus's text exposition format."""
        from prometheus_client import generate_latest

        return bytes(generate_latest(self.registry))

    def write_textfile(self, path: str) -> None:
        """Write the metrics for node-exporter's textfile collector (atomically: a temporary
        file renamed over ``path``; the name should end in ``.prom``)."""
        from prometheus_client import write_to_textfile

        write_to_textfile(path, self.registry)

    def push(self, gateway: str, *, job: str = "apigee-psc-watch", grouping_key: dict[str, str] | None = None) -> None:
        """Push to a Pushgateway at ``gateway`` with push-add semantics (HTTP POST: metrics of
        the same names in the group are replaced, others kept)."""
        from prometheus_client import pushadd_to_gateway

        pushadd_to_gateway(gateway, job=job, registry=self.registry, grouping_key=grouping_key)

    def healthy(self) -> bool:
        """False when no pass ended within ``healthy_after`` seconds (a stuck loop)."""
        return self.healthy_after is None or time.time() - self._last_pass <= self.healthy_after

    def serve(self, port: int, host: str = "0.0.0.0") -> int:
        """Serve ``/metrics`` and ``/healthz`` on ``host:port`` in a daemon thread; returns the
        port (``0`` picks a free one)."""
        from prometheus_client import CONTENT_TYPE_LATEST

        metrics = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                if path == "/metrics":
                    body, status, kind = metrics.exposition(), 200, CONTENT_TYPE_LATEST
                elif path == "/healthz":
                    ok = metrics.healthy()
                    body, status, kind = (b"ok\n" if ok else b"stale\n"), (200 if ok else 503), "text/plain"
                else:
                    body, status, kind = b"not found: try /metrics or /healthz\n", 404, "text/plain"
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        server = ThreadingHTTPServer((host, port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name="apigee-psc-metrics", daemon=True).start()
        self._server = server
        return int(server.server_address[1])

    def close(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def samples(self) -> Iterator[tuple[str, dict[str, str], float]]:
        """Every sample as ``(name, labels, value)``."""
        for family in self.registry.collect():
            for sample in family.samples:
                yield sample.name, dict(sample.labels), float(sample.value)
