"""The files the commands read and write: specs (from a file or standard input, with the
project and organization filled from the options) and plans saved by ``plan --out``."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from apigee_psc import errors
from apigee_psc.cli._common import ORGANIZATION_ENV, State, plans_data

if TYPE_CHECKING:
    from apigee_psc.southbound.plan import Plan
    from apigee_psc.southbound.spec import SouthboundSpec


def load_specs(paths: Sequence[str], state: State) -> list[SouthboundSpec]:
    """The specs of ``paths`` (at least one; ``-``, standard input, at most once)."""
    if not paths:
        raise errors.ValidationError("SPEC", "", "at least one spec file (or - for standard input)")
    if list(paths).count("-") > 1:
        raise errors.ValidationError("SPEC", "-", "standard input at most once")
    return [_read_spec(path, state) for path in paths]


def _read_spec(path: str, state: State) -> SouthboundSpec:
    """Read one spec (``-`` is standard input), filling ``project`` and ``organization`` from
    ``--project``/the environment when the file leaves them out."""
    from apigee_psc import _yaml
    from apigee_psc.southbound.spec import FILE_FIELD, SouthboundSpec, read_spec_text

    source = "<stdin>" if path == "-" else path
    text = read_spec_text(path)  # a regular file or standard input, at most 1 MiB, UTF-8
    if is_saved_plan(text):
        shown = "FILE" if path == "-" else path
        raise errors.ValidationError(
            FILE_FIELD,
            "a saved plan",
            f"a spec, not a plan saved by `plan --out`: show it with `apigee-psc show {shown}`, "
            f"apply it with `apigee-psc apply {shown}`",
            source=source,
        )
    positions: dict[str, tuple[int, int]] = {}  # where each key stands, for the problems' line:column
    data = _yaml.load(text, source, field=FILE_FIELD, positions=positions)  # capped: size, depth, aliases, keys
    if isinstance(data, Mapping):
        defaults = {"project": state.project, "organization": os.environ.get(ORGANIZATION_ENV) or None}
        if not data.get("project") and not state.project:
            if state.credentials_project is None:
                state.credentials_project = (_credentials_project(state),)
            defaults["project"] = state.credentials_project[0]
        data = {**{k: v for k, v in defaults.items() if v and k not in data}, **data}
    return SouthboundSpec.from_dict(data, source=source, positions=positions)  # type: ignore[arg-type]


def _credentials_project(state: State) -> str | None:
    """The project ``google.auth.default()`` finds: the active gcloud configuration's (with
    ``gcloud auth application-default login``), a service account key's, or the metadata
    server's. Against an emulator, only a credentials file is asked (no metadata server probe)."""
    import google.auth
    import google.auth.exceptions
    from google.auth import _cloud_sdk

    from apigee_psc._endpoints import EMULATOR_ENV

    if state.endpoint or os.environ.get(EMULATOR_ENV, "").strip():
        key = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
        well_known = _cloud_sdk.get_application_default_credentials_path()  # type: ignore[no-untyped-call]
        if not key and not os.path.isfile(well_known):
            return None
    try:
        _, project = google.auth.default()
    except google.auth.exceptions.DefaultCredentialsError:
        return None
    return project or None


def is_saved_plan(text: str) -> bool:
    """True for the text of a plan saved by ``plan --out`` (a JSON object or array of plans)."""
    from apigee_psc.southbound.plan import PLAN_FORMAT

    return text.lstrip()[:1] in ("{", "[") and f'"{PLAN_FORMAT}"' in text


def read_saved_plans(path: str, text: str) -> list[Plan]:
    """The plans of a saved plan file: one (an object) or a fleet's (an array of objects)."""
    from apigee_psc.southbound.plan import Plan as SavedPlan

    try:
        data = json.loads(text)
    except ValueError as exc:
        raise errors.ValidationError(path, text[:40], f"a plan saved by plan --out (JSON: {exc})") from None
    items = data if isinstance(data, list) else [data]
    if not items:
        raise errors.ValidationError(path, "[]", "a plan saved by plan --out (this array holds none)")
    plans = [SavedPlan.from_dict(item) for item in items]
    if len({p.spec_source for p in plans}) != len(plans):
        raise errors.ValidationError(path, "plans", "one plan per spec (the file names a spec twice)")
    return plans


def saved_plans_among(paths: Sequence[str]) -> list[Plan] | None:
    """The saved plans of ``paths`` (a JSON file of :data:`PLAN_FORMAT`: one plan, or a fleet's
    as an array), if it is one.

    A saved plan is applied alone: given with other files it is an error."""
    from apigee_psc.southbound.spec import read_spec_text

    found: list[tuple[str, str]] = []
    for path in paths:
        if path == "-":
            continue
        text = read_spec_text(path)
        if is_saved_plan(text):
            found.append((path, text))
    if not found:
        return None
    if len(paths) > 1:
        raise errors.ValidationError("SPEC", found[0][0], "a saved plan alone (apply one saved plan at a time)")
    path, text = found[0]
    plans = read_saved_plans(path, text)
    for plan in plans:
        if plan.spec is None:
            raise errors.ValidationError(
                path, "spec_document", "a saved plan that holds its spec (made by plan --out)"
            )
    return plans


def save_plans(plans: Sequence[Plan], path: str) -> None:
    """Write the plans to ``path`` whole or not at all (a temporary file renamed over it): one
    spec's plan as an object, a fleet's as an array of them (what ``plan -o json`` prints)."""
    target = Path(path)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(json.dumps(plans_data(plans), indent=2) + "\n", encoding="utf-8")
        os.replace(temporary, target)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise errors.ValidationError("--out", path, f"a file that can be written ({exc.strerror})") from None
    click.echo(
        f"Saved the plan to {path}; review it with: apigee-psc show {path}; apply it with: apigee-psc apply {path}",
        err=True,
    )
