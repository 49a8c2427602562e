"""Running the server: migrate, bootstrap, start the link loop, serve with uvicorn."""

from __future__ import annotations

import logging
import threading

import uvicorn

from kanim.bootstrap import Office, bootstrap
from kanim.config import Settings
from kanim.store.migrate import upgrade
from kanim.web.app import create_app

log = logging.getLogger("kanim.link")


def link_loop(office: Office, stop: threading.Event, interval: float) -> None:
    """Until the real relay worker exists (central-hub issue), a thread pushes the outbox to the
    configured central and applies its decisions. With no central it does nothing: the outbox
    simply grows, as it would during an outage."""
    from kanim.link.relay import sync_once

    while not stop.wait(interval):
        if office.central is None:
            continue
        try:
            r = sync_once(office.uow(), office.central, office_code=office.settings.office_code)
            if r.error:
                log.warning("link: %s", r.error)
        except Exception:  # keep the loop alive; the outbox keeps the work
            log.exception("link round failed")


def run(settings: Settings, *, host: str, port: int, sync_interval: float = 2.0) -> None:
    office = bootstrap(settings)
    upgrade(office.engine)
    stop = threading.Event()
    if sync_interval > 0:
        threading.Thread(target=link_loop, args=(office, stop, sync_interval), daemon=True,
                         name="kanim-link").start()
    try:
        uvicorn.run(create_app(office), host=host, port=port, log_level="info")
    finally:
        stop.set()
