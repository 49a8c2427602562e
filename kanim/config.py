"""Settings, from environment variables (`KANIM_*`) or a `.env` file in the working directory.

Everything has a default that works on a laptop: SQLite in `KANIM_DATA_DIR`, the biometric key
beside it. See README.md for the full list.
"""

from __future__ import annotations

from datetime import time
from functools import cached_property
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KANIM_", env_file=".env", extra="ignore")

    data_dir: Path = Path("data")
    database_url: str | None = None  # default: sqlite:///<data_dir>/kanim.db
    key_file: Path | None = None  # default: <data_dir>/keys/biometric.key

    office_code: str = Field(default="DEMO", pattern=r"^[A-Z0-9]{2,8}$")
    office_name: str = "Kantor Imigrasi Demo"
    timezone: str = "Asia/Jakarta"

    daily_quota: int = Field(default=400, ge=1)  # appointments per day, all slots together
    slot_times: list[time] = Field(
        default_factory=lambda: [time(h, 0) for h in (8, 9, 10, 11, 13, 14, 15)]
    )
    max_applicants_per_booking: int = 5

    max_upload_bytes: int = 5_000_000
    billing_validity_minutes: float = Field(default=120, gt=0)  # PP: pay within 2 hours
    session_hours: int = 12
    idempotency_hours: float = Field(default=24, ge=24)  # Idempotency-Key answers kept at least a day
    watchlist_max_age_days: int = 7  # older snapshot: watch-list stays pending, no provisional print
    print_requires: list[str] = Field(
        default_factory=lambda: ["nik_verified", "watchlist_clear", "not_duplicate", "payment_confirmed"]
    )
    print_on_provisional: bool = True
    fingerprint_positions: list[int] = Field(default_factory=lambda: list(range(1, 11)))
    mrz_single_name: str = "primary"  # see docs/mrz.md

    role: str = Field(default="office", pattern=r"^(office|central)$")

    # The link to the central hub. "http": the real hub at `central_url`; "simulated": an
    # in-process stand-in (demo and tests); "none": no central at all, as during an outage.
    central: str = Field(default="none", pattern=r"^(none|simulated|http)$")
    central_url: str | None = None
    central_public_key: str | None = None  # base64 Ed25519: verifies watch-list snapshots
    link_interval: float = Field(default=2.0, gt=0)  # seconds between rounds when idle
    link_batch: int = Field(default=200, ge=1, le=5000)
    link_timeout: float = Field(default=30.0, gt=0)
    watchlist_refresh_minutes: float = Field(default=60, gt=0)
    unsynced_max_days: float = Field(default=3, gt=0)  # guardrail: oldest unsent work

    # The central hub.
    central_office_rate: float = Field(default=1000, gt=0)  # operations/s per office (429 beyond)
    central_treasury: str = Field(default="table", pattern=r"^(table|trusting)$")

    @field_validator("slot_times")
    @classmethod
    def _sorted(cls, v: list[time]) -> list[time]:
        return sorted(v)

    @cached_property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'kanim.db').resolve()}"

    @property
    def link_mode(self) -> str:
        return "http" if self.central == "http" or (self.central == "none" and self.central_url) else self.central

    @cached_property
    def key_path(self) -> Path:
        return self.key_file or self.data_dir / "keys" / "biometric.key"

    @property
    def office_key_path(self) -> Path:
        """The office's Ed25519 key: signs every request to the central."""
        return self.data_dir / "keys" / "office_ed25519.pem"

    @property
    def vault_dir(self) -> Path:
        return self.data_dir / "vault"
