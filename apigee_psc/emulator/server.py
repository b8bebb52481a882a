"""The WSGI application and the threaded server that serve every API on one port."""

from __future__ import annotations

import errno
import json
import logging
import socket
import struct
import threading
import time
import traceback
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.exceptions import NotFound as RouteNotFound
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from apigee_psc.emulator import apigee, compute, control, crm, dns, servicenetworking
from apigee_psc.emulator.errors import EmulatorError, Internal, NotFound, error_for_status
from apigee_psc.emulator.events import apply_events
from apigee_psc.emulator.faults import FaultDecision
from apigee_psc.emulator.routing import Call, Handler, Reply, RouteGroup, build_map
from apigee_psc.emulator.state import DEFAULT_OP_SECONDS, Clock, OrgConfig, World

if TYPE_CHECKING:
    from types import TracebackType

    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = ["DEFAULT_ORG", "GROUPS", "EmulatorApp", "EmulatorServer"]

logger = logging.getLogger("apigee_psc.emulator")

#: The route groups of the five APIs.
GROUPS: tuple[RouteGroup, ...] = (
    apigee.ROUTES,
    compute.ROUTES,
    dns.ROUTES,
    crm.ROUTES,
    servicenetworking.ROUTES,
)
#: The organization served when none is configured (the seed's).
DEFAULT_ORG = "my-organization"
_IGNORED_ARGS = ("$alt", "alt", "prettyPrint", "$prettyPrint", "key", "quotaUser", "fields", "$fields")


class _Dropped(ConnectionResetError):
    """Raised to make werkzeug drop the connection silently."""


def _api_of(path: str) -> str:
    if path.startswith("/compute/"):
        return "compute"
    if path.startswith("/dns/"):
        return "dns"
    if path.startswith(("/v3/", "/v1/projects/")):
        return "crm"
    if path.startswith(("/v1/services/", "/v1/operations")):
        return "servicenetworking"
    return "apigee"


