"""The boundary with google-cloud-compute: only the services a call needs are imported.

``import google.cloud.compute_v1`` imports every one of its ~100 service clients (about a
second here). :func:`service` imports one service module instead: the package is
registered without running its ``__init__`` (which completes itself the first time anyone
asks it for a name it does not have, so ``from google.cloud import compute_v1`` elsewhere
still gets the whole package). Calls use the REST transport, this library's endpoint and
credentials, and its user agent (``client_info``).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Protocol, TypeVar

from apigee_psc import _answers
from apigee_psc._http import error_from_exception
from apigee_psc._version import __version__

if TYPE_CHECKING:
    import google.auth.credentials
    import proto
    from google.cloud.compute_v1.types import compute

__all__ = ["METADATA", "OperationsService", "Request", "Service", "map_exception", "prepare", "service"]

_PACKAGE = "google.cloud.compute_v1"
_lock = threading.Lock()

M = TypeVar("M", covariant=True)
Request = dict[str, "str | int | proto.Message"]
Metadata = Sequence[tuple[str, str]]

#: Sent with every call: google-cloud-compute puts ``client_info`` in ``x-goog-api-client``
#: only, and the REST transport turns call metadata into HTTP headers.
METADATA: Metadata = (("user-agent", f"apigee-psc/{__version__}"),)


class Page(Protocol[M]):
    """One page of a list answer."""

    @property
    def items(self) -> Sequence[M]: ...

    @property
    def next_page_token(self) -> str: ...


class Pager(Protocol[M]):
    """What a ``list`` call returns."""

    @property
    def pages(self) -> Iterator[Page[M]]: ...


class Service(Protocol[M]):
    """The calls this library makes on a google-cloud-compute client of resources ``M``."""

    def get(self, request: Request, *, timeout: float, metadata: Metadata) -> M: ...

    def list(self, request: Request, *, timeout: float, metadata: Metadata) -> Pager[M]: ...

    def insert_unary(self, request: Request, *, timeout: float, metadata: Metadata) -> compute.Operation: ...

    def delete_unary(self, request: Request, *, timeout: float, metadata: Metadata) -> compute.Operation: ...


class OperationsService(Protocol):
    """``regionOperations`` / ``globalOperations``: a server-side long poll."""

    def wait(self, request: Request, *, timeout: float, metadata: Metadata) -> compute.Operation: ...


def _package() -> None:
    """Register ``google.cloud.compute_v1`` without importing all of its services."""
    with _lock:
        if _PACKAGE in sys.modules:
            return
        spec = importlib.util.find_spec(_PACKAGE)
        if spec is None or spec.loader is None:  # pragma: no cover - a broken installation
            raise ImportError(f"{_PACKAGE} is not installed")
        module = importlib.util.module_from_spec(spec)
        loader = spec.loader

        def complete(name: str) -> object:
            if name.startswith("__"):
                return _missing(name)
            submodule = f"{_PACKAGE}.{name}"
            if submodule in sys.modules or importlib.util.find_spec(submodule) is not None:
                return importlib.import_module(submodule)  # ``from google.cloud.compute_v1 import types``
            # Someone wants a name of the whole package: run its real __init__ now, once.
            with _lock:
                if "__getattr__" in module.__dict__:
                    del module.__dict__["__getattr__"]
                    loader.exec_module(module)
            return module.__dict__[name] if name in module.__dict__ else _missing(name)

        module.__dict__["__getattr__"] = complete
        sys.modules[_PACKAGE] = module
        parent = importlib.import_module("google.cloud")
        setattr(parent, "compute_v1", module)  # noqa: B010 - what a real import would do


def _missing(name: str) -> object:
    raise AttributeError(f"module {_PACKAGE!r} has no attribute {name!r}")


def prepare() -> None:
    """Make ``google.cloud.compute_v1``'s modules importable one by one (call before any
    ``from google.cloud.compute_v1.types import compute``)."""
    _package()


def service(
    module: str,
    client: str,
    *,
    credentials: google.auth.credentials.Credentials,
    api_endpoint: str,
) -> object:
    """A client of one google-cloud-compute service (``module`` such as ``service_attachments``)."""
    _package()
    from google.api_core.gapic_v1.client_info import ClientInfo

    cls = getattr(importlib.import_module(f"{_PACKAGE}.services.{module}"), client)
    info = ClientInfo(user_agent=f"apigee-psc/{__version__}")  # type: ignore[no-untyped-call]
    return cls(
        credentials=credentials,
        client_options={"api_endpoint": api_endpoint},
        transport="rest",
        client_info=info,
    )


def map_exception(exc: Exception, method: str, url: str) -> BaseException:
    """This library's error for an exception raised by google-cloud-compute (or below it):
    the HTTP answer it carries goes through :func:`~apigee_psc._answers.error_from_response`."""
    from google.api_core import exceptions as gexc

    if isinstance(exc, gexc.GoogleAPICallError):
        response = exc.response
        status = getattr(response, "status_code", None)
        content = getattr(response, "content", None)
        if isinstance(status, int) and isinstance(content, bytes):
            request = getattr(response, "request", None)
            return _answers.error_from_response(
                status,
                content,
                method=str(getattr(request, "method", None) or method),
                url=str(getattr(request, "url", None) or url),
                headers=getattr(response, "headers", None),
            )
        code = exc.code if isinstance(exc.code, int) else 0
        body = {"error": {"code": code, "message": exc.message or str(exc), "errors": list(exc.errors or [])}}
        return _answers.error_from_response(code, body, method=method, url=url)
    return error_from_exception(exc, method=method, url=url)
