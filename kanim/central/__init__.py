"""The central hub: the national registry of applications and passports, NIK verification,
the watch-list authority, duplicate checks, payment confirmations, booklet allocation, and the
national view across offices. It is rebuilt only from what offices send (see docs/link.md)."""
