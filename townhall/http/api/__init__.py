"""The JSON API (FastAPI routers); OpenAPI at /openapi.json."""
