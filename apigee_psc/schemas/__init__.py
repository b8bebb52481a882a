"""JSON Schemas of the CLI's JSON outputs and of the spec (data files; see :mod:`apigee_psc._schema`)."""
