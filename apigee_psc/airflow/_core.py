"""The parts of the Airflow provider that need no Airflow.

Everything here runs (and is tested) without Airflow installed: how a connection's fields
become client options (credentials, quota project, endpoint, impersonation), how an
operator's ``spec`` becomes a :class:`~apigee_psc.southbound.SouthboundSpec`, what a deferred
task waits on (:class:`Wait`, serialisable), one poll of such a wait, one pass of apply or
destroy that stops at the first long wait instead of sleeping in the worker, and how a
trigger's event becomes the library's own error (with its diagnosis and advice).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from apigee_psc import errors, waiters

if TYPE_CHECKING:
    import google.auth.credentials

    from apigee_psc.apigee import ApigeeClient
    from apigee_psc.southbound import Plan, ProgressEvent, Southbound, SouthboundSpec

__all__ = [
    "CLOUD_PLATFORM_SCOPE",
    "DEFAULT_CONN_ID",
    "WAIT_KINDS",
    "ConnectionOptions",
    "PassResult",
    "Wait",
    "apply_pass",
    "destroy_pass",
    "error_for_event",
    "extra_value",
    "impersonation_chain_list",
    "load_spec",
    "merge_destroy_reports",
    "poll",
    "resolve_connection",
]


#: The connection the hook, operators, sensor and trigger use unless told otherwise (as
#: Airflow's Google operators do; Cloud Composer creates it).
DEFAULT_CONN_ID = "google_cloud_default"
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
_EXTRA_PREFIXES = ("", "extra__google_cloud_platform__", "extra__apigee_psc__")


# -- connection -----------------------------------------------------------------------


def extra_value(extras: Mapping[str, Any], key: str) -> Any:
    """A connection extra by its short name (``key_path``) or the prefixed name older Airflow
    forms wrote (``extra__google_cloud_platform__key_path``); ``None`` when unset or empty."""
    for prefix in _EXTRA_PREFIXES:
        value = extras.get(f"{prefix}{key}")
        if value not in (None, ""):
            return value
    return None


def impersonation_chain_list(value: str | Sequence[str] | None) -> list[str]:
    """``impersonation_chain`` as Airflow's Google operators take it (one service account, a
    comma-separated string or a list; the last one is impersonated, the others are delegates)
    as a list of service account emails."""
    if value is None or value == "":
        return []
    items = [part.strip() for part in value.split(",")] if isinstance(value, str) else list(value)
    for item in items:
        if not isinstance(item, str) or "@" not in item or item != item.strip() or not item:
            raise errors.ValidationError(
                "impersonation_chain", item, "service account emails (name@project.iam.gserviceaccount.com)"
            )
    return items


@dataclass(frozen=True)
class ConnectionOptions:
    """What a connection gives the library's clients: ``credentials`` (``None``: Application
    Default Credentials, or anonymous against a plain-http emulator), ``quota_project_id``,
    ``endpoint`` and the connection's default ``project_id``."""

    credentials: google.auth.credentials.Credentials | None = None
    quota_project_id: str | None = None
    endpoint: str | None = None
    project_id: str | None = None

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for :class:`~apigee_psc.Southbound` and every client."""
        return {"credentials": self.credentials, "quota_project_id": self.quota_project_id, "endpoint": self.endpoint}


def _scopes(extras: Mapping[str, Any]) -> list[str]:
    value = extra_value(extras, "scope")
    if value is None:
        return [CLOUD_PLATFORM_SCOPE]
    scopes = [s.strip() for s in str(value).split(",") if s.strip()]
    return scopes or [CLOUD_PLATFORM_SCOPE]


def resolve_connection(
    extras: Mapping[str, Any],
    *,
    impersonation_chain: str | Sequence[str] | None = None,
    default_credentials: Callable[..., tuple[Any, Any]] | None = None,
) -> ConnectionOptions:
    """Turn a connection's extras into :class:`ConnectionOptions`.

    The fields are those of Airflow's Google connection: ``keyfile_dict`` (a service account
    key, JSON text or an object), ``key_path`` (a key file), neither (Application Default
    Credentials, through ``default_credentials``, by default ``google.auth.default``),
    ``scope`` (comma-separated), ``project``, ``quota_project_id``, ``impersonation_chain``;
    plus ``endpoint`` (an emulator or a private endpoint). ``impersonation_chain`` given to
    the operator wins over the connection's. A plain-http ``endpoint`` is an emulator: no
    credentials are resolved (the library sends none to it). Bad fields raise
    :class:`~apigee_psc.errors.ValidationError` before any call.
    """
    endpoint = extra_value(extras, "endpoint")
    if endpoint is not None and not isinstance(endpoint, str):
        raise errors.ValidationError("endpoint", endpoint, "an http(s) URL such as http://127.0.0.1:8089")
    quota = extra_value(extras, "quota_project_id")
    project = extra_value(extras, "project")
    for name, value in (("quota_project_id", quota), ("project", project)):
        if value is not None and not isinstance(value, str):
            raise errors.ValidationError(name, value, "a project id")
    chain = impersonation_chain_list(
        impersonation_chain if impersonation_chain else extra_value(extras, "impersonation_chain")
    )
    keyfile = extra_value(extras, "keyfile_dict")
    key_path = extra_value(extras, "key_path")
    if keyfile is not None and key_path is not None:
        raise errors.ValidationError("key_path", key_path, "either key_path or keyfile_dict, not both")
    if endpoint is not None and endpoint.strip().lower().startswith("http://"):
        if keyfile is not None or key_path is not None or chain:
            raise errors.ValidationError(
                "endpoint", endpoint, "https:// when credentials are set (plain http:// is only for an emulator)"
            )
        return ConnectionOptions(None, quota, endpoint, project)
    scopes = _scopes(extras)
    credentials: Any = None
    if keyfile is not None:
        from google.oauth2 import service_account

        info = keyfile
        if isinstance(keyfile, str):
            try:
                info = json.loads(keyfile)
            except ValueError:
                raise errors.ValidationError("keyfile_dict", "<hidden>", "a service account key (JSON)") from None
        if not isinstance(info, Mapping):
            raise errors.ValidationError("keyfile_dict", "<hidden>", "a service account key (JSON object)")
        try:
            credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                dict(info), scopes=scopes
            )
        except (ValueError, KeyError) as exc:
            raise errors.ValidationError("keyfile_dict", "<hidden>", f"a service account key ({exc})") from None
    elif key_path is not None:
        from google.oauth2 import service_account

        if not isinstance(key_path, str) or not key_path.endswith(".json"):
            raise errors.ValidationError("key_path", key_path, "the path of a service account key file (*.json)")
        try:
            credentials = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
                key_path, scopes=scopes
            )
        except (OSError, ValueError, KeyError) as exc:
            raise errors.ValidationError("key_path", key_path, f"a readable service account key file ({exc})") from None
    elif chain:
        import google.auth

        credentials, _ = (default_credentials or google.auth.default)(scopes=scopes)
    if chain:
        from google.auth import impersonated_credentials

        credentials = impersonated_credentials.Credentials(  # type: ignore[no-untyped-call]
            source_credentials=credentials,
            target_principal=chain[-1],
            delegates=chain[:-1] or None,
            target_scopes=scopes,
        )
    return ConnectionOptions(credentials, quota, endpoint, project)


# -- spec -----------------------------------------------------------------------------


def load_spec(value: object, *, source: str | None = None) -> SouthboundSpec:
    """An operator's ``spec``: a :class:`SouthboundSpec`, a dict, a path to a YAML file, or YAML
    text (what Airflow leaves after rendering a templated ``*.yaml`` file)."""
    from pathlib import Path

    from apigee_psc import _yaml
    from apigee_psc.southbound.spec import SouthboundSpec

    if isinstance(value, SouthboundSpec):
        return value
    if isinstance(value, Mapping):
        return SouthboundSpec.from_dict(value, source=source)
    if isinstance(value, str) and value.strip():
        text = value.strip()
        if "\n" not in text and text.endswith((".yaml", ".yml")):
            if not Path(text).is_file():
                raise errors.ValidationError("spec", value, "an existing YAML file, a dict or YAML text")
            return SouthboundSpec.from_yaml(text)
        data = _yaml.load(value, source, field="spec")
        if not isinstance(data, Mapping):
            raise errors.ValidationError("spec", value, "a YAML mapping (organization, project, region, ...)")
        return SouthboundSpec.from_dict(data, source=source)
    raise errors.ValidationError("spec", value, "a SouthboundSpec, a dict, a YAML file path or YAML text")


# -- waits ----------------------------------------------------------------------------

#: What a deferred task can wait on, each with the library's declared waiter.
WAIT_KINDS: dict[str, waiters.Waiter] = {
    "operation": waiters.OPERATION_DONE,
    "attachment_ready": waiters.ATTACHMENT_READY,
    "attachment_deleted": waiters.ATTACHMENT_DELETED,
    "dns_zone_active": waiters.DNS_ZONE_ACTIVE,
    "dns_zone_deleted": waiters.DNS_ZONE_DELETED,
}


@dataclass(frozen=True)
class Wait:
    """One thing a deferred task waits on: an Apigee ``operation`` by its full name, or an
    endpoint attachment / DNS zone (by id) becoming ready or gone. JSON-serialisable, so a
    trigger resumes it after a triggerer restart from its name alone."""

    kind: str
    name: str

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or self.kind not in WAIT_KINDS:
            raise errors.ValidationError("wait.kind", self.kind, f"one of {sorted(WAIT_KINDS)}")
        if not isinstance(self.name, str) or not self.name:
            raise errors.ValidationError("wait.name", self.name, "a non-empty name")

    @property
    def waiter(self) -> waiters.Waiter:
        """The library's declared waiter for this kind."""
        return WAIT_KINDS[self.kind]

    def describe(self) -> str:
        """What is awaited, for logs: ``endpoint attachment to be ACTIVE and ACCEPTED (gkebackend)``."""
        return f"{self.waiter.awaits} ({self.name})"

    def to_dict(self) -> dict[str, str]:
        """``{"kind", "name"}``."""
        return {"kind": self.kind, "name": self.name}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Wait:
        """Read :meth:`to_dict`'s output back."""
        return cls(data.get("kind"), data.get("name"))  # type: ignore[arg-type]  # checked in __post_init__


