"""Compute resources and operations as stored, with their wire form; path and reference helpers."""

from __future__ import annotations

import base64
import copy
import hashlib
import math
import re
from dataclasses import dataclass
from typing import Any

from apigee_psc.emulator.compute.fields import COLLECTIONS, FINGERPRINTED, JSON, OWNER, REF_FIELDS, REF_LIST_FIELDS
from apigee_psc.emulator.errors import EmulatorError, InvalidArgument, NotFound
from apigee_psc.emulator.routing import rfc3339_offset


def invalid_field(name: str, value: Any, why: str) -> InvalidArgument:
    return InvalidArgument(f"Invalid value for field 'resource.{name}': '{value}'. {why}")


def not_found(path: str) -> NotFound:
    return NotFound(f"The resource '{path}' was not found")


@dataclass
class ComputeResource:
    """One Compute resource; references are stored as relative paths (``projects/...``)."""

    collection: str
    project: str
    region: str | None
    name: str
    id: int
    created: float
    fields: JSON
    fingerprint_seq: int = 0

    @property
    def path(self) -> str:
        """The relative self link, ``projects/P/regions/R/C/N`` or ``projects/P/global/C/N``."""
        return resource_path(self.project, self.region, self.collection, self.name)

    @property
    def fingerprint(self) -> str:
        """The current fingerprint (changes on every change)."""
        digest = hashlib.sha256(f"{self.path}/{self.id}/{self.fingerprint_seq}".encode()).digest()[:8]
        return base64.b64encode(digest).decode()

    def to_dict(self, root: str, extra: JSON | None = None) -> JSON:
        """The wire resource; ``root`` is the server's root URL."""
        base = f"{root}compute/v1/"
        out: JSON = {
            "kind": COLLECTIONS[self.collection][1],
            "id": str(self.id),
            "creationTimestamp": rfc3339_offset(self.created),
            "name": self.name,
        }
        for key, value in self.fields.items():
            if key in REF_FIELDS and isinstance(value, str):
                out[key] = base + value
            elif key in REF_LIST_FIELDS and isinstance(value, list):
                out[key] = [base + v for v in value]
            elif key == "backends" and isinstance(value, list):
                out[key] = [{**copy.deepcopy(b), "group": base + b["group"]} for b in value]
            else:
                out[key] = copy.deepcopy(value)
        if self.region is not None:
            out["region"] = f"{base}projects/{self.project}/regions/{self.region}"
        if self.collection in FINGERPRINTED:
            out["fingerprint"] = self.fingerprint
        out.update(extra or {})
        out["selfLink"] = base + self.path
        return out


@dataclass
class ComputeOperation:
    """A Compute operation: its timing decides PENDING/RUNNING/DONE."""

    name: str
    id: int
    project: str
    region: str | None
    operation_type: str
    target: str
    target_id: int
    created: float
    seconds: float
    error: EmulatorError | None = None
    request_id: str | None = None
    kind: str = ""

    @property
    def path(self) -> str:
        """The relative self link of the operation."""
        scope = f"regions/{self.region}" if self.region else "global"
        return f"projects/{self.project}/{scope}/operations/{self.name}"

    def status(self, now: float) -> str:
        """PENDING for the first fifth of its time, then RUNNING, then DONE (never, if infinite)."""
        elapsed = now - self.created
        if math.isinf(self.seconds):
            return "RUNNING"
        if self.seconds <= 0 or elapsed >= self.seconds:
            return "DONE"
        return "PENDING" if elapsed < self.seconds / 5 else "RUNNING"

    def to_dict(self, root: str, now: float) -> JSON:
        """The ``compute#operation`` resource."""
        base = f"{root}compute/v1/"
        status = self.status(now)
        out: JSON = {
            "kind": "compute#operation",
            "id": str(self.id),
            "name": self.name,
            "operationType": self.operation_type,
            "targetLink": base + self.target,
            "targetId": str(self.target_id),
            "status": status,
            "user": OWNER,
            "progress": {"PENDING": 0, "RUNNING": 50, "DONE": 100}[status],
            "insertTime": rfc3339_offset(self.created),
            "selfLink": base + self.path,
        }
        if status != "PENDING":
            out["startTime"] = rfc3339_offset(self.created)
        if self.region:
            out["region"] = f"{base}projects/{self.project}/regions/{self.region}"
        if status == "DONE":
            end = self.created + (self.seconds if math.isfinite(self.seconds) else 0)
            out["endTime"] = rfc3339_offset(end)
            if self.error is not None:
                out["error"] = {"errors": [{"code": self.error.reason.upper(), "message": self.error.message}]}
                out["httpErrorStatusCode"] = self.error.http_status
                out["httpErrorMessage"] = _HTTP_REASONS.get(self.error.http_status, "ERROR")
        return out


_HTTP_REASONS = {
    400: "BAD REQUEST",
    403: "FORBIDDEN",
    404: "NOT FOUND",
    409: "CONFLICT",
    412: "PRECONDITION FAILED",
    429: "TOO MANY REQUESTS",
    500: "INTERNAL SERVER ERROR",
    503: "SERVICE UNAVAILABLE",
}


def same_fingerprint(supplied: Any, current: str) -> bool:
    """Whether ``supplied`` encodes the same bytes as ``current``.

    Compute compares a fingerprint's bytes, not its text: gcloud sends it back in the
    URL-safe base64 alphabet (``-`` and ``_``), other clients in the standard one (``+``
    and ``/``); either encoding of the current bytes is accepted.
    """
    if not isinstance(supplied, str) or not supplied:
        return False
    try:
        raw = base64.b64decode(supplied.translate(_URLSAFE_TO_STANDARD), validate=True)
    except ValueError:
        return False
    return raw == base64.b64decode(current)


_URLSAFE_TO_STANDARD = str.maketrans("-_", "+/")


def resource_path(project: str, region: str | None, collection: str, name: str) -> str:
    scope = f"regions/{region}" if region else "global"
    return f"projects/{project}/{scope}/{collection}/{name}"


REF_RE = re.compile(r"projects/[^/]+/(?:global|regions/[^/]+|zones/[^/]+)/[A-Za-z]+/[^/?#]+")


def same_ref(a: str, b: str) -> bool:
    ma, mb = REF_RE.search(a), REF_RE.search(b)
    return bool(ma and mb and ma.group(0) == mb.group(0))


def merge_patch(target: JSON, patch: JSON) -> JSON:
    """RFC 7386 JSON merge patch (``null`` deletes; lists are replaced whole)."""
    out = copy.deepcopy(target)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_patch(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out
