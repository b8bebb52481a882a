"""The Airflow hook: an Airflow connection as apigee-psc's clients."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from apigee_psc.airflow._compat import BaseHook
from apigee_psc.airflow._core import DEFAULT_CONN_ID, ConnectionOptions, resolve_connection

if TYPE_CHECKING:
    from apigee_psc.apigee import ApigeeClient
    from apigee_psc.southbound import Southbound, SouthboundSpec

__all__ = ["ApigeePscHook"]


class ApigeePscHook(BaseHook):
    """apigee-psc's clients over an Airflow connection.

    ``gcp_conn_id`` names the connection (``google_cloud_default`` by default, of type
    ``google_cloud_platform`` or ``apigee_psc``); its extras are those of Airflow's Google
    connection (``key_path``, ``keyfile_dict``, ``scope``, ``project``, ``quota_project_id``,
    ``impersonation_chain``) plus ``endpoint`` (e.g. ``http://127.0.0.1:8089`` for
    ``apigee-psc emulator``). Without a key, Application Default Credentials are used (on
    Cloud Composer: the environment's service account). ``impersonation_chain`` (one service
    account or a list, the last impersonated through the others) works as in Airflow's
    Google hooks and wins over the connection's.
    """

    conn_name_attr = "gcp_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "apigee_psc"
    hook_name = "Apigee PSC (apigee-psc)"

    def __init__(
        self,
        gcp_conn_id: str = DEFAULT_CONN_ID,
        impersonation_chain: str | Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.gcp_conn_id = gcp_conn_id
        self.impersonation_chain = impersonation_chain
        self._options: ConnectionOptions | None = None

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """The connection form: only the extras are used."""
        return {
            "hidden_fields": ["host", "schema", "login", "password", "port"],
            "relabeling": {},
            "placeholders": {
                "extra": '{"project": "my-project", "quota_project_id": "my-billing-project", '
                '"impersonation_chain": "provisioner@my-project.iam.gserviceaccount.com"}'
            },
        }

    def options(self) -> ConnectionOptions:
        """The connection's credentials, quota project, endpoint and project (resolved once)."""
        if self._options is None:
            connection = self.get_connection(self.gcp_conn_id)
            extras = connection.extra_dejson if connection.extra else {}
            self._options = resolve_connection(extras, impersonation_chain=self.impersonation_chain)
        return self._options

    @property
    def project_id(self) -> str | None:
        """The connection's default project (``project``), if it names one."""
        return self.options().project_id

    def southbound(self, spec: SouthboundSpec, **kwargs: Any) -> Southbound:
        """A :class:`~apigee_psc.Southbound` for ``spec`` with this connection's options
        (``kwargs`` are :class:`~apigee_psc.Southbound`'s own: ``timeout``, ``adopt``, ...)."""
        from apigee_psc.southbound import Southbound

        return Southbound(spec, **self.options().client_options(), **kwargs)

    def apigee_client(self, organization: str) -> ApigeeClient:
        """An :class:`~apigee_psc.ApigeeClient` of ``organization`` with this connection's options."""
        from apigee_psc.apigee import ApigeeClient

        return ApigeeClient(organization, **self.options().client_options())

    def test_connection(self) -> tuple[bool, str]:
        """Resolve the connection's credentials (Airflow's "Test" button)."""
        try:
            options = self.options()
        except Exception as exc:  # noqa: BLE001 - reported to the user as the test's answer
            return False, str(exc)
        where = options.endpoint or "Google APIs"
        return True, f"credentials resolved for {where}"
