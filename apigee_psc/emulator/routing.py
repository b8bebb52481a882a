"""The thin HTTP layer shared by every API module: calls, replies, named route groups.

Each API module declares a :class:`RouteGroup` whose endpoints are named after the
discovery document's method ids (``apigee.organizations.endpointAttachments.create``),
so the conformance test can check every route against Google's documents. Handlers
are plain functions ``handler(call, **path_args) -> Reply``; all behaviour lives in the
backends.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from werkzeug.datastructures import MultiDict
from werkzeug.routing import BaseConverter, Map, Rule

from apigee_psc.emulator.errors import ErrorStyle, InvalidArgument

if TYPE_CHECKING:
    from apigee_psc.emulator.state import World

__all__ = [
    "Call",
    "Handler",
    "OperationClock",
    "Reply",
    "RouteGroup",
    "build_map",
    "page",
    "rfc3339",
]

JSON = dict[str, Any]
T = TypeVar("T")


@dataclass
class Call:
    """One parsed API request as the handlers see it."""

    world: World
    method: str
    path: str
    args: MultiDict[str, str]
    body: bytes
    root: str
    """The server's own root URL, e.g. ``http://127.0.0.1:8089/`` (for selfLinks)."""

    def json(self) -> JSON:
        """The request body as a JSON object (``{}`` when empty); 400 if it is not JSON."""
        if not self.body.strip():
            return {}
        try:
            data = json.loads(self.body)
        except ValueError as exc:
            raise InvalidArgument(f"Invalid JSON payload received. {exc}.", reason="parseError") from exc
        if not isinstance(data, dict):
            raise InvalidArgument("Invalid JSON payload received. Expected an object.", reason="parseError")
        return data

    def int_arg(self, name: str, default: int | None = None) -> int | None:
        """An integer query parameter; 400 if it is not an integer."""
        raw = self.args.get(name)
        if raw in (None, ""):
            return default
        try:
            return int(raw)
        except ValueError as exc:
            raise InvalidArgument(f"Invalid value at '{name}' (TYPE_INT32), \"{raw}\"") from exc


@dataclass
class Reply:
    """A handler's answer: JSON body, status and extra headers."""

    body: JSON | None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[..., Reply]


class _IdConverter(BaseConverter):
    """One path segment without ``/`` or ``:`` (so ``{id}:verb`` paths route)."""

    regex = "[^/:]+"


class RouteGroup:
    """The routes of one API, registered with :meth:`route`."""

    def __init__(self, api: str, *, style: ErrorStyle, service: str) -> None:
        self.api = api
        self.style: ErrorStyle = style
        self.service = service
        self.rules: list[Rule] = []
        self.handlers: dict[str, Handler] = {}

    def route(self, method: str, path: str, endpoint: str) -> Callable[[Handler], Handler]:
        """Register ``handler`` for ``method path`` under the discovery method id ``endpoint``."""

        def register(handler: Handler) -> Handler:
            self.rules.append(Rule(path, methods=[method], endpoint=endpoint))
            self.handlers[endpoint] = handler
            return handler

        return register


def build_map(groups: Sequence[RouteGroup], extra: Sequence[Rule] = ()) -> Map:
    """A werkzeug :class:`Map` of every group's rules (plus ``extra``)."""
    rules: list[Rule] = [r.empty() for g in groups for r in g.rules]
    rules.extend(r.empty() for r in extra)
    return Map(rules, converters={"id": _IdConverter}, strict_slashes=False, merge_slashes=False)


def rfc3339(ts: float) -> str:
    """Epoch seconds as RFC 3339 with milliseconds and ``Z``."""
    dt = datetime.fromtimestamp(ts, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def rfc3339_offset(ts: float) -> str:
    """Epoch seconds as Compute writes them (``-07:00`` style offset, here UTC)."""
    dt = datetime.fromtimestamp(ts, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}-00:00"


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def _decode_token(token: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        kind, _, num = raw.partition(":")
        if kind != "offset":
            raise ValueError(raw)
        offset = int(num)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidArgument("The page token is invalid.", reason="invalidPageToken") from exc
    if offset < 0:
        raise InvalidArgument("The page token is invalid.", reason="invalidPageToken")
    return offset


def page(
    items: Sequence[T], size: int | None, token: str | None, *, default: int, maximum: int
) -> tuple[list[T], str | None]:
    """Slice ``items`` for one page; return the page and the next page token (or None)."""
    if size is not None and size < 0:
        raise InvalidArgument("page size must not be negative")
    size = min(size or default, maximum)
    start = _decode_token(token) if token else 0
    chunk = list(items[start : start + size])
    nxt = _encode_token(start + size) if start + size < len(items) else None
    return chunk, nxt


def page_reply(
    key: str,
    items: Sequence[T],
    size: int | None,
    token: str | None,
    render: Callable[[T], Any],
    *,
    default: int,
    maximum: int,
    head: Mapping[str, Any] | None = None,
    omit_empty: bool = False,
) -> Reply:
    """One page of a list call as a reply: ``head`` fields, then ``key`` with the rendered items
    (left out when empty if ``omit_empty``, as Apigee's proto3 JSON does), then ``nextPageToken``."""
    chunk, nxt = page(items, size, token, default=default, maximum=maximum)
    out: dict[str, Any] = dict(head or {})
    if chunk or not omit_empty:
        out[key] = [render(item) for item in chunk]
    if nxt:
        out["nextPageToken"] = nxt
    return Reply(out)


def with_outcome(out: dict[str, Any], done: bool, error: Any, response: Mapping[str, Any] | None) -> dict[str, Any]:
    """Add a google.longrunning.Operation's outcome to ``out``: ``done`` (left out while false,
    as proto3 JSON does), then ``error`` (an :class:`EmulatorError`) or ``response``."""
    if done:
        out["done"] = True
        if error is not None:
            out["error"] = error.to_status()
        elif response is not None:
            out["response"] = response
    return out


class _TimedOperation(Protocol):
    """What :class:`OperationClock` needs of a long-running operation."""

    created: float
    seconds: float
    done: bool

    @property
    def finish(self) -> Callable[[Any], None]: ...


_OpT = TypeVar("_OpT", bound=_TimedOperation)


class OperationClock(Generic[_OpT]):
    """Mixin for a backend whose ``operations`` finish once ``created + seconds`` has passed."""

    world: World
    operations: dict[str, _OpT]

    def _advance_op(self, op: _OpT) -> None:
        if not op.done and self.world.now() - op.created >= op.seconds:
            op.done = True
            op.finish(op)

    def advance(self) -> None:
        """Finish every operation whose time has come."""
        for op in list(self.operations.values()):
            self._advance_op(op)
