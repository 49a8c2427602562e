"""kanim: passport services for an immigration office (Kantor Imigrasi, "Kanim").

The office node runs every desk locally; what only the central can decide becomes a
clearance on the application (see docs/architecture.md).
"""

__version__ = "0.1.0"
