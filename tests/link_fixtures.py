"""Helpers for tests that need a real central hub: a uvicorn server in a thread on a free port,
the office registered with its key, and an office whose link talks HTTP to it."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from pathlib import Path
from collections.abc import Iterator

import httpx
import uvicorn

from kanim.central.api import create_central_app
from kanim.central.node import CentralNode, bootstrap_central
from kanim.central.service import register_office
from kanim.config import Settings
from kanim.link.http import HttpCentral
from kanim.protocol.signing import load_or_create_key, public_b64
from kanim.ops.cluster import free_port
from kanim.store.migrate import upgrade


@contextmanager
def central_server(node: CentralNode) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_central_app(node), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def make_central(tmp_path, engine=None, clock=None, **settings) -> CentralNode:  # noqa: ANN001
    s = Settings(role="central", data_dir=tmp_path / "central", **settings)
    if engine is None and s.db_url.startswith("sqlite:///"):
        from tests.conftest import _migrated_sqlite

        _migrated_sqlite(Path(s.db_url.removeprefix("sqlite:///")))  # one schema for both roles
    node = bootstrap_central(s, engine=engine, clock=clock)
    upgrade(node.engine)  # at the head already (the copy), or the engine's own database
    return node


def connect(office, node: CentralNode, url: str) -> HttpCentral:  # noqa: ANN001
    """Register the office at the central with its key; return its HTTP link."""
    key = load_or_create_key(office.settings.office_key_path)
    register_office(node, code=office.settings.office_code, name=office.settings.office_name,
                    public_key=public_b64(key), actor="test")
    office.settings.central_public_key = public_b64(node.signing_key)
    office.settings.central_url = url  # the office is linked, as KANIM_CENTRAL_URL makes it
    office.central = HttpCentral(url, office_code=office.settings.office_code, key=key, timeout=5)
    return office.central