def _reader(apigee: ApigeeClient, kind: str) -> Callable[[str], Any]:
    if kind == "operation":
        return apigee.operations.get
    if kind.startswith("attachment"):
        return apigee.endpoint_attachments.get
    return apigee.dns_zones.get


def poll(apigee: ApigeeClient, wait: Wait, elapsed: float) -> tuple[str | None, str]:
    """Read ``wait``'s resource once and judge it with the library's waiter: returns the
    outcome (``success``, ``failure`` or ``None`` to poll again) and the state seen
    (``ACTIVE/PENDING``). An error no acceptor expects is raised."""
    value: Any = None
    error: errors.ApigeePscError | None = None
    try:
        value = _reader(apigee, wait.kind)(wait.name)
    except errors.ApigeePscError as exc:
        error = exc
    outcome = wait.waiter.evaluate(value, error, elapsed)
    if error is not None and outcome is None:
        raise error
    return (None if outcome == "retry" else outcome), wait.waiter.describe(value, error)


def error_for_event(apigee: ApigeeClient, event: Mapping[str, Any], *, organization: str) -> errors.ApigeePscError:
    """The library's error for a trigger's event that did not succeed (``failed``, ``timeout``
    or ``error``), read afresh so that it carries the library's diagnosis and advice: a
    failed operation's own error; a connection that cannot be or was not accepted in time as
    :class:`~apigee_psc.errors.ConnectionNotAccepted` (which project to accept, and where);
    any other deadline as :class:`~apigee_psc.errors.WaitTimeout` naming how to resume."""
    from apigee_psc.southbound import diagnose_attachment

    status = event.get("status")
    if status == "error":
        cls = getattr(errors, str(event.get("type")), None)
        message = str(event.get("message") or "the trigger failed")
        if isinstance(cls, type) and issubclass(cls, errors.ApiError) and cls.__init__ is errors.ApiError.__init__:
            return cls(message)
        return errors.ApiError(message)
    wait = Wait.from_dict(event.get("wait") or {})
    state = str(event.get("state") or "unknown")
    elapsed = float(event.get("elapsed") or 0.0)
    if wait.kind == "operation":
        operation = apigee.operations.get(wait.name)
        failure = operation.exception() if operation.done else None
        if failure is not None:
            return failure
        resume = f"ApigeeClient({organization!r}).operations.wait({wait.name!r})"
        return errors.WaitTimeout(
            f"operation {wait.name}", last_state=state, elapsed=elapsed, operation=wait.name, resume=resume
        )
    if wait.kind == "attachment_ready":
        try:
            attachment, diagnosis = diagnose_attachment(organization, wait.name, apigee=apigee)
        except errors.NotFound:
            return errors.WaitTimeout(wait.describe(), last_state="not found", elapsed=elapsed)
        if str(attachment.state) == "DELETING":
            from apigee_psc.diagnosis import Diagnosis

            gone = Diagnosis(
                attachment.connection_state, "the endpoint attachment is being deleted", None, terminal=True
            )
            return errors.ConnectionNotAccepted(gone, attachment=attachment)
        if status == "failed" or str(attachment.state) == "ACTIVE":
            return errors.ConnectionNotAccepted(diagnosis, attachment=attachment)
        return errors.WaitTimeout(
            wait.describe(), last_state=f"{attachment.state}/{attachment.connection_state}", elapsed=elapsed,
            diagnosis=diagnosis,
        )
    if status == "failed":
        return errors.ApiError(f"{wait.describe()} failed: {state}")
    return errors.WaitTimeout(wait.describe(), last_state=state, elapsed=elapsed)


