"""The central's signed-link middleware (kanim/central/auth.py) driven as an ASGI app, in
process: a forged signature costs the central no memory for its body, one office's bodies are
read two at a time, and a busy database while checking answers 503, not a text 500."""

from __future__ import annotations

import asyncio
import json
import time
import tracemalloc

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.exc import OperationalError

from kanim.central import auth
from kanim.central.service import register_office
from kanim.protocol.signing import H_SIGNATURE, public_b64, sign_request
from tests.link_fixtures import make_central

PATH = "/api/v1/link/operations"
CHUNK = 1 << 16


@pytest.fixture
def link(tmp_path):  # noqa: ANN001, ANN201
    node = make_central(tmp_path)
    key = Ed25519PrivateKey.generate()
    register_office(node, code="MND", name="Kanim MND", public_key=public_b64(key), actor="test")
    reached: list[bytes] = []

    async def route(scope, receive, send) -> None:  # noqa: ANN001
        reached.append((await receive())["body"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    middleware = auth.SignedLink(route, node=node, prefix="/api/v1/link/", max_body_bytes=80_000_000)
    yield middleware, key, reached
    node.engine.dispose()


def scope(headers: dict[str, str], length: int | None) -> dict:
    hs = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    if length is not None:
        hs.append((b"content-length", str(length).encode()))
    return {"type": "http", "method": "POST", "path": PATH, "query_string": b"", "headers": hs}


def body_of(size: int, gate: asyncio.Event | None = None):  # noqa: ANN201
    sent = 0

    async def receive() -> dict:
        nonlocal sent
        if gate is not None:
            await gate.wait()
        n = min(CHUNK, size - sent)
        sent += n
        return {"type": "http.request", "body": b"\0" * n, "more_body": sent < size}

    return receive


async def call(app, sc, receive) -> dict:  # noqa: ANN001
    out: dict = {}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            out["status"] = message["status"]
            out["headers"] = dict(message["headers"])
        else:
            out["body"] = out.get("body", b"") + message.get("body", b"")

    await app(sc, receive, send)
    return out


def forged(key) -> dict[str, str]:  # noqa: ANN001
    headers = sign_request(key, "MND", "POST", PATH, b"what was signed", time.time())
    return {**headers, H_SIGNATURE: sign_request(Ed25519PrivateKey.generate(), "MND", "POST", PATH, b"", time.time())[
        H_SIGNATURE]}


def test_a_forged_signature_costs_the_central_no_memory_for_its_body(link) -> None:  # noqa: ANN001
    app, key, reached = link
    size = 40_000_000
    tracemalloc.start()
    answer = asyncio.run(call(app, scope(forged(key), size), body_of(size)))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert answer["status"] == 401 and reached == []
    assert peak < 6_000_000, f"{peak} bytes held for a forged 40 MB body"


def test_a_genuine_body_still_reaches_the_route_whole(link) -> None:  # noqa: ANN001
    app, key, reached = link
    body = json.dumps({"operations": []}).encode() * 1 + b" " * 3_000_000  # past the in-memory spool
    headers = sign_request(key, "MND", "POST", PATH, body, time.time())
    pos = 0

    async def receive() -> dict:
        nonlocal pos
        chunk = body[pos:pos + CHUNK]
        pos += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": pos < len(body)}

    answer = asyncio.run(call(app, scope(headers, len(body)), receive))
    assert answer["status"] == 200 and reached == [body]


def test_a_third_body_of_one_office_at_once_is_told_to_wait_before_it_is_read(link) -> None:  # noqa: ANN001
    app, key, _ = link

    async def scenario() -> dict:
        gate = asyncio.Event()
        slow = [asyncio.create_task(call(app, scope(forged(key), 1_000_000), body_of(1_000_000, gate)))
                for _ in range(auth.READS_PER_OFFICE)]
        await asyncio.sleep(0.2)  # both are being read (waiting for their bodies)
        read = []

        async def never() -> dict:
            read.append(True)
            return {"type": "http.request", "body": b"", "more_body": False}

        third = await call(app, scope(forged(key), 10), never)
        gate.set()
        await asyncio.gather(*slow)
        assert read == []
        return third

    third = asyncio.run(scenario())
    assert third["status"] == 429 and third["headers"][b"retry-after"] == b"1"


def test_a_busy_database_while_checking_answers_503_with_retry_after(link, monkeypatch) -> None:  # noqa: ANN001
    app, key, _ = link

    def busy(*_a, **_k):  # noqa: ANN002, ANN003, ANN202
        raise OperationalError("SELECT", {}, Exception("database is locked"))

    monkeypatch.setattr(auth, "_office_key", busy)
    answer = asyncio.run(call(app, scope(sign_request(key, "MND", "POST", PATH, b"{}", time.time()), 2),
                              body_of(2)))
    assert answer["status"] == 503 and answer["headers"][b"retry-after"] == b"2"
    assert answer["headers"][b"content-type"] == b"application/problem+json"


def test_a_full_central_tells_pushes_to_wait_before_reading_them_and_keeps_a_share_for_urgent_work(
        tmp_path) -> None:  # noqa: ANN001
    node = make_central(tmp_path, central_max_pushes=6)  # 4 places for any push, 2 more for urgent ones
    keys = {}
    for code in ("MNA", "MNB", "MNC", "MND", "MNE", "MNF", "MNG"):
        keys[code] = Ed25519PrivateKey.generate()
        register_office(node, code=code, name=f"Kanim {code}", public_key=public_b64(keys[code]), actor="test")
    gate, applied = asyncio.Event(), []

    async def route(scope, receive, send) -> None:  # noqa: ANN001 - the batch being applied, until the gate opens
        await receive()
        if scope["method"] == "POST":
            await gate.wait()
        applied.append(dict(scope["headers"]).get(b"x-kanim-office", b"").decode())
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    app = auth.SignedLink(route, node=node, prefix="/api/v1/link/", max_body_bytes=80_000_000)

    def push(code: str, *, urgent: bool = False, read: list | None = None):  # noqa: ANN202
        body = b'{"operations": []}'
        headers = sign_request(keys[code], code, "POST", PATH, body, time.time())
        if urgent:
            headers["X-Kanim-Urgent"] = "1"

        async def receive() -> dict:
            if read is not None:
                read.append(code)
            return {"type": "http.request", "body": body, "more_body": False}

        return call(app, scope(headers, len(body)), receive)

    def pull(code: str):  # noqa: ANN202
        path = "/api/v1/link/events"
        headers = sign_request(keys[code], code, "GET", path, b"", time.time())
        sc = {**scope(headers, None), "method": "GET", "path": path}
        return call(app, sc, body_of(0))

    async def scenario() -> dict:
        held = [asyncio.create_task(push(c)) for c in ("MNA", "MNB", "MNC", "MND")]
        await asyncio.sleep(0.3)
        read: list[str] = []
        ordinary = await push("MNE", read=read)
        held += [asyncio.create_task(push("MNE", urgent=True)), asyncio.create_task(push("MNF", urgent=True))]
        await asyncio.sleep(0.3)
        urgent_too_many = await push("MNG", urgent=True, read=read)
        feed = await pull("MNG")
        gate.set()
        done = await asyncio.gather(*held)
        after = await push("MNG")
        return {"ordinary": ordinary, "urgent_too_many": urgent_too_many, "feed": feed, "done": done,
                "after": after, "read": read, "left": dict(app.pushing)}

    out = asyncio.run(scenario())
    for refused in (out["ordinary"], out["urgent_too_many"]):
        assert refused["status"] == 429 and refused["headers"][b"retry-after"] == b"1"
        assert json.loads(refused["body"])["code"] == "central-full"
    assert out["read"] == [], "a push told to wait is not read"
    assert [d["status"] for d in out["done"]] == [200] * 6, "4 ordinary, then 2 urgent in the places kept for them"
    assert out["feed"]["status"] == 200, "reading the feed takes no place: offices learn their decisions"
    assert out["after"]["status"] == 200 and out["left"] == {}, "every place given back"
    node.engine.dispose()


def test_a_place_that_frees_goes_to_the_office_that_waited_longest(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """Turns, not luck: an office told to wait first gets the next place even when another asks
    before it; an office that stops asking (drained) soon holds nobody back."""
    node = make_central(tmp_path, central_max_pushes=3)  # 2 places for ordinary pushes, 1 kept for urgent ones
    keys = {code: Ed25519PrivateKey.generate() for code in ("MNA", "MNB", "MNC", "MND", "MNE")}
    for code, key in keys.items():
        register_office(node, code=code, name=f"Kanim {code}", public_key=public_b64(key), actor="test")
    gates = {code: asyncio.Event() for code in keys}

    async def route(scope, receive, send) -> None:  # noqa: ANN001 - applying, until the office's gate opens
        await receive()
        await gates[dict(scope["headers"])[b"x-kanim-office"].decode()].wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    app = auth.SignedLink(route, node=node, prefix="/api/v1/link/", max_body_bytes=80_000_000)

    def push(code: str):  # noqa: ANN202
        body = b'{"operations": []}'
        headers = sign_request(keys[code], code, "POST", PATH, body, time.time())
        return call(app, scope(headers, len(body)),
                    lambda: asyncio.sleep(0, {"type": "http.request", "body": body, "more_body": False}))

    async def scenario() -> dict:
        held = {c: asyncio.create_task(push(c)) for c in ("MNA", "MNB")}
        await asyncio.sleep(0.2)
        first_told = await push("MNC")  # waits first
        await asyncio.sleep(0.05)
        second_told = await push("MND")
        gates["MNA"].set()
        await held["MNA"]  # one place free
        out_of_turn = await push("MND")  # asks first, but MNC waited longer
        in_turn = asyncio.create_task(push("MNC"))
        await asyncio.sleep(0.2)
        gates["MNC"].set()
        taken = await in_turn
        monkeypatch.setattr(auth, "WAIT_FORGOTTEN", 0.1)
        await asyncio.sleep(0.3)  # MND stops asking: drained, say
        gates["MNE"].set()
        newcomer = await push("MNE")
        gates["MNB"].set()
        await held["MNB"]
        return {"told": [first_told, second_told, out_of_turn], "taken": taken, "newcomer": newcomer}

    out = asyncio.run(asyncio.wait_for(scenario(), 10))  # out of turn, MND would hold the place for good
    assert [a["status"] for a in out["told"]] == [429, 429, 429]
    assert json.loads(out["told"][2]["body"])["code"] == "central-full"
    assert out["taken"]["status"] == 200, "the place went to the office that waited longest"
    assert out["newcomer"]["status"] == 200, "an office that stopped asking holds nobody back"
    assert app.pushing == {} and "MNC" not in app.waiting
    node.engine.dispose()


def test_requests_nobody_signed_cannot_queue_in_offices_names_and_keep_the_places_empty(tmp_path) -> None:  # noqa: ANN001
    """A forger who knows office codes asks for them while the central is full; at their turn
    their requests fail the signature and the turn is spent: a genuine office is admitted."""
    node = make_central(tmp_path, central_max_pushes=3)  # 2 ordinary places
    keys = {code: Ed25519PrivateKey.generate() for code in ("MNA", "MNB", "MNC", "MND", "MNE")}
    for code, key in keys.items():
        register_office(node, code=code, name=f"Kanim {code}", public_key=public_b64(key), actor="test")
    gate = asyncio.Event()

    async def route(scope, receive, send) -> None:  # noqa: ANN001
        await receive()
        await gate.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    app = auth.SignedLink(route, node=node, prefix="/api/v1/link/", max_body_bytes=80_000_000)
    body = b'{"operations": []}'

    def push(code: str, *, key=None):  # noqa: ANN001, ANN202
        headers = sign_request(key or keys[code], code, "POST", PATH, body, time.time())
        return call(app, scope(headers, len(body)),
                    lambda: asyncio.sleep(0, {"type": "http.request", "body": body, "more_body": False}))

    async def scenario() -> list[int]:
        held = [asyncio.create_task(push(c)) for c in ("MNA", "MNB")]
        await asyncio.sleep(0.2)
        stranger = Ed25519PrivateKey.generate()
        for code in ("MNC", "MND"):  # queued first, in the offices' names, by someone without their keys
            assert (await push(code, key=stranger))["status"] == 429
        assert (await push("MNE"))["status"] == 429  # a genuine office queues behind them
        gate.set()
        await asyncio.gather(*held)
        answers = []
        for _ in range(3):  # the forger asks at its turns, and the genuine office after
            for code in ("MNC", "MND"):
                answers.append((await push(code, key=stranger))["status"])
            answers.append((await push("MNE"))["status"])
        return answers

    answers = asyncio.run(asyncio.wait_for(scenario(), 10))
    assert answers[:3] == [401, 401, 200], answers  # the forged turns spent, then the genuine push admitted
    assert 200 in answers and app.pushing == {}
    node.engine.dispose()


def test_requests_nobody_signed_hold_no_place_at_a_full_central(tmp_path) -> None:  # noqa: ANN001
    """A forged push may be read (spooled, not held in memory) but takes a place only once its
    signature and nonce are checked: slow forged bodies cannot keep genuine pushes out."""
    node = make_central(tmp_path, central_max_pushes=3)
    key = Ed25519PrivateKey.generate()
    register_office(node, code="MND", name="Kanim MND", public_key=public_b64(key), actor="test")
    seen = []

    async def route(scope, receive, send) -> None:  # noqa: ANN001
        await receive()
        seen.append(scope["method"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    app = auth.SignedLink(route, node=node, prefix="/api/v1/link/", max_body_bytes=80_000_000)

    async def scenario() -> tuple[dict, dict]:
        gate = asyncio.Event()
        slow = [asyncio.create_task(call(app, scope(forged(key), 1_000_000), body_of(1_000_000, gate)))]
        await asyncio.sleep(0.2)  # a forged body is being read, slowly
        held = dict(app.pushing)
        body = b'{"operations": []}'
        genuine = await call(app, scope(sign_request(key, "MND", "POST", PATH, body, time.time()), len(body)),
                             lambda: asyncio.sleep(0, {"type": "http.request", "body": body, "more_body": False}))
        gate.set()
        forged_answer = (await asyncio.gather(*slow))[0]
        return held, genuine, forged_answer

    held, genuine, forged_answer = asyncio.run(scenario())
    assert held == {}, "reading a body takes no place"
    assert genuine["status"] == 200 and forged_answer["status"] == 401 and seen == ["POST"]
    assert app.pushing == {}
    node.engine.dispose()
