"""The spec declared once: the generic loader/dumper (apigee_psc._dataclass_io) and the line and
column of each problem in a YAML file."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from apigee_psc import _dataclass_io, _schema, _yaml
from apigee_psc.cli import cli
from apigee_psc.errors import ValidationError
from apigee_psc.southbound.spec import KNOWN_KEYS, SouthboundSpec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# Every line is numbered in the comments, so the positions asserted below can be checked by eye.
BROKEN = """\
organization: my-organization
project: my-project
region: us-west1
network: default
forwarding_rule: fr-ilb
nat_subnet:
  name: psc-subnet
  range: 10.100.0.0/33
firewall:
  name: allow-psc-nat-80
  ports: [80, 70000]
service_attachment:
  name: gkebackend
  conection_limit: 5
endpoint_attachment: {location: us-west1}
"""
# line 8: range (column 3); line 11: ports, item 70000 at column 15; line 14: the misspelt
# key (column 3); line 15: endpoint_attachment (column 1) whose name is missing.


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _error_of_file(path: Path) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        SouthboundSpec.from_yaml(path)
    return caught.value


def test_every_problem_of_a_file_is_reported_at_once_with_its_line_and_column(tmp_path: Path) -> None:
    path = _write(tmp_path, BROKEN)
    error = _error_of_file(path)
    where = [(p.field, p.line, p.column) for p in error.problems]
    assert where == [
        ("nat_subnet.range", 8, 3),
        ("firewall.ports[1]", 11, 15),
        ("service_attachment.conection_limit", 14, 3),
        ("endpoint_attachment.name", 15, 1),  # missing: it stands where its section does
    ]
    assert all(p.source == str(path) for p in error.problems)
    lines = str(error).splitlines()
    assert lines[0] == f"{path}: 4 problems:"
    assert lines[1].startswith("  nat_subnet.range: '10.100.0.0/33' is invalid: ")
    assert lines[1].endswith(f" ({path}:8:3)")
    assert lines[4].endswith(f" ({path}:15:1)")
    items = error.to_dict()
    assert [(i["field"], i["line"], i["column"]) for i in items] == where
    schema = _schema.load("error")
    body = {"error": {"type": "ValidationError", "message": str(error), "exit_code": 2, "problems": items}}
    jsonschema.Draft202012Validator(schema).validate(body)


def test_a_single_problem_in_a_file_names_file_line_and_column(tmp_path: Path) -> None:
    seed = (EXAMPLES / "seed-scenario.yaml").read_text(encoding="utf-8")
    text = seed.replace("\nregion: us-west1 ", "\nregion: us-west1-a ")
    path = _write(tmp_path, text)
    error = _error_of_file(path)
    line = 1 + next(n for n, t in enumerate(text.splitlines()) if t.startswith("region: us-west1-a"))
    assert (error.field, error.line, error.column) == ("region", line, 1)
    assert str(error).startswith(f"{path}: region: 'us-west1-a' is invalid: ")  # as before ...
    assert str(error).endswith(f" ({path}:{line}:1)")  # ... then where it stands
    assert "\n" not in str(error)


def test_a_spec_from_a_dict_has_no_position_and_keeps_its_shape() -> None:
    data = yaml.safe_load((EXAMPLES / "seed-scenario.yaml").read_text(encoding="utf-8"))
    data["region"] = "us-west1-a"
    with pytest.raises(ValidationError) as caught:
        SouthboundSpec.from_dict(data, source="x.yaml")
    assert caught.value.line is None and caught.value.column is None
    assert set(caught.value.to_dict()[0]) == {"source", "field", "value", "rule"}


def test_an_unknown_key_gets_a_hint_and_its_position(tmp_path: Path) -> None:
    error = _error_of_file(_write(tmp_path, BROKEN))
    unknown = error.problems[2]
    assert unknown.field == "service_attachment.conection_limit"
    assert "did you mean 'connection_limit'?" in unknown.rule
    assert ", ".join(KNOWN_KEYS["service_attachment"]) in unknown.rule
    far = {"organization": "o"}
    with pytest.raises(ValidationError) as caught:
        SouthboundSpec.from_dict({**far, "zzz": 1})
    assert "did you mean" not in next(p for p in caught.value.problems if p.field == "zzz").rule


def test_positions_of_yaml_keys_and_items_including_flow_style_and_aliases() -> None:
    positions: dict[str, tuple[int, int]] = {}
    text = "base: &b {name: a, ports: [1, 2]}\nother: *b\nlist:\n  - x: 1\n  - y: 2\n"
    _yaml.load(text, "t.yaml", positions=positions)
    assert positions["base"] == (1, 1)
    assert positions["base.ports[1]"] == (1, 31)
    assert positions["other.name"] == (1, 11)  # an alias stands where the node it names does
    assert positions["list[1]"] == (5, 5)
    assert positions["list[1].y"] == (5, 5)


def test_the_cli_reports_line_and_column_in_its_json_error(tmp_path: Path) -> None:
    path = _write(tmp_path, BROKEN)
    result = CliRunner().invoke(cli, ["-o", "json", "target-xml", str(path)])
    assert result.exit_code == 2, result.output
    body = json.loads(result.stderr)
    jsonschema.Draft202012Validator(_schema.load("error")).validate(body)
    problems = body["error"]["problems"]
    assert [(p["field"], p["line"], p["column"]) for p in problems][:2] == [
        ("nat_subnet.range", 8, 3),
        ("firewall.ports[1]", 11, 15),
    ]


def test_dump_leaves_defaults_out_and_round_trips(tmp_path: Path) -> None:
    data = yaml.safe_load((EXAMPLES / "seed-scenario.yaml").read_text(encoding="utf-8"))
    data["service_attachment"].update(connection_limit=10, prune=False, enable_proxy_protocol=False, domain_names=[])
    data["endpoint_attachment"]["location"] = None
    data["target"].update(scheme="http", port=None)
    data["adopt"] = False
    spec = SouthboundSpec.from_dict(data)
    out = spec.to_dict()
    assert "adopt" not in out and "location" not in out["endpoint_attachment"]
    assert set(out["service_attachment"]) == {"name", "connection_preference", "accept_projects"}
    assert out["target"] == {"path": "/orders"}
    assert SouthboundSpec.from_dict(out) == spec
    path = _write(tmp_path, spec.to_yaml())
    assert SouthboundSpec.from_yaml(path) == spec
    changed = spec.replace(adopt=True).to_dict()
    assert changed["adopt"] is True


# --------------------------------------------------------------------------- the generic loader itself


def _even(value: object, key: str) -> int:
    if not isinstance(value, int) or value % 2:
        raise ValidationError(key, value, "an even number")
    return value


@dataclass(frozen=True)
class _Inner:
    size: int = field(metadata={_dataclass_io.CHECK: _even})
    tags: tuple[str, ...] = field(default=(), metadata={_dataclass_io.ALWAYS: True})

    def __post_init__(self) -> None:
        _dataclass_io.validate(self)


@dataclass(frozen=True)
class _Outer:
    name: str
    inner: _Inner | None = None
    count: int = field(default=2, metadata={_dataclass_io.CHECK: _even})

    def __post_init__(self) -> None:
        _dataclass_io.validate(self)

    def _check_across(self) -> None:
        if self.inner is not None and self.inner.size < self.count:
            raise ValidationError("count", self.count, "at most inner.size")


def test_the_generic_loader_reads_any_dataclass_by_its_fields() -> None:
    built = _dataclass_io.load(_Outer, {"name": "n", "inner": {"size": 4}})
    assert built == _Outer("n", _Inner(4))
    assert _dataclass_io.dump(built) == {"name": "n", "inner": {"size": 4, "tags": []}}  # ALWAYS: written
    with pytest.raises(ValidationError) as caught:
        _dataclass_io.load(_Outer, {"nme": "n", "count": 3, "inner": {"size": 5, "tag": []}})
    assert [(p.field, p.rule.split(";")[0]) for p in caught.value.problems] == [
        ("nme", "unknown key"),
        ("name", "required, but missing (or empty)"),
        ("count", "an even number"),  # checked on its own although the whole cannot be built
        ("inner.tag", "unknown key"),
        ("inner.size", "an even number"),
    ]
    with pytest.raises(ValidationError, match=r"at most inner\.size"):
        _dataclass_io.load(_Outer, {"name": "n", "count": 6, "inner": {"size": 4}})
    with pytest.raises(ValidationError, match="an even number"):
        _Outer("n", count=1)  # the same rules for an instance built in Python
