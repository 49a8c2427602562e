"""Running a node: migrate, bootstrap, start the relay (office), serve with uvicorn."""

from __future__ import annotations

import functools
import logging
import resource
import threading
from dataclasses import dataclass
from typing import Any

import uvicorn

from kanim import logs
from kanim.bootstrap import Office, bootstrap
from kanim.config import Settings
from kanim.store.migrate import upgrade
from kanim.web.app import create_app
from kanim.web.protocol import BoundedHttpToolsProtocol, HttpLimits

log = logging.getLogger("kanim")

KEEP_ALIVE_SECONDS = 5.0  # an idle kept-alive connection is closed after this (uvicorn's default)
SPARE_FILES = 256  # descriptors beside the connections: database, logs, vault files, the relay's sockets


def uvicorn_options(settings: Settings, *, access_log: bool) -> dict[str, Any]:
    """What both roles give uvicorn, in one process or many: the bounded protocol (kanim serves
    no WebSocket, so none is offered)."""
    limits = HttpLimits.from_settings(settings)
    _allow_open_files(limits.max_connections + SPARE_FILES)
    return {"http": functools.partial(BoundedHttpToolsProtocol, limits=limits), "ws": "none",
            "timeout_keep_alive": KEEP_ALIVE_SECONDS, "log_level": "info", "access_log": access_log,
            "log_config": logs.config()}  # no personal data in any log (kanim/logs.py)


def _allow_open_files(needed: int) -> None:
    """Raise the soft limit on open files towards `needed` (never above the hard limit): many
    systems start services with 1024, and a connection past it fails in accept() instead of
    getting a 503. Worker processes inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


@dataclass
class BackgroundThread:
    stop: threading.Event
    thread: threading.Thread

    def shut_down(self, timeout: float = 10.0) -> None:
        """Stop the relay (or the notification worker) and wait for it: it hands its lease back,
        so a server started again at once (or a `kanim worker`) takes over without waiting for
        the lease to run out."""
        self.stop.set()
        self.thread.join(timeout)


def start_relay(office: Office) -> BackgroundThread | None:
    """The relay in a thread of the server (`kanim worker` runs it as its own process)."""
    if office.central is None:
        return None
    from kanim.link.relay import Relay

    stop = threading.Event()
    thread = threading.Thread(target=Relay(office, office.central).run_forever, args=(stop,), daemon=True,
                              name="kanim-relay")
    thread.start()
    return BackgroundThread(stop, thread)


def start_notifier(office: Office) -> BackgroundThread | None:
    """The notification worker in a thread of the server (`kanim notify run` runs it alone);
    off with KANIM_NOTIFY=false."""
    if not office.settings.notify:
        return None
    from kanim.notify.worker import Worker

    stop = threading.Event()
    thread = threading.Thread(target=Worker(office).run_forever, args=(stop,), daemon=True, name="kanim-notify")
    thread.start()
    return BackgroundThread(stop, thread)


def start_backup_watch(office: Office) -> BackgroundThread | None:
    """The backup watch (kanim/backup/watch.py) in a thread of the server, when the office has
    backup targets; without them, an old watch's findings (a node restored from a backup holds
    the file) are not shown."""
    from kanim.backup.health_file import forget
    from kanim.backup.settings import BackupSettings

    if not BackupSettings().target_specs():
        forget(office.settings.data_dir)
        return None
    from kanim.backup.watch import run_forever

    stop = threading.Event()
    thread = threading.Thread(target=run_forever, args=(office, stop), daemon=True, name="kanim-backup-watch")
    thread.start()
    return BackgroundThread(stop, thread)


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
    watch_thread = start_backup_watch(office)  # first: it reads settings that may refuse to start
    relay_thread = start_relay(office) if relay else None
    notify_thread = start_notifier(office)
    try:
        if workers > 1:
            # Python runs one thread at a time per process: on a multi-core server, several
            # worker processes share the load; SQLite's WAL arbitrates between them.
            uvicorn.run("kanim.web.server:office_app", factory=True, host=host, port=port, workers=workers,
                        **uvicorn_options(settings, access_log=access_log))
        else:
            uvicorn.run(create_app(office), host=host, port=port, **uvicorn_options(settings, access_log=access_log))
    finally:
        for background in (relay_thread, notify_thread, watch_thread):
            if background:
                background.shut_down()


def central_app() -> object:
    from kanim.central.api import create_central_app
    from kanim.central.node import bootstrap_central

    return create_central_app(bootstrap_central(Settings(role="central")))


def run_central(settings: Settings, *, host: str, port: int, workers: int = 1, access_log: bool = True) -> None:
    from kanim.central.api import create_central_app
    from kanim.central.biometrics import record_sealing_key, seal_plaintext
    from kanim.central.node import bootstrap_central

    logs.configure()
    node = bootstrap_central(settings)
    upgrade(node.engine)
    seal_plaintext(node)  # images stored before they were sealed at rest
    record_sealing_key(node)  # `rekey --prune` keeps the key this central seals with
    if workers > 1:
        uvicorn.run("kanim.web.server:central_app", factory=True, host=host, port=port, workers=workers,
                    **uvicorn_options(settings, access_log=access_log))
    else:
        uvicorn.run(create_central_app(node), host=host, port=port, **uvicorn_options(settings, access_log=access_log))