class EmulatorApp:
    """The WSGI application: fault injection, routing, dispatch, error rendering, request log."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.map = build_map(GROUPS, control.RULES)
        self.groups: dict[str, RouteGroup] = {}
        self.handlers: dict[str, Handler] = dict(control.HANDLERS)
        for group in GROUPS:
            for endpoint, handler in group.handlers.items():
                self.groups[endpoint] = group
                self.handlers[endpoint] = handler

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        response = self.handle(request, environ)
        return response(environ, start_response)

    def handle(self, request: Request, environ: Mapping[str, Any]) -> Response:
        """Answer one request."""
        path = request.path
        method = request.method
        adapter = self.map.bind_to_environ(dict(environ))
        endpoint: str | None = None
        args: Mapping[str, Any] = {}
        allowed: list[str] = []
        try:
            endpoint, args = adapter.match()
        except MethodNotAllowed as exc:
            endpoint, allowed = None, sorted(exc.valid_methods or [])
        except RouteNotFound:
            endpoint = None
        except HTTPException:
            endpoint = None
        call = Call(self.world, method, path, _clean_args(request), request.get_data(), request.host_url)
        if endpoint is not None and endpoint.startswith("control."):
            return self._control(call, endpoint)
        group = self.groups.get(endpoint or "")
        api = group.api if group else _api_of(path)
        style = group.style if group else ("compute" if api in ("compute", "dns") else "rpc")
        service = group.service if group else "googleapis.com"
        decision = self.world.faults.decide(method, path, api)
        if decision is not None:
            if decision.delay > 0:
                self.world.stopping.wait(decision.delay)
            if decision.reset == "before":
                self._log(call, api, endpoint, 0, decision)
                _drop(environ)
            if decision.error is not None:
                self._log(call, api, endpoint, decision.error.http_status, decision)
                return _error_response(decision.error, style, service)
        if endpoint is None:
            # A path served with other methods is not "not found": say which method is missing.
            message = (
                f"The emulator does not model {method} on {path} (it serves {', '.join(allowed)} there)."
                if allowed
                else f"The requested URL {path} was not found on this server."
            )
            err: EmulatorError = NotFound(message, reason="notFound")
            self._log(call, api, endpoint, err.http_status, decision)
            return _error_response(err, style, service)
        try:
            self.world.advance()
            reply = self.handlers[endpoint](call, **args)
            response = _json_response(reply)
        except EmulatorError as exc:
            response = _error_response(exc, style, service)
        except Exception as exc:  # noqa: BLE001 - an emulator bug: answer 500 in the API's shape, log it
            logger.error("emulator: %s %s failed:\n%s", method, path, traceback.format_exc())
            response = _error_response(Internal(f"Emulator error: {exc!r}"), style, service)
        self._log(call, api, endpoint, response.status_code, decision)
        if decision is not None and decision.reset == "after":
            _drop(environ)
        return response

    def _control(self, call: Call, endpoint: str) -> Response:
        try:
            return _json_response(self.handlers[endpoint](call))
        except EmulatorError as exc:
            return _error_response(exc, "rpc", "emulator")

    def _log(self, call: Call, api: str, endpoint: str | None, status: int, decision: FaultDecision | None) -> None:
        query = "&".join(f"{k}={v}" for k, v in call.args.items(multi=True))
        self.world.log_request(
            call.method, call.path, query, api, endpoint or "", status, decision.label if decision else None
        )


def _clean_args(request: Request) -> Any:
    args = request.args.copy()
    for name in _IGNORED_ARGS:
        args.poplist(name)
    return args


def _json_response(reply: Reply) -> Response:
    if reply.body is None:
        return Response(b"", status=reply.status, headers=reply.headers)
    return Response(
        json.dumps(reply.body, indent=2) + "\n",
        status=reply.status,
        headers=reply.headers,
        content_type="application/json; charset=UTF-8",
    )


def _error_response(exc: EmulatorError, style: Any, service: str) -> Response:
    body = exc.to_body(style, service=service)
    return Response(
        json.dumps(body, indent=2) + "\n",
        status=exc.http_status,
        headers=exc.headers,
        content_type="application/json; charset=UTF-8",
    )


def _drop(environ: Mapping[str, Any]) -> None:
    """Close the client's connection without an answer (abortive close when possible)."""
    sock = environ.get("werkzeug.socket")
    if isinstance(sock, socket.socket):
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            logger.debug("emulator: socket already closed")
    raise _Dropped("connection reset by fault injection")


