"""Compute Engine v1: what the seed's producer side needs.

networks (get, list; ``default`` exists in every project, auto mode), subnetworks (and
patch, setPrivateIpGoogleAccess), firewalls (and patch, update), regionHealthChecks,
regionBackendServices (and patch, update), forwardingRules, serviceAttachments (and patch),
instanceTemplates, regionInstanceGroupManagers, regionInstanceGroups (get, list,
setNamedPorts), public images (get, getFromFamily), an empty regionAutoscalers list,
aggregated lists and region/global operations (get, wait).

``fields`` holds the field tables, ``resources`` the stored resources and operations,
``store`` the storage and references, ``rules`` the validators, ``backend`` the API's
behaviour and ``routes`` the thin HTTP handlers.
"""

from apigee_psc.emulator.compute.backend import ComputeBackend
from apigee_psc.emulator.compute.resources import ComputeOperation, ComputeResource
from apigee_psc.emulator.compute.routes import ROUTES

__all__ = ["ROUTES", "ComputeBackend", "ComputeOperation", "ComputeResource"]
