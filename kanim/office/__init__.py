"""The office's use cases, one module per desk. Each function takes a unit of work (and what
else it needs) as keyword arguments, runs in one transaction and commits it."""