# -- passes ---------------------------------------------------------------------------

#: The kinds whose waits are long (minutes to hours) and run on the triggerer when deferring.
DEFERRED_KINDS = frozenset({"EndpointAttachment", "DnsZone"})


@dataclass
class PassResult:
    """What one pass of apply or destroy in the worker ended with: the report (``to_dict()``)
    when it finished, else the waits to defer on (empty: run another pass at once)."""

    report: dict[str, Any] | None
    waits: list[Wait] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    #: What a stopped pass had done (destroy: ``{"entities": [...]}`` deleted or kept so far).
    partial: dict[str, Any] | None = None

    @property
    def finished(self) -> bool:
        """True if the pass ran to the end."""
        return self.report is not None


class _StopAtLongWait:
    """A ``progress`` callback that cancels the run at the first wait of a long kind (not the
    organization lock: that wait is the library's own safety net and stays in the worker)."""

    def __init__(self, defer: bool, log: Callable[[str], None] | None) -> None:
        self.defer = defer
        self.log = log
        self.cancel = threading.Event()
        self.kinds: set[str] = set()
        self.events: list[str] = []
        self.steps: list[tuple[str, str, str, str]] = []  # (status, kind, name, detail) of each step's end
        self.started: list[tuple[str, str]] = []  # (kind, name) of each step begun
        self._guard = threading.Lock()

    def __call__(self, event: ProgressEvent) -> None:
        text = event.to_text()
        with self._guard:
            self.events.append(text)
            if event.kind is not None and event.status in ("done", "skipped"):
                self.steps.append((event.status, event.kind, str(event.name), event.detail))
            elif event.kind is not None and event.status == "started":
                self.started.append((event.kind, str(event.name)))
        if self.log is not None:
            self.log(text)
        if not self.defer or event.status != "waiting" or event.kind not in DEFERRED_KINDS:
            return
        if event.detail.startswith("for the organization lock"):
            return
        with self._guard:
            self.kinds.add(str(event.kind))
        self.cancel.set()


