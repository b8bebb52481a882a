"""The commands that only read: ``status``, ``diagnose``, ``list`` and ``target-xml``."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from apigee_psc.cli._common import (
    EXIT_NOT_READY,
    EXIT_OK,
    ORG,
    SPECS,
    State,
    client_options,
    command_options,
    emit,
    emit_reports,
    exit_after_reports,
    reported,
    southbound,
    table,
)
from apigee_psc.cli._files import load_specs


@click.command()
@SPECS
@command_options
def status(state: State, specs: tuple[str, ...], output: str) -> None:
    """Report the realization state of every entity of each spec (one JSON shape for one or many)."""
    with reported(state):
        reports = [southbound(spec, state).status() for spec in load_specs(specs, state)]
    emit_reports(output, reports)
    exit_after_reports(reports)


@click.command()
@ORG
@click.argument("name")
@command_options
def diagnose(state: State, organization: str, name: str, output: str) -> None:
    """Explain an endpoint attachment's connection state and what to do about it."""
    from apigee_psc.southbound import diagnose_attachment

    with reported(state):
        attachment, diagnosis = diagnose_attachment(organization, name, **client_options(state))
    data: dict[str, Any] = {
        "name": attachment.resource_name,
        "state": str(attachment.state),
        "connection_state": str(attachment.connection_state),
        "host": attachment.host,
        "service_attachment": attachment.service_attachment,
        "cause": diagnosis.cause,
        "fix": diagnosis.fix,
        "ok": diagnosis.ok,
    }
    text = (
        f"{attachment.resource_name}: {attachment.state}/{attachment.connection_state} host {attachment.host}\n"
        f"  cause: {diagnosis.cause}\n  fix:   {diagnosis.fix or 'nothing to do'}"
    )
    if attachment.service_attachment:
        from apigee_psc.southbound.capacity import read_capacity

        capacity = read_capacity(attachment.service_attachment, **client_options(state))
        if capacity is not None:
            data["capacity"] = capacity.to_dict()
            text += f"\n  NAT:   {capacity} on {attachment.service_attachment}"
    emit(output, data, text)
    sys.exit(EXIT_OK if diagnosis.ok and str(attachment.state) == "ACTIVE" else EXIT_NOT_READY)


@click.command(name="list")
@ORG
@command_options
def list_(state: State, organization: str, output: str) -> None:
    """List the organization's endpoint attachments."""
    from apigee_psc.apigee import ApigeeClient

    with reported(state):
        attachments = list(ApigeeClient(organization, **client_options(state)).endpoint_attachments.list())
    rows = [
        {
            "name": a.name,
            "location": a.location,
            "host": a.host,
            "state": str(a.state),
            "connection_state": str(a.connection_state),
            "service_attachment": a.service_attachment,
        }
        for a in attachments
    ]
    text = table(
        ("NAME", "LOCATION", "HOST", "STATE", "CONNECTION", "SERVICE ATTACHMENT"),
        [
            (r["name"], r["location"], r["host"] or "-", r["state"], r["connection_state"], r["service_attachment"])
            for r in rows
        ],
    )
    emit(output, rows, text if rows else "No endpoint attachments.")


@click.command(name="target-xml")
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False, allow_dash=True))
@command_options
def target_xml(state: State, spec_path: str, output: str) -> None:
    """Print the TargetEndpoint XML for a spec's connection (the DNS record, else the host IP)."""
    with reported(state):
        spec = load_specs([spec_path], state)[0]
        xml = southbound(spec, state).target_xml()
    if output == "json":
        from xml.etree import ElementTree

        url = ElementTree.fromstring(xml).findtext("HTTPTargetConnection/URL")
        click.echo(json.dumps({"url": url, "xml": xml}, indent=2))
    else:
        click.echo(xml, nl=False)
