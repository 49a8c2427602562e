"""Wiring of the central hub (the counterpart of kanim/bootstrap.py for the office)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from kanim.central.biometrics import Keyring
from kanim.central.checks import CentralChecks, TableTreasury, TrustingTreasury
from kanim.clock import Clock, SystemClock
from kanim.config import Settings
from kanim.protocol.signing import load_or_create_key
from kanim.security.filemodes import private_dir
from kanim.store.db import make_engine
from kanim.store.mapping import start_mappers
from kanim.central.uow import CentralUnitOfWork


@dataclass
class TokenBucket:
    """Back-pressure per office: `rate` operations a second with bursts of `burst`. Kept in
    memory per process, which is enough to slow a draining office down; it is not a quota."""

    rate: float
    burst: float
    tokens: dict[str, float] = field(default_factory=dict)
    stamp: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, key: str, n: int, now: float | None = None) -> float:
        """Take n tokens; returns 0 when allowed, else the seconds to wait before retrying."""
        now = time.monotonic() if now is None else now
        with self.lock:
            have = min(self.burst, self.tokens.get(key, self.burst) + (now - self.stamp.get(key, now)) * self.rate)
            self.stamp[key] = now
            if n <= have or (have >= self.burst and n > self.burst):
                # A batch bigger than the whole bucket is let through when the bucket is full,
                # or it could never pass.
                self.tokens[key] = have - n
                return 0.0
            self.tokens[key] = have
            return (n - have) / self.rate


@dataclass
class CentralNode:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    clock: Clock
    checks: CentralChecks
    signing_key: Ed25519PrivateKey
    throttle: TokenBucket
    biometric_keys: Keyring  # seals the registry's faces and fingerprints (kanim.central.biometrics)

    def uow(self, *, readonly: bool = False) -> CentralUnitOfWork:
        return CentralUnitOfWork(self.session_factory, self.clock, readonly=readonly, feed_key=self.signing_key)


def bootstrap_central(settings: Settings, *, clock: Clock | None = None, engine: Engine | None = None,
                      checks: CentralChecks | None = None) -> CentralNode:
    private_dir(settings.data_dir)  # only kanim's user may enter (kanim/security/filemodes.py)
    start_mappers()
    engine = engine or make_engine(settings.db_url)
    treasury = TrustingTreasury() if settings.central_treasury == "trusting" else TableTreasury()
    return CentralNode(
        settings=settings, engine=engine, session_factory=sessionmaker(bind=engine, expire_on_commit=False),
        clock=clock or SystemClock(), checks=checks or CentralChecks(treasury=treasury),
        signing_key=load_or_create_key(settings.data_dir / "keys" / "central_ed25519.pem"),
        throttle=TokenBucket(rate=settings.central_office_rate, burst=settings.central_office_rate * 2),
        biometric_keys=Keyring.open(settings.key_path),
    )
