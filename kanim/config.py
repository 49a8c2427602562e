"""Settings, from environment variables (`KANIM_*`) or a `.env` file in the working directory.

Everything has a default that works on a laptop: SQLite in `KANIM_DATA_DIR`, the biometric key
beside it. See README.md for the full list.
"""

from __future__ import annotations

from datetime import time
from functools import cached_property
from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KANIM_", env_file=".env", extra="ignore")

    data_dir: Path = Path("data")
    database_url: str | None = None  # default: sqlite:///<data_dir>/kanim.db
    key_file: Path | None = None  # default: <data_dir>/keys/biometric.key
    # Electronic passports (docs/chip.md): the PKCS#11 token holding the Document Signer key.
    chip_pkcs11_module: str | None = None  # default: SoftHSM2's module where Debian puts it
    chip_token_label: str = "kanim-ds"
    chip_pin_file: Path | None = None  # default: <data_dir>/keys/token.pin (0600)
    # An electronic passport never leaves without chip content: no usable Document Signer
    # refuses its print (409) and a booklet without a chip job fails QC. Off only where an office
    # (a demo without SoftHSM2, a test, a bench, a drill) prints electronic passports with blank
    # chips on purpose, and says so (docs/chip.md, "chip_required").
    chip_required: bool = True

    office_code: str = Field(default="DEMO", pattern=r"^[A-Z0-9]{2,8}$")
    office_name: str = "Kantor Imigrasi Demo"
    office_phone: str = ""  # told to applicants: where to call; messages need it (render-... failures without)
    timezone: str = "Asia/Jakarta"

    daily_quota: int = Field(default=400, ge=1)  # appointments per day, all slots together
    slot_times: list[time] = Field(
        default_factory=lambda: [time(h, 0) for h in (8, 9, 10, 11, 13, 14, 15)]
    )
    max_applicants_per_booking: int = 5

    max_upload_bytes: int = 5_000_000
    billing_validity_minutes: float = Field(default=120, gt=0)  # PP: pay within 2 hours
    session_hours: int = 12
    console_idle_minutes: float = Field(default=30, gt=0)  # a browser session ends after this long unused
    # Failed logins (kanim/domain/throttle.py): per account, this many free tries, then doubling
    # waits, then a lock an admin lifts (`kanim user unlock`) or that ends after lock minutes;
    # per client address a looser count that only slows down, never locks.
    login_free_failures: int = Field(default=5, ge=1)
    login_lock_after: int = Field(default=10, ge=1)
    login_lock_minutes: float = Field(default=60, gt=0)
    login_address_free_failures: int = Field(default=20, ge=1)
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
    # in-process stand-in (unit tests, the office-day bench; `kanim demo` runs the real hub); "none": no central at all, as during an outage.
    central: str = Field(default="none", pattern=r"^(none|simulated|http)$")
    central_url: str | None = None
    central_public_key: str | None = None  # base64 Ed25519: verifies watch-list snapshots
    link_interval: float = Field(default=2.0, gt=0)  # seconds between rounds when idle
    link_batch: int = Field(default=200, ge=1, le=5000)
    # Read and decrypt the next batch while the central applies the last (kanim/link/relay.py).
    link_prepare_ahead: bool = True
    link_timeout: float = Field(default=30.0, gt=0)
    # The largest body the central reads from an office (413 beyond, before reading it); the
    # relay keeps its batches well under it. One capture of a face and ten fingers at the upload
    # limit, base64-encoded, must still fit: 11 x 5 MB x 4/3 is about 73 MB.
    link_max_body_bytes: int = Field(default=80_000_000, ge=1_000_000)
    watchlist_refresh_minutes: float = Field(default=60, gt=0)
    unsynced_max_days: float = Field(default=3, gt=0)  # guardrail: oldest unsent work

    # Telling applicants (docs/notifications.md). Each channel is an Apprise URL; a channel with
    # no URL is not used (its messages fall back to the next channel).
    notify: bool = True  # run the notification worker inside `kanim serve`
    notify_whatsapp_url: str | None = None  # whatsapp://TOKEN@FROM_PHONE_ID/ (WhatsApp Cloud API)
    notify_sms_url: str | None = None  # smseagles://TOKEN@gateway.lan/ (an SMSEagle gateway on the LAN)
    notify_email_url: str | None = None  # mailtos://USER:PASS@mail.host:587/?from=noreply@office.example
    metrics_token: str | None = None  # GET /metrics answers `Authorization: Bearer <this>` only; unset: no /metrics
    notify_office_url: str | None = None  # tgram://BOT_TOKEN/CHAT_ID: alerts to the office's own staff
    # Telegram for applicants (kanim/office/telegram.py): the bot's Apprise URL without a chat
    # (tgram://BOT_TOKEN/), its username for the start links (t.me/<bot>), and the secret token
    # Telegram sends with each webhook call (setWebhook's secret_token).
    notify_telegram_url: str | None = None
    notify_telegram_bot: str | None = Field(default=None, pattern=r"^[A-Za-z][A-Za-z0-9_]{3,31}$")
    notify_telegram_secret: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{16,256}$")
    notify_timeout: float = Field(default=10, gt=0)  # seconds a channel may take to answer one send
    notify_webhook_secret: str | None = None  # the Meta app secret: X-Hub-Signature-256 of receipts
    notify_verify_token: str | None = None  # Meta's webhook verification handshake
    notify_sms_callback_key: str | None = None  # the API key SMSEagle's Callback URL sends with each reply
    public_url: str | None = None  # where applicants reach this office's public pages (links)
    # The office's social channels (docs/public.md): comma-separated Apprise URLs (tgram://, mastodons://,
    # x://...) an incident or an announcement may also be posted to.
    status_social_urls: str | None = None
    # /track asks for a 6-digit code sent to the applicant's channel before it shows details.
    track_code: bool = False
    notify_interval: float = Field(default=1.0, gt=0)  # seconds between worker rounds when idle
    notify_concurrency: int = Field(default=4, ge=1, le=64)  # sends in flight (the duplicate bound)
    notify_retry_minutes: float = Field(default=240, gt=0)  # a temporary failure is retried this long
    notify_rate_per_second: float = Field(default=50, gt=0)  # per channel
    notify_daily_cap: int = Field(default=20000, ge=1)  # per channel, per local day
    notify_recipient_hourly_cap: int = Field(default=6, ge=1)  # phone networks block floods to one number
    notify_quiet_start: time = time(21, 0)  # local time: only urgent notices from here...
    notify_quiet_end: time = time(7, 0)  # ...to here
    # The complaint desk's SLA (kanim/domain/tickets.py): SP4N-LAPOR!'s standards by default.
    ticket_first_response_days: int = Field(default=3, ge=1, le=30)  # working days to a first answer
    ticket_resolve_days: int = Field(default=5, ge=1, le=60)  # working days to a resolution
    # Staged pickup (kanim/domain/pickup.py): the pickup desk's capacity.
    pickup_slot_times: list[time] = Field(
        default_factory=lambda: [time(h, 0) for h in (9, 10, 11, 13, 14, 15)]
    )
    pickup_seats_per_slot: int = Field(default=20, ge=1)
    pickup_reminder_hour: int = Field(default=16, ge=0, le=23)  # the day before, local time

    # The central hub.
    central_office_rate: float = Field(default=1000, gt=0)  # operations/s per office (429 beyond)
    # Pushes one central process holds at once, read or being applied (a third kept for urgent
    # ones): its memory bound when every office drains at once (kanim/central/auth.py).
    central_max_pushes: int = Field(default=6, ge=2, le=256)
    central_treasury: str = Field(default="table", pattern=r"^(table|trusting)$")

    # The HTTP server of either role, per process (kanim/web/protocol.py): a request head over
    # `http_max_header_bytes` or `http_max_headers` fields is answered 431; a head not complete
    # within `http_header_timeout` s, or a body pausing longer than `http_body_timeout` s or
    # arriving slower than `http_body_min_rate` bytes/s on average, 408; a request while more
    # than `http_max_connections` connections are open, 503.
    http_max_header_bytes: int = Field(default=65536, ge=1024)
    http_max_headers: int = Field(default=100, ge=10)
    http_header_timeout: float = Field(default=10, gt=0)
    http_body_timeout: float = Field(default=20, gt=0)
    http_body_min_rate: float = Field(default=1000, ge=0)  # 0: only the pause bound
    http_max_connections: int = Field(default=1000, ge=1)
    # One address may hold this many of them: a client that opens hundreds of slow connections
    # leaves the rest to the desks. Behind a reverse proxy on the same machine every desk comes
    # from the proxy's address: set it to http_max_connections there.
    http_max_connections_per_address: int = Field(default=300, ge=1)

    @property
    def social_urls(self) -> list[str]:
        return [u.strip() for u in (self.status_social_urls or "").split(",") if u.strip()]

    @model_validator(mode="after")
    def _lock_after_free_failures(self) -> Settings:
        if self.login_lock_after < self.login_free_failures:
            raise ValueError("KANIM_LOGIN_LOCK_AFTER must be at least KANIM_LOGIN_FREE_FAILURES")
        return self

    @field_validator("slot_times", "pickup_slot_times")
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
