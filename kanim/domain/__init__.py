"""Pure domain rules: no SQLAlchemy, no FastAPI, no I/O. Everything here is unit-testable."""