class _QuietHandler(WSGIRequestHandler):
    """A request handler that does not log every request."""

    verbose = False

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if self.verbose:
            super().log_request(code, size)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Answer a request the server cannot even parse (bad request line, URI too long, bad
        HTTP version) in google.rpc JSON, like every other error, instead of the stock HTML page."""
        short = self.responses.get(code, ("Error", ""))[0]
        body = json.dumps(error_for_status(code, message or short).to_body("rpc", service="emulator")).encode()
        self.log_error("code %d, message %s", code, message or short)
        self.send_response(code, short)
        self.send_header("Connection", "close")
        self.close_connection = True
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and code >= 200 and code not in (204, 304):
            self.wfile.write(body)


class EmulatorServer:
    """A threaded HTTP server running the emulator in this process.

    ``orgs`` are ``NAME`` or ``NAME:peered`` strings (default: the seed's
    ``my-organization``); ``port=0`` picks a free port. Use as a context manager, or call
    :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        orgs: Iterable[str | OrgConfig] | None = None,
        op_seconds: float = DEFAULT_OP_SECONDS,
        seed: int = 0,
        clock: Clock | None = None,
        wait_deadline: float = 2.0,
        iam_propagation_seconds: float = 0.0,
        world: World | None = None,
        verbose: bool = False,
        dns_peer_failure: str = "request",
    ) -> None:
        self.world = world or World(
            orgs if orgs is not None else (DEFAULT_ORG,),
            op_seconds=op_seconds,
            seed=seed,
            clock=clock,
            wait_deadline=wait_deadline,
            iam_propagation_seconds=iam_propagation_seconds,
            dns_peer_failure=dns_peer_failure,
        )
        self.app = EmulatorApp(self.world)
        handler = type("Handler", (_QuietHandler,), {"verbose": verbose})
        try:
            self._server: BaseWSGIServer = make_server(host, port, self.app, threaded=True, request_handler=handler)
        except SystemExit as exc:  # werkzeug exits when the port is taken; make it an OSError
            raise OSError(errno.EADDRINUSE, f"cannot listen on {host}:{port}: address already in use") from exc
        self.host = host
        self.port: int = self._server.server_port
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The root URL of every API, e.g. ``http://127.0.0.1:8089/``."""
        return f"http://{self.host_port}/"

    @property
    def host_port(self) -> str:
        """``HOST:PORT``, the value for ``APIGEE_PSC_EMULATOR_HOST``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def start(self) -> EmulatorServer:
        """Serve in a background thread; return self."""
        if self._thread is None:
            self.world.stopping.clear()
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"apigee-psc-emulator:{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted."""
        self._server.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.world.stopping.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- in-process helpers (the same as the control API) -------------------------------------------

    def reset(self, orgs: Iterable[str | OrgConfig] | None = None) -> None:
        """Like ``POST /_emulator/reset``; ``orgs`` replaces the organizations when given."""
        self.world.reset(orgs)

    def set_faults(self, spec: Any, *, append: bool = False) -> None:
        """Like ``POST /_emulator/faults`` (a list of rules, or ``{seed, rules, operations}``)."""
        self.world.faults.configure(spec, append=append)

    def configure(self, **spec: Any) -> dict[str, Any]:
        """Like ``POST /_emulator/config`` with ``spec`` as the body."""
        return control.apply_config(self.world, spec)

    def events(self, *events: dict[str, Any]) -> list[dict[str, Any]]:
        """Like ``POST /_emulator/events`` with ``events`` as the body (day-2 events, in order)."""
        return apply_events(self.world, list(events))

    def requests(self, *, since: int = 0, api: str | None = None, method: str | None = None) -> list[dict[str, Any]]:
        """The request log (like ``GET /_emulator/requests``)."""
        return control.request_log(self.world, since=since, api=api, method=method)

    def operations(self, api: str | None = None) -> list[dict[str, Any]]:
        """Every operation started so far (oldest first within each API), each with its ``api``.

        ``api`` is ``apigee``, ``compute`` or ``servicenetworking`` to keep only one API's.
        """
        with self.world.lock:
            self.world.advance()
            now = self.world.now()
            out: list[dict[str, Any]] = []
            if api in (None, "apigee"):
                out += [{"api": "apigee", **op.to_dict()} for op in self.world.apigee.operations.values()]
            if api in (None, "compute"):
                out += [
                    {"api": "compute", **op.to_dict(self.url, now)} for op in self.world.compute.operations.values()
                ]
            if api in (None, "servicenetworking"):
                out += [
                    {"api": "servicenetworking", **op.to_dict()}
                    for op in self.world.servicenetworking.operations.values()
                ]
            return out

    def state(self) -> dict[str, Any]:
        """Everything as JSON (like ``GET /_emulator/state``)."""
        return self.world.dump(self.url)

    def wait_idle(self, timeout: float = 5.0) -> None:
        """Block until no Apigee or Service Networking operation is running (or ``timeout``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.world.lock:
                self.world.advance()
                busy = any(not op.done for op in self.world.apigee.operations.values()) or any(
                    not op.done for op in self.world.servicenetworking.operations.values()
                )
            if not busy:
                return
            time.sleep(0.01)
