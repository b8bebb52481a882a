"""``apigee-psc watch`` and its metrics: the command, the exposition over HTTP, the textfile,
push-add to a Pushgateway, and SIGTERM in a real subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner
from integration_helpers import FAST, last_seq, mutations, southbound
from prometheus_client.parser import text_string_to_metric_families

from apigee_psc import _schema
from apigee_psc.cli import cli
from apigee_psc.emulator import EmulatorServer, seed_producer
from apigee_psc.southbound import SouthboundSpec
from apigee_psc.southbound.metrics import METRICS, WatchMetrics
from apigee_psc.southbound.watch import Watcher

SEED = str(Path(__file__).resolve().parents[2] / "examples" / "seed-scenario.yaml")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, parsed by prometheus_client's own parser."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    hits = [v for (n, ls), v in samples.items() if n == name and all((k, v) in ls for k, v in labels.items())]
    assert len(hits) == 1, (name, labels, hits)
    return hits[0]


def test_watch_once_writes_schema_valid_events_and_a_valid_textfile(producer: EmulatorServer, tmp_path: Path) -> None:
    assert run("apply", SEED, "--yes")[0] == 0
    events, prom = tmp_path / "events.jsonl", tmp_path / "watch.prom"
    before = last_seq(producer)
    code, out, err = run("watch", SEED, "--once", "--events", str(events), "--textfile", str(prom))
    assert code == 0, err
    assert mutations(producer, before) == []
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    validator = jsonschema.Draft202012Validator(_schema.load("event"))
    for line in lines:
        validator.validate(line)
    assert lines[-1]["type"] == "pass" and lines[-1]["capacity"]["nat_ips_total"] == 12
    assert {"type": "condition", "condition": "ready", "status": "True", "reason": "Accepted"}.items() <= next(
        line for line in lines if line["type"] == "condition" and "kind" not in line and line["condition"] == "ready"
    ).items()
    assert "ready=True Accepted" in out  # the text lines
    samples = _samples(prom.read_text())
    spec = lines[-1]["spec"]
    assert _value(samples, "apigee_psc_ready", spec=spec) == 1
    assert _value(samples, "apigee_psc_connection_state", spec=spec, state="ACCEPTED") == 1
    assert _value(samples, "apigee_psc_connection_state", spec=spec, state="PENDING") == 0
    assert _value(samples, "apigee_psc_nat_ips_used", spec=spec) == 1
    assert _value(samples, "apigee_psc_api_requests_total", api="apigee", code="200") >= 2
    assert _value(samples, "apigee_psc_build_info") == 1
    assert "token" not in events.read_text().lower() and "bearer" not in events.read_text().lower()


def test_watch_once_not_ready_exits_1_and_bad_input_exits_2(producer: EmulatorServer) -> None:
    code, _, _ = run("watch", SEED, "--once")
    assert code == 1
    assert run("watch", SEED, "--once", "--interval", "soon")[0] == 2
    assert run("watch", SEED, "--once", "--textfile", "metrics.txt")[0] == 2


def test_metrics_endpoint_is_scraped_over_http_and_parsed(producer: EmulatorServer, seed_spec: SouthboundSpec) -> None:
    southbound(seed_spec).apply()
    metrics = WatchMetrics()
    port = metrics.serve(0, "127.0.0.1")
    try:
        Watcher([seed_spec], metrics=metrics, schedule=FAST).run_pass()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
            assert answer.status == 200 and answer.headers["Content-Type"].startswith("text/plain")
            samples = _samples(answer.read().decode())
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as answer:
            assert answer.status == 200
    finally:
        metrics.close()
    assert _value(samples, "apigee_psc_ready", spec="seed.yaml") == 1
    assert _value(samples, "apigee_psc_in_sync", spec="seed.yaml") == 1
    assert _value(samples, "apigee_psc_consecutive_errors", spec="seed.yaml") == 0
    assert _value(samples, "apigee_psc_last_success_timestamp_seconds", spec="seed.yaml") > time.time() - 60
    assert _value(samples, "apigee_psc_heals_total", result="done") == 0
    names = {name for name, _ in samples}
    assert {name for name, _, _ in METRICS} <= names  # every documented metric is exposed


class _Recorder(BaseHTTPRequestHandler):
    seen: list[tuple[str, str, bytes]] = []

    def _record(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.seen.append((self.command, self.path, self.rfile.read(length)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = _record
    do_PUT = _record

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def pushgateway() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    seen: list[tuple[str, str, bytes]] = []
    handler = type("Recorder", (_Recorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_watch_once_pushes_with_push_add_semantics(
    producer: EmulatorServer, pushgateway: tuple[str, list[tuple[str, str, bytes]]], tmp_path: Path
) -> None:
    url, seen = pushgateway
    assert run("apply", SEED, "--yes")[0] == 0
    twin = tmp_path / "same-again.yaml"  # a second spec: still one push for the whole pass
    twin.write_text(Path(SEED).read_text())
    code, _, err = run("watch", SEED, str(twin), "--once", "--pushgateway", url)
    assert code == 0, err
    assert len(seen) == 1
    method, path, body = seen[0]
    assert method == "POST"  # push-add; PUT would replace the whole group
    assert path == "/metrics/job/apigee-psc-watch"
    samples = _samples(body.decode())
    assert _value(samples, "apigee_psc_ready", spec=str(twin)) == 1
    assert _value(samples, "apigee_psc_ready", spec=SEED) == 1


def test_watch_sigterm_ends_the_loop_cleanly_with_143(tmp_path: Path) -> None:
    server = EmulatorServer(orgs=["my-organization"], op_seconds=0).start()
    try:
        seed_producer(server)
        env = {**os.environ, "APIGEE_PSC_EMULATOR_HOST": server.host_port}
        subprocess.run([sys.executable, "-m", "apigee_psc", "apply", SEED, "--yes"], env=env, check=True, timeout=120,
                       capture_output=True)  # fmt: skip
        events = tmp_path / "events.jsonl"
        process = subprocess.Popen(
            [sys.executable, "-m", "apigee_psc", "watch", SEED, "--interval", "1h", "--events", str(events)],
            stderr=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and '"type": "pass"' not in (events.read_text() if events.exists() else ""):
            time.sleep(0.1)
        assert '"type": "pass"' in events.read_text()
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
        assert process.returncode == 143, err
        assert "terminated (SIGTERM)" in err and "Traceback" not in err
    finally:
        server.stop()


def test_watch_once_json_output_is_one_event_a_line(producer: EmulatorServer) -> None:
    assert run("apply", SEED, "--yes")[0] == 0
    code, out, err = run("watch", SEED, "--once", "-o", "json")
    assert code == 0, err
    validator = jsonschema.Draft202012Validator(_schema.load("event"))
    lines = [json.loads(line) for line in out.splitlines()]
    for line in lines:
        validator.validate(line)
    assert lines[-1]["type"] == "pass" and lines[-1]["requests"] > 0
