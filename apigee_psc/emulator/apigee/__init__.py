"""Apigee v1: organizations, endpointAttachments, dnsZones and operations.

Creates and deletes answer a long-running operation that finishes ``op_seconds`` later;
resources pass CREATING -> ACTIVE and DELETING -> gone. Only one operation at a time
may run in an organization: a change while another is not done answers 400
FAILED_PRECONDITION "the resource is locked by another operation".

An endpoint attachment's ``connectionState`` is derived live from its service attachment
in the Compute backend (see :meth:`ComputeBackend.connection_status`): UNAVAILABLE while
CREATING, CLOSED once the service attachment is gone.
"""

from apigee_psc.emulator.apigee.backend import ApigeeBackend, ApigeeOperation, DnsZone, EndpointAttachment
from apigee_psc.emulator.apigee.routes import ROUTES

__all__ = ["ROUTES", "ApigeeBackend", "ApigeeOperation", "DnsZone", "EndpointAttachment"]
