"""Running a node: migrate, bootstrap, start the relay (office), serve with uvicorn."""

from __future__ import annotations

import logging
import threading

import uvicorn

from kanim.bootstrap import Office, bootstrap
from kanim.config import Settings
from kanim.store.migrate import upgrade
from kanim.web.app import create_app

log = logging.getLogger("kanim")


def start_relay(office: Office) -> threading.Event | None:
    """The relay in a thread of the server (`kanim worker` runs it as its own process)."""
    if office.central is None:
        return None
    from kanim.link.relay import Relay

    stop = threading.Event()
    threading.Thread(target=Relay(office, office.central).run_forever, args=(stop,), daemon=True,
                     name="kanim-relay").start()
    return stop


def run(settings: Settings, *, host: str, port: int, relay: bool = True) -> None:
    if settings.role == "central":
        return run_central(settings, host=host, port=port)
    office = bootstrap(settings)
    upgrade(office.engine)
    stop = start_relay(office) if relay else None
    try:
        uvicorn.run(create_app(office), host=host, port=port, log_level="info")
    finally:
        if stop:
            stop.set()


def run_central(settings: Settings, *, host: str, port: int) -> None:
    from kanim.central.api import create_central_app
    from kanim.central.node import bootstrap_central

    node = bootstrap_central(settings)
    upgrade(node.engine)
    uvicorn.run(create_central_app(node), host=host, port=port, log_level="info")
