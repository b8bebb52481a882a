"""examples/monitoring/alerts.yaml: parsed always; each rule's expression evaluated by
``promtool test rules`` (when promtool is installed) against metrics real watch passes produced
over the emulator, in four situations: healthy, broken (service attachment and A record
deleted), NAT full, and a spec whose reads all fail."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from integration_helpers import FAST, southbound

from apigee_psc import ComputeClient
from apigee_psc.cloud import CloudDnsClient
from apigee_psc.emulator import EmulatorServer
from apigee_psc.southbound import SouthboundSpec
from apigee_psc.southbound.metrics import METRICS, WatchMetrics
from apigee_psc.southbound.watch import Watcher

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "examples" / "monitoring" / "alerts.yaml"
DASHBOARD = ROOT / "examples" / "monitoring" / "grafana-dashboard.json"
NAMES = {name for name, _, _ in METRICS}


def _rules() -> list[dict[str, Any]]:
    data = yaml.safe_load(ALERTS.read_text())
    return [rule for group in data["groups"] for rule in group["rules"]]


def test_alert_rules_parse_and_name_only_documented_metrics() -> None:
    rules = _rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names)) and len(rules) >= 4
    for rule in rules:
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        used = set(re.findall(r"\bapigee_psc_[a-z_]+", rule["expr"]))
        assert used and used <= NAMES, (rule["alert"], used - NAMES)
    topics = " ".join(r["expr"] for r in rules)
    for needed in ("apigee_psc_ready", "in_sync", "apigee_psc_nat_ips_used", "apigee_psc_last_success_timestamp"):
        assert needed in topics


def test_grafana_dashboard_queries_only_documented_metrics() -> None:
    import json

    board = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    assert exprs and board["title"]
    for expr in exprs:
        used = set(re.findall(r"\bapigee_psc_[a-z_]+", expr))
        assert used and used <= NAMES, (expr, used - NAMES)


def _series(metrics: WatchMetrics) -> list[dict[str, str]]:
    """The metrics as promtool input series, each constant for 40 minutes."""
    out = []
    for name, labels, value in metrics.samples():
        if name.endswith("_created"):
            continue
        shown = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        out.append({"series": f"{name}{{{shown}}}", "values": f"{value!r}+0x40"})
    return out


def _situation(watch: Watcher, passes: int = 1) -> WatchMetrics:
    metrics = WatchMetrics()
    watch.metrics = metrics
    for _ in range(passes):
        watch.run_pass()
    return metrics


@pytest.fixture
def situations(
    producer: EmulatorServer, seed_spec: SouthboundSpec, make_spec: Callable[..., SouthboundSpec]
) -> dict[str, tuple[WatchMetrics, set[str]]]:
    """Metrics of four situations and the alerts that must fire in each."""
    southbound(seed_spec).apply()
    found: dict[str, tuple[WatchMetrics, set[str]]] = {}
    found["healthy"] = (_situation(Watcher([seed_spec], schedule=FAST)), set())
    others = [f"consumer-{i:02d}" for i in range(11)]
    sa = "projects/my-project/regions/us-west1/serviceAttachments/gkebackend"
    producer.configure(
        orgs=others,
        resources=[
            {"api": "apigee", "collection": "endpointAttachments", "org": org, "id": "gkebackend",
             "body": {"location": "us-west1", "serviceAttachment": sa}}
            for org in others
        ],
    )  # fmt: skip
    found["nat_full"] = (
        _situation(Watcher([seed_spec], schedule=FAST)),
        {"ApigeePscNatNearlyExhausted", "ApigeePscNatExhausted"},
    )
    broken = make_spec(organization="no-such-org")
    failing = {"ApigeePscWatchStale", "ApigeePscWatchErrors", "ApigeePscNotReady"}
    found["failing"] = (_situation(Watcher([broken], schedule=FAST, timeout=5.0), passes=3), failing)
    ComputeClient("my-project", "us-west1").service_attachments.delete("gkebackend")
    CloudDnsClient().records.delete("my-project", "my-private-zone", "orders.example.com.", "A")
    found["broken"] = (_situation(Watcher([seed_spec], schedule=FAST)), {"ApigeePscNotReady", "ApigeePscDrift"})
    return found


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (apt-get install prometheus)")
def test_each_alert_expression_fires_exactly_where_it_should(
    situations: dict[str, tuple[WatchMetrics, set[str]]], tmp_path: Path
) -> None:
    rules = _rules()
    tests = []
    for name, (metrics, firing) in situations.items():
        cases = []
        for rule in rules:
            # count() of the rule's own expression: 1 series where it fires, none where it must not.
            expected = [{"labels": "{}", "value": 1}] if rule["alert"] in firing else []
            cases.append({"expr": f"count({rule['expr']})", "eval_time": "30m", "exp_samples": expected})
        tests.append({"name": name, "interval": "1m", "input_series": _series(metrics), "promql_expr_test": cases})
    rules_file = tmp_path / "alerts.yaml"
    rules_file.write_text(ALERTS.read_text())
    metrics, _ = situations["broken"]
    not_ready = next(s for s in _series(metrics) if s["series"].startswith("apigee_psc_ready{"))
    rule = next(r for r in rules if r["alert"] == "ApigeePscNotReady")
    labels = {"spec": "seed.yaml", "organization": "my-organization"}

    def render(text: str) -> str:
        for key, value in labels.items():
            text = text.replace("{{ $labels." + key + " }}", value)
        return text

    rendered = {key: render(value) for key, value in rule["annotations"].items()}
    tests.append(
        {
            "name": "NotReady waits its for, then fires with its labels and rendered annotations",
            "interval": "1m",
            "input_series": [not_ready],
            "alert_rule_test": [
                {"alertname": "ApigeePscNotReady", "eval_time": "5m", "exp_alerts": []},
                {
                    "alertname": "ApigeePscNotReady",
                    "eval_time": "15m",
                    "exp_alerts": [{"exp_labels": {**labels, "severity": "critical"}, "exp_annotations": rendered}],
                },
            ],
        }
    )
    test_file = tmp_path / "alerts_test.yaml"
    test_file.write_text(yaml.safe_dump({"rule_files": [str(rules_file)], "evaluation_interval": "1m", "tests": tests}))
    done = subprocess.run(
        ["promtool", "test", "rules", str(test_file)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    checked = subprocess.run(
        ["promtool", "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