def _pending_operation(apigee: ApigeeClient, target: str) -> str | None:
    for operation in apigee.operations.list():
        if not operation.done and operation.target == target:
            return operation.name
    return None


def _apply_waits(southbound: Southbound, plan: Plan, kinds: Iterable[str]) -> list[Wait]:
    from apigee_psc.southbound.plan import Action

    found: list[Wait] = []
    spec = southbound.spec
    changes = {c.kind: c for c in plan.changes}
    for kind in sorted(kinds):
        change = changes.get(kind)
        if change is None:
            continue
        operation = change.operation
        if operation is None and change.action in (Action.CREATE, Action.WAIT):
            operation = _pending_operation(southbound.apigee, change.resource_id)
        if operation is not None:
            found.append(Wait("operation", operation))
        if change.action is Action.NOOP:
            continue
        if kind == "EndpointAttachment":
            found.append(Wait("attachment_ready", spec.endpoint_attachment.name))
        elif kind == "DnsZone" and (operation is not None or change.action is Action.WAIT):
            found.append(Wait("dns_zone_active", change.name))
    return found


def apply_pass(southbound: Southbound, *, defer: bool, log: Callable[[str], None] | None = None) -> PassResult:
    """Run :meth:`Southbound.apply` until it finishes or, with ``defer``, until its first long
    wait (the endpoint attachment's operation and connection, the DNS zone): then it stops
    (the library's cancel, at a safe point), reads the plan (no writes) and returns what is in
    flight as :class:`Wait` s. A later pass resumes where this one stopped: apply is
    idempotent and resumable, so it creates nothing twice."""
    stop = _StopAtLongWait(defer, log)
    try:
        report = southbound.apply(progress=stop, cancel=stop.cancel)
    except errors.Cancelled:
        if not stop.kinds:
            raise
        plan = southbound.plan()
        return PassResult(None, _apply_waits(southbound, plan, stop.kinds), stop.events)
    return PassResult(report.to_dict(), [], stop.events)


