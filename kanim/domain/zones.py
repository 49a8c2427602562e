"""Indonesia's time zones as Indonesians write them after a time: WIB (Waktu Indonesia Barat,
UTC+7: Sumatra, Java, West and Central Kalimantan), WITA (Waktu Indonesia Tengah, UTC+8: Bali,
Nusa Tenggara, South, East and North Kalimantan, Sulawesi) and WIT (Waktu Indonesia Timur,
UTC+9: Maluku, Papua). An office's zone is its IANA name (KANIM_TIMEZONE).

By name, not by offset: Asia/Singapore is UTC+8 too, and is not WITA.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

INDONESIAN_ZONES = {
    "Asia/Jakarta": "WIB",
    "Asia/Pontianak": "WIB",  # West Kalimantan keeps western time
    "Asia/Makassar": "WITA",
    "Asia/Ujung_Pandang": "WITA",  # Makassar's old name, still a link in the tz database
    "Asia/Jayapura": "WIT",
}
LOCAL_FORMAT = "%d-%m-%Y %H:%M"  # how Indonesian forms write a date and time


def zone_abbreviation(tz_name: str, utc_offset: timedelta | None) -> str:
    """WIB, WITA or WIT for Indonesia's zones; for any other, its offset ('UTC+05:30', 'UTC');
    '' when the offset is unknown."""
    if tz_name in INDONESIAN_ZONES:
        return INDONESIAN_ZONES[tz_name]
    if utc_offset is None:
        return ""
    if not utc_offset:
        return "UTC"
    minutes = int(utc_offset.total_seconds() // 60)
    sign = "+" if minutes > 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def local_time_text(at: datetime, tz_name: str, fmt: str = LOCAL_FORMAT) -> str:
    """`at` as the office's clock on the wall shows it: '01-12-2026 15:03 WIB'. A naive time has
    no zone to convert from and is written as it is, without one."""
    if at.tzinfo is None:
        return at.strftime(fmt)
    local = at.astimezone(ZoneInfo(tz_name))
    return f"{local.strftime(fmt)} {zone_abbreviation(tz_name, local.utcoffset())}".rstrip()
