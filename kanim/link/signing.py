"""Moved to kanim/protocol/signing.py (the contract both roles share). Kept for callers outside
the link's packages (kanim/backup/keys.py, bench/drain.py); new code imports kanim.protocol.signing."""

from kanim.protocol.signing import *  # noqa: F403
from kanim.protocol.signing import load_or_create_key, public_b64  # noqa: F401 - named for readers
