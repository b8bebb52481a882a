"""Service Networking v1: peeredDnsDomains (create, list, delete) and operations.get.

Used by VPC-peered Apigee organizations to share a private DNS suffix with the service
producer. A create or delete answers ``operations/...``, done after ``op_seconds``; the
change is visible once the operation is done.
"""

from apigee_psc.emulator.servicenetworking.backend import ServiceNetworkingBackend, SnOperation
from apigee_psc.emulator.servicenetworking.routes import ROUTES

__all__ = ["ROUTES", "ServiceNetworkingBackend", "SnOperation"]
