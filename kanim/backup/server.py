"""`kanim backup serve`: the off-site, append-only backup store, run on the off-site host.

Each node authenticates with its own bearer token (only its SHA-256 is kept, in
`<dir>/tokens.json`) and may only add to and read its own folder. There is no route that
deletes or replaces: PUT of a name that exists is 409, DELETE is 405, whoever asks. So an
attacker holding a node's token (as ransomware on the node does) can add snapshots but never
remove or alter the ones already there. A pack is also refused unless its name is the SHA-256
of its bytes: damage on the way is caught at upload. Errors are problem+json.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kanim.backup.format import KINDS, valid_name
from kanim.backup.targets import write_new
from kanim.security.filemodes import FILE_MODE, private_dir

MAX_OBJECT_BYTES = 256 * 1024 * 1024  # a pack is ~8 MiB; a manifest of a large office some MiB
OFFICE = re.compile(r"^[A-Z0-9]{2,8}$")
TOKENS = "tokens.json"


def grant(root: Path, office: str) -> str:
    """A new token for `office` (its hash added beside the others): printed once, never stored."""
    if not OFFICE.match(office):
        raise ValueError(f"not an office code: {office!r} (2-8 capital letters or digits)")
    private_dir(root)
    token = secrets.token_urlsafe(32)
    hashes = _tokens(root)
    hashes.setdefault(office, []).append(_hash(token))
    tmp = root / f".{TOKENS}.tmp"
    tmp.write_text(json.dumps(hashes, indent=1))
    tmp.chmod(FILE_MODE)
    tmp.replace(root / TOKENS)
    return token


def _tokens(root: Path) -> dict[str, list[str]]:
    path = root / TOKENS
    return json.loads(path.read_text()) if path.exists() else {}


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def problem(status: int, code: str, detail: str) -> JSONResponse:
    return JSONResponse({"type": f"urn:kanim:problem:{code}", "title": code.replace("-", " "), "status": status,
                         "code": code, "detail": detail}, status_code=status, media_type="application/problem+json")


def make_app(root: Path) -> Starlette:
    private_dir(root)

    def allowed(request: Request, office: str) -> bool:
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        # Read on every request: a token granted or withdrawn takes effect without a restart.
        return bool(given) and any(hmac.compare_digest(_hash(given), h) for h in _tokens(root).get(office, []))

    def guard(request: Request) -> tuple[Path, str | None] | Response:
        office, kind = request.path_params["office"], request.path_params["kind"]
        name = request.path_params.get("name")
        if not OFFICE.match(office) or kind not in KINDS or (name is not None and not valid_name(kind, name)):
            return problem(404, "not-found", "no such backup object")
        if not allowed(request, office):
            return problem(401, "not-authenticated", "a valid token for this office is needed")
        return root / office / kind, name

    async def listing(request: Request) -> Response:
        checked = guard(request)
        if isinstance(checked, Response):
            return checked
        folder, _ = checked
        kind = request.path_params["kind"]
        names = sorted(p.name for p in folder.iterdir() if valid_name(kind, p.name)) if folder.is_dir() else []
        return JSONResponse({"names": names})

    async def obj(request: Request) -> Response:
        checked = guard(request)
        if isinstance(checked, Response):
            return checked
        folder, name = checked
        if request.method == "GET":
            path = folder / name
            return Response(path.read_bytes(), media_type="application/octet-stream") if path.is_file() \
                else problem(404, "not-found", f"{request.path_params['kind']}/{name} is not here")
        if request.method != "PUT":
            return problem(405, "append-only", "this store only adds: nothing is deleted or replaced")
        size = int(request.headers.get("content-length") or 0)
        if size > MAX_OBJECT_BYTES:
            return problem(413, "too-large", f"objects are at most {MAX_OBJECT_BYTES} bytes")
        data = await request.body()
        if request.path_params["kind"] == "packs" and hashlib.sha256(data).hexdigest() != name:
            return problem(422, "pack-damaged", "the pack's bytes do not match its name (SHA-256)")
        if (folder / name).exists():
            return problem(409, "already-stored", "this name is taken: nothing is replaced")
        private_dir(folder)
        if not write_new(folder / name, data):  # a second PUT that raced this one
            return problem(409, "already-stored", "this name is taken: nothing is replaced")
        return Response(status_code=201)

    async def health(_: Request) -> Response:
        return JSONResponse({"ok": True})

    methods = ["GET", "PUT", "DELETE", "POST", "PATCH"]
    return Starlette(routes=[
        Route("/health", health),
        Route("/v1/{office}/{kind}/", listing, methods=["GET"]),
        Route("/v1/{office}/{kind}/{name}", obj, methods=methods),
    ])
