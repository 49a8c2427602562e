"""Running a node: migrate, bootstrap, start the relay (office), serve with uvicorn."""

from __future__ import annotations

import logging
import threading

import uvicorn

from kanim import logs
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


def office_app() -> object:
    """The ASGI app of one worker process (`--workers` > 1): settings come from the environment
    the workers inherit, and the relay stays in the parent (one relay per office)."""
    return create_app(bootstrap(Settings()))


def run(settings: Settings, *, host: str, port: int, relay: bool = True, workers: int = 1,
        access_log: bool = True) -> None:
    if settings.role == "central":
        return run_central(settings, host=host, port=port, workers=workers, access_log=access_log)
    logs.configure()  # before the relay's thread starts logging
    office = bootstrap(settings)
    upgrade(office.engine)
    stop = start_relay(office) if relay else None
    try:
        if workers > 1:
            # Python runs one thread at a time per process: on a multi-core server, several
            # worker processes share the load; SQLite's WAL arbitrates between them.
            uvicorn.run("kanim.web.server:office_app", factory=True, host=host, port=port, workers=workers,
                        log_level="info", access_log=access_log,
                    log_config=logs.config())
        else:
            uvicorn.run(create_app(office), host=host, port=port, log_level="info", access_log=access_log,
                    log_config=logs.config())
    finally:
        if stop:
            stop.set()


def central_app() -> object:
    from kanim.central.api import create_central_app
    from kanim.central.node import bootstrap_central

    return create_central_app(bootstrap_central(Settings(role="central")))


def run_central(settings: Settings, *, host: str, port: int, workers: int = 1, access_log: bool = True) -> None:
    from kanim.central.api import create_central_app
    from kanim.central.node import bootstrap_central

    from kanim.central.biometrics import seal_plaintext

    node = bootstrap_central(settings)
    upgrade(node.engine)
    seal_plaintext(node)  # images stored before they were sealed at rest
    if workers > 1:
        uvicorn.run("kanim.web.server:central_app", factory=True, host=host, port=port, workers=workers,
                    log_level="info", access_log=access_log,
                    log_config=logs.config())
    else:
        uvicorn.run(create_central_app(node), host=host, port=port, log_level="info", access_log=access_log,
                    log_config=logs.config())
