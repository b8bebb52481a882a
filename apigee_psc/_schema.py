"""JSON Schemas of the CLI's JSON outputs and of the spec.

The output schemas are files shipped in ``apigee_psc/schemas/``. The spec's schema is generated
from the spec dataclasses of :mod:`apigee_psc.southbound.spec` by introspection (field names,
type hints, defaults, docstrings), so a field added there appears in the schema without being
written twice; ``schemas/spec.json`` is that generation, written by
``python -m apigee_psc._schema`` and checked to be current by the tests.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import json
import sys
import types
import typing
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["NAMES", "generate_spec_schema", "load"]

#: The schemas ``apigee-psc schema NAME`` prints.
NAMES = (
    "demo",
    "destroy",
    "destroy-plan",
    "diagnose",
    "error",
    "event",
    "list",
    "plan",
    "spec",
    "status",
    "target-xml",
)

_SCALARS: dict[type, str] = {str: "string", bool: "boolean", int: "integer", float: "number"}


def load(name: str) -> dict[str, Any]:
    """The schema called ``name`` (one of :data:`NAMES`); ``spec`` is generated afresh."""
    if name not in NAMES:
        raise KeyError(f"no schema {name!r}; one of: {', '.join(NAMES)}")
    if name == "spec":
        return generate_spec_schema()
    text = resources.files("apigee_psc").joinpath("schemas").joinpath(f"{name}.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _description(cls: type) -> str:
    """The class docstring, paragraphs joined, without reST markup."""
    doc = inspect.getdoc(cls) or ""
    if doc.startswith(f"{cls.__name__}("):  # dataclasses' generated signature
        return ""
    return " ".join(doc.replace("``", "`").split())


def _type(hint: Any, defs: dict[str, Any]) -> dict[str, Any]:
    """The schema of one type hint."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return {}
    if hint is type(None):
        return {"type": "null"}
    if origin in (typing.Union, types.UnionType):
        options = [_type(arg, defs) for arg in args]
        scalar = [o["type"] for o in options if set(o) == {"type"} and isinstance(o["type"], str)]
        if len(scalar) == len(options):
            return {"type": scalar}
        return {"anyOf": options}
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin in (tuple, list, Sequence) or hint in (tuple, list):
        items = [a for a in args if a is not Ellipsis]
        schema: dict[str, Any] = {"type": "array"}
        if len(items) == 1:
            schema["items"] = _type(items[0], defs)
        return schema
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        schema = {"type": "object"}
        if len(args) == 2:
            schema["additionalProperties"] = _type(args[1], defs)
        return schema
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return {"enum": [member.value for member in hint]}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        _define(hint, defs)
        return {"$ref": f"#/$defs/{hint.__name__}"}
    if isinstance(hint, type):
        for base, name in _SCALARS.items():
            if issubclass(hint, base):
                return {"type": name}
    raise TypeError(f"no JSON Schema for the type hint {hint!r}")


def _default(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple):
        return list(value)
    return value


def _object(cls: type, defs: dict[str, Any]) -> dict[str, Any]:
    """The schema of a spec dataclass: one property per field that a spec file may set."""
    hints = typing.get_type_hints(cls)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for field in dataclasses.fields(cls):
        if not field.init or not field.compare:  # e.g. ``source``: where the spec came from, not a key
            continue
        schema = _type(hints[field.name], defs)
        if field.default is not dataclasses.MISSING:
            if field.default is not None:
                schema = {**schema, "default": _default(field.default)}
        elif field.default_factory is not dataclasses.MISSING:
            schema = {**schema, "default": _default(field.default_factory())}
        elif not field.metadata.get("filled_in"):  # the command line fills it in when left out
            required.append(field.name)
        if field.metadata.get("description"):
            schema = {"description": field.metadata["description"], **schema}
        properties[field.name] = schema
    data: dict[str, Any] = {"type": "object"}
    description = _description(cls)
    if description:
        data["description"] = description
    data["properties"] = properties
    if required:
        data["required"] = required
    data["additionalProperties"] = False
    return data


def _define(cls: type, defs: dict[str, Any]) -> None:
    if cls.__name__ not in defs:
        defs[cls.__name__] = {}  # placeholder against recursion
        defs[cls.__name__] = _object(cls, defs)


def generate_spec_schema() -> dict[str, Any]:
    """The spec file's JSON Schema, from :class:`~apigee_psc.southbound.spec.SouthboundSpec`.

    It describes the keys, types, defaults and required keys; the finer rules (name patterns,
    CIDR ranges, cross-field constraints) are checked by ``SouthboundSpec.from_yaml``, which
    reports every rule it finds broken with the file and key path.
    """
    from apigee_psc.southbound.spec import SouthboundSpec

    defs: dict[str, Any] = {}
    root = _object(SouthboundSpec, defs)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "apigee-psc/spec.json",
        "title": "apigee-psc spec (generated from apigee_psc.southbound.spec)",
        **root,
        "$defs": dict(sorted(defs.items())),
    }


def _render(schema: Mapping[str, Any]) -> str:
    return json.dumps(schema, indent=2) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m apigee_psc._schema [--check]``: write (or check) ``schemas/spec.json``."""
    args = list(sys.argv[1:] if argv is None else argv)
    path = Path(__file__).parent / "schemas" / "spec.json"
    text = _render(generate_spec_schema())
    if args == ["--check"]:
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current != text:
            print(f"{path} is out of date: run python -m apigee_psc._schema", file=sys.stderr)
            return 1
        return 0
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
