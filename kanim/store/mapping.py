"""Maps the domain's dataclasses onto the tables (SQLAlchemy imperative mapping), so the domain
stays free of the ORM (cosmicpython's approach)."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.orm import composite, registry

from kanim.domain.application import Application
from kanim.domain.booklet import Booklet
from kanim.domain.clearances import Clearances
from kanim.store import tables as t

mapper_registry = registry(metadata=t.metadata)
_mapped = False


def start_mappers() -> None:
    """Idempotent: called by every bootstrap, mapped once per process."""
    global _mapped
    if _mapped:
        return
    c = t.application.c
    mapper_registry.map_imperatively(
        Application,
        t.application,
        properties={
            "clearances": composite(
                Clearances, c.nik_verified, c.watchlist_clear, c.not_duplicate,
                c.payment_confirmed, c.recorded_centrally,
            ),
            "_version": c.version,  # not a domain field: only the optimistic lock reads it
        },
        version_id_col=c.version,
    )
    mapper_registry.map_imperatively(Booklet, t.booklet)
    _mapped = True


@event.listens_for(Application, "load")
def _fresh_events(app: Application, _ctx: object) -> None:
    # Loaded objects skip __init__, so the list of new events has to be made here.
    app.events = []
