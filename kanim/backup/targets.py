"""Where backups go: a folder (a local disk, a USB drive) or an off-site `kanim backup serve`
over HTTP. Both only ever add: a name is written once and never replaced, and kanim has no call
that deletes. The off-site server enforces that against anyone holding the node's own token;
a local folder cannot (whoever owns the machine owns the disk), which is why a local target
alone is not a backup that survives ransomware."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Protocol

import httpx

from kanim.backup.format import KINDS, valid_name
from kanim.security.filemodes import FILE_MODE, fsync_dir, private_dir


class TargetError(Exception):
    """One line: what failed on which target."""


class AlreadyThere(TargetError):
    pass


class Target(Protocol):
    label: str

    def put_new(self, kind: str, name: str, data: bytes) -> None: ...
    def get(self, kind: str, name: str) -> bytes: ...
    def names(self, kind: str) -> list[str]: ...
    def close(self) -> None: ...


def _check(kind: str, name: str | None = None) -> None:
    if kind not in KINDS or (name is not None and not valid_name(kind, name)):
        raise TargetError(f"not a backup object: {kind}/{name}")


def write_new(path: Path, data: bytes) -> bool:
    """Write `path` once, durably: False (and nothing changed) if it is already there. A link
    from a finished temporary file cannot replace an existing name, unlike a rename."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        with open(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        fsync_dir(path.parent)
        return True
    finally:
        tmp.unlink(missing_ok=True)


class FolderTarget:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.label = str(root)

    def put_new(self, kind: str, name: str, data: bytes) -> None:
        _check(kind, name)
        folder = self.root / kind
        if not folder.is_dir():
            private_dir(self.root)
            private_dir(folder)
        try:
            written = write_new(folder / name, data)
        except OSError as e:
            raise TargetError(f"cannot write to {self.label}: {e.strerror}") from None
        if not written:
            raise AlreadyThere(f"{kind}/{name} is already on {self.label}")

    def get(self, kind: str, name: str) -> bytes:
        _check(kind, name)
        try:
            return (self.root / kind / name).read_bytes()
        except FileNotFoundError:
            raise TargetError(f"{kind}/{name} is missing from {self.label}") from None
        except OSError as e:
            raise TargetError(f"cannot read {self.label}: {e.strerror}") from None

    def names(self, kind: str) -> list[str]:
        _check(kind)
        folder = self.root / kind
        try:
            return sorted(p.name for p in folder.iterdir() if valid_name(kind, p.name)) if folder.is_dir() else []
        except OSError as e:  # a failing disk, a USB drive pulled out
            raise TargetError(f"cannot read {self.label}: {e.strerror}") from None

    def close(self) -> None:
        pass


class HttpTarget:
    """An off-site `kanim backup serve`: `<url>/v1/<office>/<kind>/<name>`, bearer token per node."""

    def __init__(self, url: str, *, office: str, token: str | None, timeout: float = 120) -> None:
        if not token:
            raise TargetError(f"the off-site target {url} needs the node's token: set KANIM_BACKUP_TOKEN "
                              "(the off-site host makes one with `kanim backup grant`)")
        self.label = redacted(url)  # what is printed, alerted and on /metrics: never a password
        self.base = f"{url.rstrip('/')}/v1/{office}"
        self.client = httpx.Client(headers={"authorization": f"Bearer {token}"}, timeout=timeout)

    def put_new(self, kind: str, name: str, data: bytes) -> None:
        _check(kind, name)
        r = self._call("PUT", f"{kind}/{name}", content=data)
        if r.status_code == 409:
            raise AlreadyThere(f"{kind}/{name} is already on {self.label}")
        self._ok(r)

    def get(self, kind: str, name: str) -> bytes:
        _check(kind, name)
        return self._ok(self._call("GET", f"{kind}/{name}")).content

    def names(self, kind: str) -> list[str]:
        _check(kind)
        r = self._ok(self._call("GET", f"{kind}/"))
        try:
            found = r.json()["names"]
        except (ValueError, KeyError, TypeError):  # a proxy's or captive portal's page, not the store's
            raise TargetError(f"the off-site target {self.label} answered something that is not a listing") from None
        if not isinstance(found, list) or not all(isinstance(n, str) for n in found):
            raise TargetError(f"the off-site target {self.label} answered something that is not a listing")
        return found

    def close(self) -> None:
        self.client.close()

    def _call(self, method: str, path: str, **kw: object) -> httpx.Response:
        try:
            return self.client.request(method, f"{self.base}/{path}", **kw)
        except httpx.HTTPError as e:
            raise TargetError(f"cannot reach the off-site target {self.label}: {type(e).__name__}") from None

    def _ok(self, r: httpx.Response) -> httpx.Response:
        if r.status_code >= 400:
            try:
                detail = r.json().get("detail", r.reason_phrase)
            except ValueError:
                detail = r.reason_phrase
            raise TargetError(f"the off-site target {self.label} answered {r.status_code}: {detail}")
        return r


def redacted(url: str) -> str:
    """The URL without user, password or query: a target as it may be shown to anyone."""
    try:
        u = httpx.URL(url)
        return str(u.copy_with(username=None, password=None, query=None, fragment=None))
    except (httpx.InvalidURL, ValueError, TypeError):
        return "an off-site target (its address does not parse)"


def open_target(spec: str, *, office: str, token: str | None, timeout: float = 120) -> Target:
    if spec.startswith(("http://", "https://")):
        return HttpTarget(spec, office=office, token=token, timeout=timeout)
    return FolderTarget(Path(spec.removeprefix("file://")).expanduser())
