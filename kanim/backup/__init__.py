"""Backups of a node: encrypted to the office's public key, deduplicated, written to append-only
targets, restored into an empty data folder and proved by drills (docs/backup.md)."""
