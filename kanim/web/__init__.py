"""HTTP: the JSON API under /api/v1 (FastAPI), problem+json errors, local API docs."""
