"""The shared constructor of the Cloud DNS, Resource Manager and Service Networking clients."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from apigee_psc._http import ClientKwargs, ClientOptions

if TYPE_CHECKING:
    from typing_extensions import Unpack


class _Client:
    """Shared constructor: one :class:`~apigee_psc._http.Transport` for ``api`` with the
    options every client takes (:class:`~apigee_psc._http.ClientOptions`: ``credentials``,
    ``quota_project_id``, ``endpoint``, ``retry``, ``on_retry``, ``timeout``, ``sleep``,
    ``clock``); ``rng`` draws the retries' jitter."""

    _api = ""

    def __init__(self, *, rng: random.Random | None = None, **options: Unpack[ClientKwargs]) -> None:
        self.options = ClientOptions(**options)
        self.sleep = self.options.sleep
        self.clock = self.options.clock
        self._rng = rng or random.Random()
        self._numbers: dict[str, str] = {}
        self.transport = self.options.transport(self._api, rng=self._rng)
        self._setup()

    def _setup(self) -> None:
        """Build the client's collections (each subclass has its own)."""

    def close(self) -> None:
        """Close the HTTP session."""
        self.transport.close()
