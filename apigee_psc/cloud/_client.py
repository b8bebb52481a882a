"""The shared constructor of the Cloud DNS, Resource Manager and Service Networking clients."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from apigee_psc._http import OnRetry, RetryPolicy, Transport

if TYPE_CHECKING:
    import google.auth.credentials


class _Client:
    """Shared constructor: one :class:`Transport` for ``api`` with the same settings as every
    client (``credentials``, ``quota_project_id``, ``endpoint``, ``retry``, ``on_retry``,
    ``timeout``, ``sleep``, ``clock``)."""

    _api = ""

    def __init__(
        self,
        *,
        credentials: google.auth.credentials.Credentials | None = None,
        quota_project_id: str | None = None,
        endpoint: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: tuple[float, float] = (10.0, 60.0),
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        on_retry: OnRetry | None = None,
    ) -> None:
        self.sleep = sleep
        self.clock = clock
        self._rng = rng or random.Random()
        self._numbers: dict[str, str] = {}
        self.transport = Transport(
            self._api,
            credentials=credentials,
            quota_project_id=quota_project_id,
            endpoint=endpoint,
            timeout=timeout,
            retry=retry,
            sleep=sleep,
            clock=clock,
            rng=self._rng,
            on_retry=on_retry,
        )
        self._setup()

    def _setup(self) -> None:
        """Build the client's collections (each subclass has its own)."""

    def close(self) -> None:
        """Close the HTTP session."""
        self.transport.close()
