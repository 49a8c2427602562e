"""The backup's own settings (`KANIM_BACKUP_*`), beside the node's (kanim/config.py)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class BackupSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KANIM_BACKUP_", env_file=".env", extra="ignore")

    # Comma-separated: folders (a local disk, a USB drive) and off-site `kanim backup serve` URLs.
    targets: str = ""
    token: str | None = None  # the node's token on the off-site target(s) (`kanim backup grant`)
    every_seconds: float = Field(default=60, gt=0)  # `kanim backup run`: the recovery point
    stale_minutes: float = Field(default=10, gt=0)  # status warns when the newest snapshot is older
    drill_days: float = Field(default=7, gt=0)  # status warns without a good drill this recent
    # PostgreSQL nodes: where archive_command copies finished WAL segments for `kanim backup
    # wal-ship` (a folder the server's OS user writes, outside the data folder), and how often
    # `kanim backup run` takes a new base backup.
    wal_spool: Path | None = None
    pg_base_hours: float = Field(default=24, gt=0)

    def target_specs(self) -> list[str]:
        return [t.strip() for t in self.targets.split(",") if t.strip()]
