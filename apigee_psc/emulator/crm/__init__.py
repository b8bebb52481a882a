"""Cloud Resource Manager v3 and v1 (gcloud's): projects.get, projects.getIamPolicy, projects.setIamPolicy.

Projects are created on first reference (unless ``auto_create_projects`` is off) with a
deterministic 12-digit number. IAM policies carry base64 etags: a ``setIamPolicy`` whose
etag is not the current one answers 409 ABORTED. Conditions need policy version 3 and are
kept as given. New grants become effective after ``iam_propagation_seconds``.
"""

from apigee_psc.emulator.crm.backend import CrmBackend, Project, project_number_for
from apigee_psc.emulator.crm.routes import ROUTES

__all__ = ["ROUTES", "CrmBackend", "Project", "project_number_for"]
