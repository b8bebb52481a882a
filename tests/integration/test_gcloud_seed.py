"""The seed's own procedure, run with Google's ``gcloud`` and ``curl`` against the emulator.

The seed (``003_10594d7dcb4491f9.txt``) builds the producer side with gcloud and the Apigee
side with curl. This test types every one of its commands, in the seed's order, against one
emulator: the instance template, the regional managed instance group and its named port,
the health check, the backend service and its backend, the forwarding rule, the PSC NAT
subnet and firewall rule, the service attachment, ``gcloud auth print-access-token``, the
endpoint attachment and its check, the organization, project number, ``roles/dns.peer``
grant, Apigee DNS zone and its check, and the private zone's A record. Then it checks that
apigee-psc sees what gcloud built as its own desired state: ``status`` is in_sync and
``apply`` writes nothing.

One command of the seed fails at Google as written, and fails here the same way: the seed
creates a *regional* managed instance group (``--region``) but adds it to the backend
service with ``--instance-group-zone=$ZONE``, a zonal group that does not exist (a regional
group is ``regions/R/instanceGroups/N``). The test checks Compute's 404 for it, then runs
the command with ``--instance-group-region``.

gcloud is pointed at the emulator with its documented endpoint overrides
(``CLOUDSDK_API_ENDPOINT_OVERRIDES_<API>``: the base URL up to and including the version
for Compute and Cloud DNS, the root for Resource Manager and Apigee, whose paths carry the
version), an access token file and a throwaway configuration directory. Skipped when gcloud
is not installed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from click.testing import CliRunner

from apigee_psc.cli import cli
from apigee_psc.emulator import EmulatorServer, seed_producer
from apigee_psc.testing import gcloud_environment

GCLOUD = shutil.which("gcloud")
pytestmark = pytest.mark.skipif(GCLOUD is None, reason="gcloud (google-cloud-cli) is not installed")

ORG = "my-organization"
PROJECT = "my-project"
REGION = "us-west1"
MUTATING = {"POST", "PATCH", "PUT", "DELETE"}
#: The seed's startup script, as the shell hands it to gcloud (its backquotes escaped there).
_PAGE = "'<!doctype html><html><body><h1>foo[{}]: '`/bin/hostname`'</h1></body></html>'"
STARTUP_SCRIPT = "\n    ".join(
    [
        "#! /bin/bash",
        "sudo apt-get update",
        "sudo apt-get install apache2 -y",
        "sudo service apache2 restart",
        f"echo {_PAGE.format('/')} | sudo tee /var/www/html/index.html",
        "sudo mkdir /var/www/html/foo",
        f"echo {_PAGE.format('/foo')} | sudo tee /var/www/html/foo/index.html",
    ]
)


class Shell:
    """Runs the seed's commands, timing each."""

    def __init__(self, env: dict[str, str], server: EmulatorServer) -> None:
        self.env = env
        self.server = server
        self.timings: list[tuple[str, float]] = []

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        start = time.monotonic()
        proc = subprocess.run(
            [str(GCLOUD), *args], env=self.env, capture_output=True, text=True, timeout=120, check=False
        )
        self.timings.append((" ".join(args[:3]), time.monotonic() - start))
        return proc

    def gcloud(self, *args: str) -> str:
        proc = self.run(*args)
        assert proc.returncode == 0, f"gcloud {' '.join(args)} failed:\n{proc.stderr}"
        assert "did not succeed" not in proc.stderr, proc.stderr
        return proc.stdout

    def gcloud_fails(self, *args: str) -> str:
        """A command Google refuses: its error output."""
        proc = self.run(*args)
        assert proc.returncode != 0, f"gcloud {' '.join(args)} succeeded:\n{proc.stdout}"
        return proc.stderr

    def curl(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """One of the seed's curl calls, against the emulator instead of apigee.googleapis.com."""
        url = self.server.url + path.lstrip("/")
        start = time.monotonic()
        if shutil.which("curl"):
            cmd = ["curl", "-sS", "-X", method, "-H", "Authorization: Bearer emulator-token"]
            if body is not None:
                cmd += ["-H", "Content-Type:application/json", "-d", json.dumps(body)]
            proc = subprocess.run([*cmd, url], capture_output=True, text=True, timeout=30, check=True)
            text = proc.stdout
        else:  # pragma: no cover - curl is on every CI image
            text = requests.request(method, url, json=body, timeout=30).text
        self.timings.append((f"curl {method} {path.split('?')[0]}", time.monotonic() - start))
        data: dict[str, Any] = json.loads(text)
        assert "error" not in data, data
        return data

    def curl_until(self, path: str, key: str, value: str, timeout: float = 20) -> dict[str, Any]:
        """The seed's "check until state is ACTIVE" step."""
        deadline = time.monotonic() + timeout
        while True:
            data = self.curl("GET", path)
            if data.get(key) == value or time.monotonic() > deadline:
                return data
            time.sleep(0.2)


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorServer]:
    with EmulatorServer(orgs=[ORG], op_seconds=0.2) as server:
        monkeypatch.setenv("APIGEE_PSC_EMULATOR_HOST", server.host_port)
        yield server


