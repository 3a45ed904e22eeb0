"""The sandbox's REST API routes, one module per resource."""
