"""The central's unit of work: a transaction (kanim/store/transaction.py) that carries the
central's key to whatever writes the feed, so that every event is signed (kanim/central/hub.py).
The central has no domain events to fan out and no office repositories."""

from __future__ import annotations

from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session

from kanim.clock import Clock
from kanim.store.transaction import Transaction

FEED_KEY = "kanim_feed_key"  # where kanim/central/hub.py finds the key, in the session's info


class CentralUnitOfWork(Transaction):
    def __init__(self, session_factory: Callable[[], Session], clock: Clock, *, feed_key: Ed25519PrivateKey,
                 readonly: bool = False) -> None:
        super().__init__(session_factory, clock, readonly=readonly)
        self.feed_key = feed_key

    def __enter__(self) -> CentralUnitOfWork:
        super().__enter__()
        self.session.info[FEED_KEY] = self.feed_key
        return self
