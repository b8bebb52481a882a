"""Every ``-o json`` output of the CLI is validated against the JSON Schema shipped for it, and
the spec's schema is generated from the spec dataclasses."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from apigee_psc import _schema
from apigee_psc.cli import cli
from apigee_psc.emulator import EmulatorServer
from apigee_psc.southbound import spec as spec_module

ROOT = Path(__file__).resolve().parents[2]
SEED = str(ROOT / "examples" / "seed-scenario.yaml")


def validate(name: str, text: str) -> Any:
    data = json.loads(text)
    jsonschema.Draft202012Validator(_schema.load(name)).validate(data)
    return data


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("name", _schema.NAMES)
def test_every_schema_is_a_valid_json_schema_and_printed_by_the_cli(name: str) -> None:
    jsonschema.Draft202012Validator.check_schema(_schema.load(name))
    code, out, _ = run("schema", name)
    assert code == 0 and json.loads(out) == _schema.load(name)


def test_schema_lists_the_names_and_refuses_an_unknown_one() -> None:
    code, out, _ = run("schema")
    assert code == 0 and out.split() == list(_schema.NAMES)
    code, _, err = run("schema", "nope")
    assert code == 2 and "status" in err


def test_the_schemas_ship_in_the_package() -> None:
    shipped = {p.stem for p in (ROOT / "apigee_psc" / "schemas").glob("*.json")}
    assert shipped == set(_schema.NAMES)
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"apigee_psc.schemas" = ["*.json"]' in pyproject


def test_every_json_output_matches_its_schema(producer: EmulatorServer, tmp_path: Path) -> None:
    code, out, _ = run("plan", SEED, "-o", "json")
    assert code == 0 and validate("plan", out)["summary"] == {"create": 7}
    code, out, _ = run("status", SEED, "-o", "json")
    assert code == 1 and validate("status", out)["state"] == "not_found"
    code, out, _ = run("apply", SEED, "--yes", "-o", "json")
    assert code == 0 and validate("status", out)["state"] == "in_sync"
    code, out, _ = run("status", SEED, "-o", "json")
    assert code == 0 and validate("status", out)["reports"][0]["spec"] == SEED
    code, out, _ = run("plan", SEED, SEED, "-o", "json")
    assert code == 0 and len(validate("plan", out)) == 2
    code, out, _ = run("list", "--org", "my-organization", "-o", "json")
    assert code == 0 and validate("list", out)[0]["connection_state"] == "ACCEPTED"
    code, out, _ = run("diagnose", "--org", "my-organization", "gkebackend", "-o", "json")
    assert code == 0 and validate("diagnose", out)["ok"] is True
    code, out, _ = run("target-xml", SEED, "-o", "json")
    assert code == 0 and validate("target-xml", out)["url"] == "http://orders.example.com/orders"
    code, out, _ = run("destroy", SEED, "--yes", "-o", "json")
    assert code == 0 and validate("destroy", out)["reports"][0]["summary"]["deleted"] == 6
    assert run("apply", SEED, "--yes")[0] == 0  # back, for the commands below
    code, _, err = run("diagnose", "--org", "my-organization", "nosuch", "-o", "json")
    assert code == 1 and validate("error", err)["error"]["type"] == "NotFound"
    broken = tmp_path / "broken.yaml"
    broken.write_text("organization: [unclosed\n")
    code, _, err = run("plan", str(broken), "-o", "json")
    assert code == 2 and validate("error", err)["error"]["exit_code"] == 2
    code, _, err = run("status", "-o", "json")
    assert code == 2 and validate("error", err)["error"]["type"] == "ValidationError"


def test_a_schema_is_not_a_rubber_stamp() -> None:
    with pytest.raises(jsonschema.ValidationError):
        validate("status", json.dumps({"state": "in_sync", "details": []}))  # the old one-spec shape
    with pytest.raises(jsonschema.ValidationError):
        validate("error", json.dumps({"error": {"type": "X", "message": "m"}}))


def test_demo_json_matches_its_schema_in_a_real_subprocess() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "apigee_psc", "demo", "--op-seconds", "0", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert validate("demo", done.stdout)["report"]["state"] == "in_sync"


def test_the_spec_schema_is_generated_from_the_dataclasses() -> None:
    schema = _schema.generate_spec_schema()
    classes = [spec_module.SouthboundSpec]
    seen = set()
    while classes:
        cls = classes.pop()
        if cls.__name__ in seen:
            continue
        seen.add(cls.__name__)
        node = schema if cls is spec_module.SouthboundSpec else schema["$defs"][cls.__name__]
        keys = {f.name for f in dataclasses.fields(cls) if f.init and f.compare}
        assert set(node["properties"]) == keys, cls.__name__
        for f in dataclasses.fields(cls):
            for candidate in vars(spec_module).values():
                if (
                    isinstance(candidate, type)
                    and dataclasses.is_dataclass(candidate)
                    and candidate.__name__ in str(f.type)
                ):
                    classes.append(candidate)
    assert {"NatSubnetSpec", "ServiceAttachmentSpec", "DnsSpec", "DnsZoneSpec"} <= seen
    sa = schema["$defs"]["ServiceAttachmentSpec"]["properties"]["connection_preference"]
    assert sa["enum"] == ["ACCEPT_AUTOMATIC", "ACCEPT_MANUAL"] and sa["default"] == "ACCEPT_AUTOMATIC"


def test_a_field_added_to_a_spec_dataclass_appears_in_the_schema() -> None:
    @dataclasses.dataclass(frozen=True)
    class Extra:
        """An extra block."""

        name: str
        count: int = 3
        tags: tuple[str, ...] = ()

    defs: dict[str, Any] = {}
    assert _schema._type(Extra | None, defs) == {"anyOf": [{"$ref": "#/$defs/Extra"}, {"type": "null"}]}
    assert defs["Extra"]["properties"] == {
        "name": {"type": "string"},
        "count": {"type": "integer", "default": 3},
        "tags": {"type": "array", "items": {"type": "string"}, "default": []},
    }
    assert defs["Extra"]["required"] == ["name"] and defs["Extra"]["additionalProperties"] is False


def test_the_shipped_spec_schema_is_current() -> None:
    assert _schema.main(["--check"]) == 0, "run: python -m apigee_psc._schema"


def test_the_examples_and_the_spec_schema_agree() -> None:
    validator = jsonschema.Draft202012Validator(_schema.load("spec"))
    for path in [*ROOT.glob("examples/*.yaml"), *ROOT.glob("examples/fleet/*.yaml")]:
        validator.validate(yaml.safe_load(path.read_text()))
    bad = {**yaml.safe_load(Path(SEED).read_text()), "service_atachment": {"name": "x"}}
    assert not validator.is_valid(bad)


def test_a_spec_with_several_problems_lists_them_all_as_json_and_calls_nothing(
    producer: EmulatorServer, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    seed = yaml.safe_load(Path(SEED).read_text())
    seed["region"] = "nowhere"
    seed["service_attachment"]["connection_preference"] = "MAYBE"
    seed["colour"] = "blue"
    bad.write_text(yaml.safe_dump(seed))
    before = len(producer.requests())
    code, _, err = run("apply", str(bad), "--yes", "-o", "json")
    error = validate("error", err)["error"]
    assert code == 2 and error["type"] == "ValidationError"
    assert [p["field"] for p in error["problems"]] == ["colour", "region", "service_attachment.connection_preference"]
    assert {p["source"] for p in error["problems"]} == {str(bad)}
    code, _, text_err = run("plan", str(bad))
    assert code == 2 and text_err.splitlines()[0] == f"error: {bad}: 3 problems:"
    assert len(producer.requests()) == before  # nothing was asked of any API


def test_plan_differences_are_data_with_live_and_wanted(producer: EmulatorServer, tmp_path: Path) -> None:
    assert run("apply", SEED, "--yes")[0] == 0
    changed = tmp_path / "changed.yaml"
    seed = yaml.safe_load(Path(SEED).read_text())
    seed["firewall"]["target_tags"] = ["psc-demo", "web"]
    changed.write_text(yaml.safe_dump(seed))
    code, out, _ = run("plan", str(changed), "-o", "json")
    plan = validate("plan", out)
    (change,) = [c for c in plan["changes"] if c["kind"] == "Firewall"]
    assert code == 0 and change["action"] in ("update", "replace")
    tags = {"field": "target_tags", "op": "set", "live": ["psc-demo"], "wanted": ["psc-demo", "web"]}
    assert tags in change["fields"]


def test_every_example_names_the_spec_schema_for_editors() -> None:
    """The first line is a yaml-language-server modeline: VS Code and other editors with the
    YAML language server then complete and check the spec while it is written."""
    examples = sorted([*ROOT.glob("examples/*.yaml"), *ROOT.glob("examples/fleet/*.yaml")])
    assert len(examples) >= 7
    for path in examples:
        first = path.read_text().splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema="), path
        schema = (path.parent / first.split("$schema=", 1)[1]).resolve()
        assert schema == (ROOT / "apigee_psc" / "schemas" / "spec.json").resolve(), path
        jsonschema.Draft202012Validator(json.loads(schema.read_text())).validate(yaml.safe_load(path.read_text()))


def test_the_spec_schema_says_where_organization_and_project_default_from() -> None:
    schema = _schema.load("spec")
    assert "APIGEE_PSC_ORGANIZATION" in schema["properties"]["organization"]["description"]
    project = schema["properties"]["project"]["description"]
    assert "GOOGLE_CLOUD_PROJECT" in project and "gcloud" in project
    # what the command line accepts, the schema accepts: a spec that leaves both out
    spec = {k: v for k, v in yaml.safe_load(Path(SEED).read_text()).items() if k not in ("organization", "project")}
    jsonschema.Draft202012Validator(schema).validate(spec)