def destroy_pass(
    southbound: Southbound,
    *,
    defer: bool,
    revoke_iam: bool = False,
    force: bool = False,
    log: Callable[[str], None] | None = None,
) -> PassResult:
    """Run :meth:`Southbound.destroy` until it finishes or, with ``defer``, until its first
    wait for an endpoint attachment or DNS zone to be deleted; returns those waits (and the
    delete operation in flight) to defer on. A later pass finds what is gone and goes on."""
    stop = _StopAtLongWait(defer, log)
    try:
        report = southbound.destroy(revoke_iam=revoke_iam, force=force, progress=stop, cancel=stop.cancel)
    except errors.Cancelled:
        if not stop.kinds:
            raise
        spec = southbound.spec
        found: list[Wait] = []
        for kind in sorted(stop.kinds):
            if kind == "EndpointAttachment":
                path, wait = spec.endpoint_attachment_path, Wait("attachment_deleted", spec.endpoint_attachment.name)
            elif spec.dns is not None and spec.dns.zone is not None and spec.dns_zone_path:
                path, wait = spec.dns_zone_path, Wait("dns_zone_deleted", spec.dns.zone.name)
            else:
                continue
            operation = _pending_operation(southbound.apigee, path)
            found += [Wait("operation", operation), wait] if operation else [wait]
        ended = {(kind, name) for _, kind, name, _ in stop.steps}
        entities = [
            {"outcome": "deleted" if status == "done" else "kept", "kind": kind, "name": name, "reason": detail}
            for status, kind, name, detail in stop.steps
        ]
        # A delete that was sent but not seen through: the next pass finds the resource gone.
        entities += [
            {"outcome": "deleting", "kind": kind, "name": name, "reason": ""}
            for kind, name in stop.started
            if (kind, name) not in ended
        ]
        return PassResult(None, found, stop.events, {"entities": entities})
    return PassResult(report.to_dict(), [], stop.events)


def merge_destroy_reports(previous: Sequence[Mapping[str, Any]], last: Mapping[str, Any]) -> dict[str, Any]:
    """One destroy report for a destroy that ran in several passes: an entity deleted or kept
    by an earlier pass keeps that outcome (a later pass only finds it ``absent``), and one
    whose delete an earlier pass sent (``deleting``) and a later pass found gone is ``deleted``."""
    outcome_of: dict[tuple[str, str], dict[str, Any]] = {}
    order: list[tuple[str, str]] = []
    for report in (*previous, last):
        for entity in report.get("entities", []):
            key = (entity["kind"], entity["name"])
            before = outcome_of.get(key)
            if before is None:
                order.append(key)
                outcome_of[key] = dict(entity)
            elif before["outcome"] == "deleting":
                gone = entity["outcome"] in ("absent", "deleted")
                outcome_of[key] = {**entity, "outcome": "deleted", "reason": ""} if gone else dict(entity)
            elif before["outcome"] == "absent":
                outcome_of[key] = dict(entity)
    rank = {"deleted": 0, "kept": 1, "absent": 2}
    entities = sorted((outcome_of[key] for key in order), key=lambda e: rank.get(e["outcome"], 3))
    summary = {name: sum(1 for e in entities if e["outcome"] == name) for name in ("deleted", "kept", "absent")}
    return {**dict(last), "entities": entities, "summary": summary}