def test_gcloud_seed_procedure_then_status_in_sync_and_apply_writes_nothing(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    sh = Shell(gcloud_environment(emulator, tmp_path, PROJECT), emulator)
    started = time.monotonic()
    p = f"--project={PROJECT}"
    r = f"--region={REGION}"
    backend, zone = "foo", f"{REGION}-a"

    # "Configurar um balanceador de carga", steps 2-5, as the seed types them.
    sh.gcloud(
        "compute", "instance-templates", "create", backend,
        "--tags=psc-demo,http-server,https-server",
        "--image-family", "debian-12", "--image-project", "debian-cloud",
        "--network", "default", "--subnet", "default", "--region", REGION,
        "--project", PROJECT,
        "--metadata", f"startup-script={STARTUP_SCRIPT}",
    )  # fmt: skip
    sh.gcloud(
        "compute", "instance-groups", "managed", "create", backend,
        "--project", PROJECT, "--base-instance-name", backend,
        "--size", "1", "--template", backend, "--region", REGION,
    )  # fmt: skip
    sh.gcloud(
        "compute", "instance-groups", "managed", "set-named-ports", backend,
        "--project", PROJECT, "--region", REGION, "--named-ports", "http:80",
    )  # fmt: skip
    sh.gcloud(
        "compute", "health-checks", "create", "tcp", f"hc-tcp-{backend}", r,
        "--description=health check for psc backend", "--port-name=http", p,
    )  # fmt: skip
    sh.gcloud(
        "compute", "backend-services", "create", "be-ilb", "--load-balancing-scheme=internal",
        "--protocol=tcp", r, "--network=default", f"--health-checks=hc-tcp-{backend}",
        f"--health-checks-region={REGION}", p,
    )  # fmt: skip
    # As written, the seed adds a zonal group; its group is regional, so Compute answers 404.
    refused = sh.gcloud_fails(
        "compute", "backend-services", "add-backend", "be-ilb", r,
        f"--instance-group={backend}", f"--instance-group-zone={zone}", p,
    )  # fmt: skip
    assert f"The resource 'projects/{PROJECT}/zones/{zone}/instanceGroups/{backend}' was not found" in refused
    sh.gcloud(
        "compute", "backend-services", "add-backend", "be-ilb", r,
        f"--instance-group={backend}", f"--instance-group-region={REGION}", p,
    )  # fmt: skip
    sh.gcloud(
        "compute", "forwarding-rules", "create", "fr-ilb", r, "--load-balancing-scheme=internal",
        "--network=default", "--subnet=default", "--ip-protocol=TCP", "--ports=80",
        "--backend-service=be-ilb", f"--backend-service-region={REGION}", p,
    )  # fmt: skip
    described = json.loads(sh.gcloud("compute", "backend-services", "describe", "be-ilb", r, "--format=json"))
    group_path = f"/compute/v1/projects/{PROJECT}/regions/{REGION}/instanceGroups/{backend}"
    assert [b["group"].endswith(group_path) for b in described["backends"]] == [True], described["backends"]
    assert described["backends"][0]["balancingMode"] == "CONNECTION"
    group = json.loads(sh.gcloud("compute", "instance-groups", "describe", backend, r, "--format=json"))
    assert group["namedPorts"] == [{"name": "http", "port": 80}]
    template = json.loads(sh.gcloud("compute", "instance-templates", "describe", backend, "--format=json"))
    assert template["properties"]["tags"]["items"] == ["psc-demo", "http-server", "https-server"]
    assert template["properties"]["metadata"]["items"] == [{"key": "startup-script", "value": STARTUP_SCRIPT}]
    assert template["properties"]["disks"][0]["initializeParams"]["sourceImage"].endswith(
        "/projects/debian-cloud/global/images/family/debian-12"
    )

    # "Criar um anexo de serviço": PSC NAT subnet, firewall rule, find the rule, the attachment.
    sh.gcloud(
        "compute", "networks", "subnets", "create", "psc-subnet", "--network", "default", r,
        "--purpose=PRIVATE_SERVICE_CONNECT", "--range=10.100.0.0/28",
    )  # fmt: skip
    sh.gcloud(
        "compute", p, "firewall-rules", "create", "allow-psc-nat-80", "--direction=INGRESS",
        "--priority=1000", "--network", "default", "--action=ALLOW", "--rules=tcp:80",
        "--source-ranges=10.100.0.0/28", "--target-tags=psc-demo",
    )  # fmt: skip
    rules = json.loads(sh.gcloud("compute", "forwarding-rules", "list", p, "--format=json"))
    assert [fr["name"] for fr in rules] == ["fr-ilb"]
    sh.gcloud(
        "compute", "service-attachments", "create", "gkebackend", r,
        "--producer-forwarding-rule=fr-ilb", "--connection-preference=ACCEPT_AUTOMATIC",
        "--nat-subnets=psc-subnet", p,
    )  # fmt: skip

    # "Criar um anexo de endpoint": list, token, curl POST, curl GET until ACTIVE.
    listed = json.loads(sh.gcloud("compute", "service-attachments", "list", "--format=json"))
    assert [(sa["name"], sa["connectionPreference"]) for sa in listed] == [("gkebackend", "ACCEPT_AUTOMATIC")]
    sa_path = f"projects/{PROJECT}/regions/{REGION}/serviceAttachments/gkebackend"
    assert sh.gcloud("auth", "print-access-token").strip() == "emulator-token"
    org = f"v1/organizations/{ORG}"
    op = sh.curl(
        "POST",
        f"{org}/endpointAttachments?endpointAttachmentId=gkebackend",
        {"location": REGION, "serviceAttachment": sa_path},
    )
    assert op["metadata"]["operationType"] == "INSERT"
    ea = sh.curl_until(f"{org}/endpointAttachments/gkebackend", "state", "ACTIVE")
    assert ea["state"] == "ACTIVE" and ea["connectionState"] == "ACCEPTED"
    host = ea["host"]

    # DNS peering without VPC peering, steps 1-6.
    assert sh.curl("GET", org)["disableVpcPeering"] is True
    number = sh.gcloud("projects", "describe", ORG, "--format=value(projectNumber)").strip()
    assert number.isdigit()
    agent = f"service-{number}@gcp-sa-apigee.iam.gserviceaccount.com"
    sh.gcloud(
        "projects", "add-iam-policy-binding", PROJECT, f"--member=serviceAccount:{agent}", "--role=roles/dns.peer"
    )
    policy = json.loads(sh.gcloud("projects", "get-iam-policy", PROJECT, "--format=json"))
    assert any(b["role"] == "roles/dns.peer" and f"serviceAccount:{agent}" in b["members"] for b in policy["bindings"])
    sh.curl(
        "POST",
        f"{org}/dnsZones?dnsZoneId=my-zone",
        {
            "domain": "example.com.",
            "description": "peering zone for the producer",
            "peeringConfig": {"targetProjectId": PROJECT, "targetNetworkId": "default"},
        },
    )
    assert sh.curl_until(f"{org}/dnsZones/my-zone", "state", "ACTIVE")["state"] == "ACTIVE"
    # Step 6: an A record for the endpoint attachment's host in the private zone.
    sh.gcloud(
        "dns", "managed-zones", "create", "my-private-zone", "--dns-name=example.com.",
        "--description=private zone of the producer", "--visibility=private", "--networks=default",
    )  # fmt: skip
    sh.gcloud(
        "dns", "record-sets", "create", "orders.example.com.", "--zone=my-private-zone", "--type=A",
        "--ttl=300", f"--rrdatas={host}",
    )  # fmt: skip
    records = json.loads(sh.gcloud("dns", "record-sets", "list", "--zone=my-private-zone", "--format=json"))
    assert {"name": "orders.example.com.", "type": "A", "rrdatas": [host]}.items() <= next(
        rr for rr in records if rr["type"] == "A"
    ).items()
    procedure_seconds = time.monotonic() - started

    # apigee-psc, on a spec describing exactly what gcloud built.
    spec = tmp_path / "built-by-gcloud.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "organization": ORG,
                "project": PROJECT,
                "region": REGION,
                "network": "default",
                "forwarding_rule": "fr-ilb",
                "nat_subnet": {"name": "psc-subnet", "range": "10.100.0.0/28"},
                "firewall": {"name": "allow-psc-nat-80", "ports": [80], "target_tags": ["psc-demo"]},
                "service_attachment": {"name": "gkebackend", "connection_preference": "ACCEPT_AUTOMATIC"},
                "endpoint_attachment": {"name": "gkebackend"},
                "dns": {
                    "zone": {"name": "my-zone", "domain": "example.com."},
                    "managed_zone": "my-private-zone",
                    "record": "orders.example.com.",
                },
            }
        )
    )
    runner = CliRunner()
    mark = emulator.requests()[-1]["seq"]
    planned = runner.invoke(cli, ["plan", str(spec), "-o", "json", "--exit-code"], catch_exceptions=False)
    assert planned.exit_code == 0, planned.output  # 3 would mean changes
    assert [
        q for q in emulator.requests(since=mark) if q["method"] in MUTATING and not q["path"].endswith(":getIamPolicy")
    ] == []
    plan = json.loads(planned.stdout)
    assert plan["summary"] == {"no-op": 7}, plan["summary"]
    status = runner.invoke(cli, ["status", str(spec), "-o", "json"], catch_exceptions=False)
    report = json.loads(status.stdout)
    assert report["state"] == "in_sync", json.dumps(report, indent=2)
    assert status.exit_code == 0
    mark = emulator.requests()[-1]["seq"]
    applied = runner.invoke(cli, ["apply", str(spec), "--yes"], catch_exceptions=False)
    assert applied.exit_code == 0, applied.output
    writes = [
        f"{r['method']} {r['path']}"
        for r in emulator.requests(since=mark)
        if r["method"] in MUTATING and not r["path"].endswith((":getIamPolicy", "/wait"))
    ]
    assert writes == []

    gcloud_runs = [t for name, t in sh.timings if not name.startswith("curl")]
    print(
        f"\nseed procedure: {len(gcloud_runs)} gcloud commands in {sum(gcloud_runs):.1f} s "
        f"(slowest {max(gcloud_runs):.1f} s), {len(sh.timings) - len(gcloud_runs)} curl calls; "
        f"whole procedure {procedure_seconds:.1f} s"
    )


