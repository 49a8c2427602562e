"""The one place where the office node is wired together. Tests pass fakes here (a fake clock,
a simulated central); everything else takes the `Office` it returns."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from kanim.biometrics.policies import FingerprintPolicy, PhotoPolicy
from kanim.clock import Clock, SystemClock
from kanim.config import Settings
from kanim.domain.clearances import PrintPolicy
from kanim.office.ports import Central
from kanim.security.filemodes import private_dir
from kanim.security.vault import Vault
from kanim.store.db import make_engine
from kanim.store.fanout import Subscriber
from kanim.store.mapping import start_mappers
from kanim.store.uow import UnitOfWork


@dataclass
class Office:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    clock: Clock
    vault: Vault
    central: Central | None
    photo_policy: PhotoPolicy = field(default_factory=PhotoPolicy)
    fingerprint_policy: FingerprintPolicy = field(default_factory=FingerprintPolicy)
    # Who gets each domain event, in its transaction (kanim/store/fanout.py, docs/events.md).
    subscribers: tuple[Subscriber, ...] = field(default_factory=lambda: default_subscribers())

    def uow(self, *, readonly: bool = False) -> UnitOfWork:
        return UnitOfWork(self.session_factory, self.clock, readonly=readonly, subscribers=self.subscribers)

    @property
    def print_policy(self) -> PrintPolicy:
        return PrintPolicy.from_names(self.settings.print_requires,
                                      allow_provisional=self.settings.print_on_provisional)


def default_subscribers() -> tuple[Subscriber, ...]:
    """The office's consumers of domain events: the relay's outbox, and the notifications."""
    from kanim.link.outbox import CentralOutbox
    from kanim.office.notify import CONSUMER

    return (CentralOutbox(), CONSUMER)


def bootstrap(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    central: Central | None = None,
    engine: Engine | None = None,
) -> Office:
    settings = settings or Settings()
    private_dir(settings.data_dir)  # personal data: only kanim's user may enter (filemodes.py)
    start_mappers()
    engine = engine or make_engine(settings.db_url)
    if central is None:
        central = _central_for(settings)
    return Office(
        settings=settings,
        engine=engine,
        session_factory=sessionmaker(bind=engine, expire_on_commit=False),
        clock=clock or SystemClock(),
        vault=Vault.open(settings.vault_dir, settings.key_path),
        central=central,
        photo_policy=PhotoPolicy(max_bytes=settings.max_upload_bytes),
        fingerprint_policy=FingerprintPolicy(max_bytes=settings.max_upload_bytes),
    )


def _central_for(settings: Settings) -> Central | None:
    mode = settings.link_mode
    if mode == "simulated":
        from kanim.link.simulated import SimulatedCentral

        return SimulatedCentral()
    if mode == "http":
        from kanim.link.http import HttpCentral
        from kanim.protocol.signing import load_or_create_key

        if not settings.central_url:
            raise ValueError("KANIM_CENTRAL=http needs KANIM_CENTRAL_URL")
        return HttpCentral(settings.central_url, office_code=settings.office_code,
                           key=load_or_create_key(settings.office_key_path), timeout=settings.link_timeout)
    return None
