"""Cloud DNS v1: managedZones (create, get, list, delete), resourceRecordSets (create, get,
list, patch, delete) and changes (create, get) so a record can be replaced atomically.

Zones get their apex SOA and NS records; a zone with other records cannot be deleted.
Errors use Cloud DNS's shape (like Compute's, with ``errors[]``).
"""

from apigee_psc.emulator.dns.backend import DnsBackend, ManagedZone
from apigee_psc.emulator.dns.routes import ROUTES

__all__ = ["ROUTES", "DnsBackend", "ManagedZone"]