def _fingerprint_with_standard_only_characters(server: EmulatorServer, path: str) -> str:
    """Change the service attachment's description (over plain HTTP, the current fingerprint
    sent as read) until its fingerprint has a ``+`` or ``/``, which gcloud sends back as
    ``-`` or ``_``; return that fingerprint."""
    url = f"{server.url}compute/v1/{path}"
    for n in range(200):
        fingerprint = str(requests.get(url, timeout=10).json()["fingerprint"])
        if "+" in fingerprint or "/" in fingerprint:
            return fingerprint
        op = requests.patch(url, json={"fingerprint": fingerprint, "description": f"bump {n}"}, timeout=10)
        assert op.status_code == 200, op.text
        requests.post(f"{server.url}compute/v1/{op.json()['selfLink'].split('/compute/v1/')[1]}/wait", timeout=10)
    raise AssertionError("no fingerprint with '+' or '/' came up")


def test_gcloud_updates_service_attachment_firewall_and_subnet(emulator: EmulatorServer, tmp_path: Path) -> None:
    """``gcloud compute service-attachments update``, ``firewall-rules update`` and ``networks
    subnets update`` against the emulator.

    gcloud reads the service attachment and sends its fingerprint back in the URL-safe base64
    alphabet (``+`` -> ``-``, ``/`` -> ``_``); Compute compares the bytes, so each update goes
    through. (Comparing text, the emulator answered 412 to most of them.) A firewall has no
    fingerprint; a subnetwork's description is set at creation only.
    """
    sh = Shell(gcloud_environment(emulator, tmp_path, PROJECT), emulator)
    seed_producer(emulator)
    r = f"--region={REGION}"
    sh.gcloud(
        "compute", "networks", "subnets", "create", "psc-subnet", "--network", "default", r,
        "--purpose=PRIVATE_SERVICE_CONNECT", "--range=10.100.0.0/28",
    )  # fmt: skip
    sh.gcloud(
        "compute", "service-attachments", "create", "gkebackend", r, "--producer-forwarding-rule=fr-ilb",
        "--connection-preference=ACCEPT_AUTOMATIC", "--nat-subnets=psc-subnet",
    )  # fmt: skip
    sa = f"projects/{PROJECT}/regions/{REGION}/serviceAttachments/gkebackend"
    for flag in ("--enable-proxy-protocol", "--no-enable-proxy-protocol", "--reconcile-connections"):
        fingerprint = _fingerprint_with_standard_only_characters(emulator, sa)
        mark = emulator.requests()[-1]["seq"]
        sh.gcloud("compute", "service-attachments", "update", "gkebackend", r, flag)
        patches = [q["status"] for q in emulator.requests(since=mark, method="PATCH")]
        assert patches == [200], (fingerprint, patches)
    described = json.loads(sh.gcloud("compute", "service-attachments", "describe", "gkebackend", r, "--format=json"))
    assert described["enableProxyProtocol"] is False and described["reconcileConnections"] is True

    sh.gcloud(
        "compute", "firewall-rules", "create", "allow-psc-nat-80", "--network=default", "--action=ALLOW",
        "--rules=tcp:80", "--source-ranges=10.100.0.0/28", "--target-tags=psc-demo",
    )  # fmt: skip
    sh.gcloud("compute", "firewall-rules", "update", "allow-psc-nat-80", "--rules=tcp:80,tcp:8080", "--priority=900")
    fw = json.loads(sh.gcloud("compute", "firewall-rules", "describe", "allow-psc-nat-80", "--format=json"))
    assert fw["allowed"] == [{"IPProtocol": "tcp", "ports": ["80"]}, {"IPProtocol": "tcp", "ports": ["8080"]}]
    assert (fw["priority"], fw["sourceRanges"], fw["targetTags"]) == (900, ["10.100.0.0/28"], ["psc-demo"])

    sh.gcloud("compute", "networks", "subnets", "update", "default", r, "--enable-flow-logs")
    sh.gcloud("compute", "networks", "subnets", "update", "default", r, "--enable-private-ip-google-access")
    sub = json.loads(sh.gcloud("compute", "networks", "subnets", "describe", "default", r, "--format=json"))
    assert sub["logConfig"]["enable"] is True and sub["privateIpGoogleAccess"] is True
