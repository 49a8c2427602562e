"""The notification worker as a real process against real local servers (tests.notify_sinks):
`kanim notify run` (or `kanim serve`, whose thread runs it) on a SQLite office seeded in this
process with kanim's own use cases, its WhatsApp channel pointed at the fake Cloud API with the
URL's `?api=` base (kanim/notify/transport.py), its SMS channel at the fake SMSEagle gateway.

- killed with SIGKILL mid-send, again and again, and restarted: no message lost, and every
  duplicate the WhatsApp fake received is one a kill left `sending` after the fake had it, at
  most `notify_concurrency` per kill (the bound kanim/notify/worker.py documents);
- the office without internet (the channels' ports closed): the messages wait in order without
  using up their retries, and go out in creation order per channel when the channels return;
- the Cloud API's signed status webhooks posted to a real `kanim serve`: delivered and read are
  recorded, a failed one falls back to SMS, a badly signed one is refused (401) and changes
  nothing.

The figures (duplicates per kill) are printed; run with `-s` to see them.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from kanim.bootstrap import bootstrap
from kanim.config import Settings
from kanim.domain.contact import Channel
from kanim.domain.passport import ApplicationType, PassportKind
from kanim.domain.people import Sex
from kanim.notify.purposes import State
from kanim.notify.transport import AppriseTransport, Outcome
from kanim.office import booking
from kanim.ops.cluster import NodeProcess, free_port, node_env
from kanim.ops.drill_desks import appointment_day, day_of_applicants
from kanim.store import tables as t
from kanim.store.migrate import upgrade
from tests.e2e.faults import TcpProxy, wait_for
from tests.e2e.processes import nodes_left_running
from tests.notify_sinks import PHONE_NUMBER_ID, Answer, FakeSMSEagle, FakeWhatsAppCloud, status

pytestmark = pytest.mark.timeout(180)

ROOT = Path(__file__).resolve().parents[2]  # the checkout: its kanim runs in the processes too
CONCURRENCY = 16  # sends in flight: the documented duplicate bound per kill
MESSAGES = 120  # enough for three kills mid-send, each with a full window in flight
KILL_AFTER = (40, 45, 30)  # kill once the fake has had this many more requests since the start
SECRET = "kanim-e2e-app-secret"
FINAL = {State.PERMANENT_FAILURE.value, State.TECHNICAL_FAILURE.value, State.CANCELLED.value}
SETTLED = {State.SENT.value, State.DELIVERED.value} | FINAL


# -- an office whose worker runs as its own process ----------------------------------------------

@dataclass
class NotifyOffice:
    """An office's data folder, seeded here; its worker (or server) is a child process."""

    root: Path
    whatsapp_url: str
    sms_url: str
    extra: dict[str, str] = field(default_factory=dict)
    phones: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.office = bootstrap(Settings(_env_file=None, **self.settings()))
        upgrade(self.office.engine)

    def settings(self) -> dict[str, str]:
        return {"data_dir": str(self.root), "database_url": f"sqlite:///{self.root / 'kanim.db'}",
                "office_code": "MND", "office_name": "Kantor Imigrasi Manado", "office_phone": "(0431) 863 000",
                "central": "none", "daily_quota": "5000",
                "notify_whatsapp_url": self.whatsapp_url, "notify_sms_url": self.sms_url,
                "notify_concurrency": str(CONCURRENCY), "notify_interval": "0.2", "notify_timeout": "6",
                # The drill runs at any hour: quiet hours (21:00-07:00 office time) would hold
                # every notice of an evening run. Start == end: never quiet.
                "notify_quiet_start": "00:00", "notify_quiet_end": "00:00",
                "notify_rate_per_second": "1000", **self.extra}

    def process(self, *args: str, url: str | None = None) -> NodeProcess:
        env = node_env(self.settings())
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        return NodeProcess(" ".join(args), list(args), env, self.root / f"{args[0]}.log", url=url)

    def book(self, n: int, *, channel: str = "whatsapp", start: int = 0) -> list[str]:
        """n bookings of one applicant each, every one with a phone of their own."""
        day, slots = appointment_day() + timedelta(days=1), ["08:00", "09:00", "10:00", "11:00", "13:00", "14:00"]
        while day.weekday() >= 5:
            day += timedelta(days=1)
        phones = []
        for i, p in enumerate(day_of_applicants(start + n)[start:], start=start):
            phone = f"+62812{7000_0000 + i:08d}"
            applicant = booking.Applicant(p.full_name, p.nik, p.birth_date, Sex(p.sex), ApplicationType(p.app_type),
                                          PassportKind(p.passport_kind))
            booking.book(self.office, account_ref=f"online-{i}", day=day, slot=slots[i % len(slots)],
                         applicants=[applicant], actor="front_desk", contact_phone=phone, preferred_channel=channel)
            phones.append(phone)
        self.phones += phones
        return phones

    def messages(self) -> list[Any]:
        m = t.notify_message.c
        with self.office.uow(readonly=True) as uow:
            return list(uow.session.execute(select(m.seq, m.id, m.channel, m.address, m.state, m.attempts, m.reason,
                                                   m.next_attempt_at, m.provider_ref, m.read_at, m.delivered_at)
                                            .order_by(m.seq)))

    def events_queued(self) -> int:
        q = t.event_queue.c
        with self.office.uow(readonly=True) as uow:
            return uow.session.scalar(select(func.count()).where(q.consumer == "notify")) or 0

    def attempts(self, outcome: str) -> int:
        a = t.notify_attempt.c
        with self.office.uow(readonly=True) as uow:
            return uow.session.scalar(select(func.count()).where(a.outcome == outcome)) or 0

    def settled(self) -> bool:
        msgs = self.messages()
        return len(msgs) == len(self.phones) and self.events_queued() == 0 and all(m.state in SETTLED for m in msgs)

    def close(self) -> None:
        self.office.engine.dispose()


@pytest.fixture
def sinks() -> Iterator[tuple[FakeWhatsAppCloud, FakeSMSEagle]]:
    with FakeWhatsAppCloud() as cloud, FakeSMSEagle() as gateway:
        yield cloud, gateway


def whatsapp_url(token: str, base: str) -> str:
    return f"whatsapp://{token}@{PHONE_NUMBER_ID}/?api={base}"


def sms_url(token: str, port: int) -> str:
    return f"smseagle://{token}@127.0.0.1:{port}/"


def recipients(cloud: FakeWhatsAppCloud) -> Counter[str]:
    return Counter(r.json["to"] for r in list(cloud.requests) if isinstance(r.json, dict))


def quiesce(cloud: FakeWhatsAppCloud, quiet: float = 0.5, timeout: float = 5.0) -> None:
    """Until no request has arrived for `quiet` s: what a killed worker had sent is read."""
    deadline, seen, since = time.monotonic() + timeout, len(cloud.requests), time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - since < quiet:
        time.sleep(0.05)
        if len(cloud.requests) != seen:
            seen, since = len(cloud.requests), time.monotonic()


def no_contact_in(log: str, phones: list[str]) -> list[str]:
    return [p for p in phones if p in log or p.lstrip("+") in log]


# -- 1. the transport's endpoint setting --------------------------------------------------------

def test_the_whatsapp_url_can_name_the_cloud_apis_base_and_apprise_keeps_metas(sinks) -> None:  # noqa: ANN001
    from apprise.plugins.whatsapp import NotifyWhatsApp

    from kanim.notify.render import preview

    cloud, _ = sinks
    meta = NotifyWhatsApp.notify_url
    transport = AppriseTransport({Channel.WHATSAPP: whatsapp_url(cloud.token, cloud.base_url + "/")})
    result = transport.send(Channel.WHATSAPP, "+6281270000001", preview("ready", "whatsapp", "id"), message_id="m-1")
    assert result.outcome is Outcome.ACCEPTED, result
    assert [r.path for r in cloud.requests] == [f"/v21.0/{PHONE_NUMBER_ID}/messages"]
    assert NotifyWhatsApp.notify_url == meta, "only kanim's plugin instance is pointed elsewhere"
    for bad in ("ftp://proxy.lan", "http://proxy.lan/?x=1", "http://{phone_id}.lan"):
        with pytest.raises(ValueError, match="api= must be an http"):
            AppriseTransport({Channel.WHATSAPP: whatsapp_url(cloud.token, bad)})
    with pytest.raises(ValueError, match="takes no api="):
        AppriseTransport({Channel.SMS: f"smseagle://tok@127.0.0.1:9/?api={cloud.base_url}"})


# -- 2. killed mid-send --------------------------------------------------------------------------

@dataclass
class Kill:
    era_requests: int  # what the fake had from the worker killed here
    sending: set[str]  # addresses of the messages left `sending` by it
    doubled: set[str]  # those of them the fake had already received from it: they go out again


def test_a_worker_killed_mid_send_again_and_again_loses_nothing_and_doubles_at_most_its_concurrency(
        tmp_path: Path, sinks) -> None:  # noqa: ANN001
    cloud, gateway = sinks
    rng = random.Random(9)
    # 200-400 ms an answer, and one in eight slow (3 s), as a busy provider's tail is.
    cloud.then(*[Answer(hang=3.0 if i % 8 == 7 else rng.uniform(0.2, 0.4)) for i in range(3 * MESSAGES)])
    office = NotifyOffice(tmp_path / "office", whatsapp_url(cloud.token, cloud.base_url),
                          sms_url(gateway.token, gateway.port))
    phones = office.book(MESSAGES)
    worker = office.process("notify", "run")
    kills: list[Kill] = []
    try:
        worker.start()
        for after in KILL_AFTER:
            base, started = recipients(cloud), len(cloud.requests)
            wait_for(f"{after} sends from the worker", lambda: len(cloud.requests) >= started + after or office.settled(),
                     timeout=60, every=0.01, logs=worker.tail)
            worker.kill()
            quiesce(cloud)
            now = recipients(cloud)
            sending = {m.address for m in office.messages() if m.state == State.SENDING.value}
            kills.append(Kill(len(cloud.requests) - started, sending, {a for a in sending if now[a] > base[a]}))
            worker.start()
        wait_for("every message settled", office.settled, timeout=60, every=0.2, logs=worker.tail)
        worker.stop()
    finally:
        worker.kill()
    msgs, received, interrupted = office.messages(), recipients(cloud), office.attempts("interrupted")
    log = worker.log_path.read_text(errors="replace")
    office.close()

    doubled = {a: n - 1 for a, n in received.items() if n > 1}
    per_kill = [len(k.doubled) for k in kills]
    print(f"\n{len(msgs)} messages, {sum(received.values())} WhatsApp requests, {len(kills)} kills; "
          f"left sending per kill {[len(k.sending) for k in kills]}, doubled per kill {per_kill} "
          f"(bound {CONCURRENCY}), doubled in all {sum(doubled.values())}")

    # Nothing lost: one message per booking, each accepted by the fake, or final with its reason.
    assert sorted(m.address for m in msgs) == sorted(phones)
    lost = [m.seq for m in msgs if not ((m.state == State.SENT.value and received[m.address] >= 1)
                                        or (m.state in FINAL and m.reason))]
    assert lost == [], f"messages neither received nor finally failed: {lost}"
    assert all(m.state == State.SENT.value for m in msgs), Counter(m.state for m in msgs)
    assert gateway.requests == [], "nothing needed the fallback"
    # Every duplicate has a kill that left its message `sending` after the fake had it; each
    # kill's copies went out once more (the recovery wrote an `interrupted` attempt for each).
    assert all(sum(1 for k in kills if a in k.doubled) == n for a, n in doubled.items()), (doubled, kills)
    assert sum(doubled.values()) == sum(per_kill)
    assert interrupted == sum(len(k.sending) for k in kills)
    assert all(k.era_requests > 0 for k in kills), "every kill fell on a worker that was sending"
    assert sum(per_kill) > 0, "no kill fell mid-send: the test proved nothing about duplicates"
    assert no_contact_in(log, phones) == [], "the worker's log names applicants' numbers"
    # The documented bound: at most notify_concurrency copies per kill.
    assert all(n <= CONCURRENCY for n in per_kill), f"doubled per kill {per_kill}: over notify_concurrency"



# -- 3. no internet --------------------------------------------------------------------------------

RETRY_FIRST = 5.0  # seconds: the worker's first probe of an unreachable channel (worker.py UNREACHABLE_PROBE)


def test_without_internet_messages_wait_in_order_and_go_out_in_that_order_when_it_returns(
        tmp_path: Path, sinks) -> None:  # noqa: ANN001
    cloud, gateway = sinks
    wa, sms = TcpProxy(cloud.port).start(), TcpProxy(gateway.port).start()
    wa.cut()
    sms.cut()  # both ports closed: connection refused, as with no route out and the gateway off
    # One send at a time: the sends of one round go out in parallel otherwise, and which of them
    # a provider takes first is its business; the order the worker keeps is the order it sends in.
    office = NotifyOffice(tmp_path / "office", whatsapp_url(cloud.token, wa.url), sms_url(gateway.token, sms.port),
                          extra={"notify_concurrency": "1"})
    worker = office.process("notify", "run")
    try:
        for i in range(6):
            office.book(1, channel="sms" if i % 2 else "whatsapp", start=i)
        worker.start()
        # Each channel's oldest message fails and pauses its channel; the rest wait behind it.
        wait_for("each channel's oldest message to fail", lambda: len(office.messages()) == 6 and all(
            m.state in (State.TEMPORARY_FAILURE.value, State.CREATED.value) for m in office.messages()) and {
            m.channel for m in office.messages() if m.state == State.TEMPORARY_FAILURE.value} == {"whatsapp", "sms"},
            timeout=30, logs=worker.tail)
        for i in range(6, 8):  # more while the channels are paused: they queue behind
            office.book(1, channel="sms" if i % 2 else "whatsapp", start=i)
        wait_for("the later messages written", lambda: len(office.messages()) == 8, timeout=30, logs=worker.tail)
        waiting = office.messages()
        assert all(m.state in (State.TEMPORARY_FAILURE.value, State.CREATED.value) for m in waiting), waiting
        assert [m.attempts for m in waiting] == [0] * 8, "no internet costs a message none of its retries"
        assert all(m.reason.startswith("connection") for m in waiting
                   if m.state == State.TEMPORARY_FAILURE.value), [m.reason for m in waiting]
        assert cloud.requests == [] and gateway.requests == []
        for channel in ("whatsapp", "sms"):
            due = [m.next_attempt_at for m in waiting if m.channel == channel and m.next_attempt_at]
            assert max(due) - min(due) <= timedelta(seconds=5), \
                f"{channel}: the waiting messages are due {sorted((d - min(due)).total_seconds() for d in due)} s apart"
        wa.resume()
        sms.resume()
        wait_for("every message sent", lambda: all(m.state == State.SENT.value for m in office.messages()),
                 timeout=RETRY_FIRST + 30, every=0.2, logs=worker.tail)
        worker.stop()
    finally:
        worker.kill()
        wa.close()
        sms.close()
    order = {c: [m.address for m in waiting if m.channel == c] for c in ("whatsapp", "sms")}
    office.close()
    assert [r.json["to"] for r in cloud.requests] == order["whatsapp"]
    assert ["+" + r.json["params"]["to"].lstrip("+") for r in gateway.requests] == order["sms"]


# -- 4. receipts -----------------------------------------------------------------------------------

def test_signed_receipts_are_recorded_a_failed_one_falls_back_to_sms_and_a_forged_one_changes_nothing(
        tmp_path: Path, sinks) -> None:  # noqa: ANN001
    cloud, gateway = sinks
    office = NotifyOffice(tmp_path / "office", whatsapp_url(cloud.token, cloud.base_url),
                          sms_url(gateway.token, gateway.port), extra={"notify_webhook_secret": SECRET})
    delivered, read, failed, untouched = office.book(4)
    port = free_port()
    server = office.process("serve", "--host", "127.0.0.1", "--port", str(port), "--no-relay",
                            url=f"http://127.0.0.1:{port}")
    hook = f"http://127.0.0.1:{port}/api/v1/notify/whatsapp/webhook"
    try:
        server.start(wait=60)
        wait_for("the server's worker to send all four", lambda: len(office.messages()) == 4 and all(
            m.state == State.SENT.value for m in office.messages()), timeout=30, logs=server.tail)
        ref = {m.address: m.provider_ref for m in office.messages()}
        assert {cloud.recipient_of[r] for r in ref.values()} == set(office.phones), "each wamid is its send's"
        before = office.attempts("receipt:read")
        at = datetime.now(UTC)
        r = cloud.post_statuses(hook, SECRET, [
            status(ref[delivered], "delivered", at, delivered.lstrip("+")),
            status(ref[read], "delivered", at, read.lstrip("+")),
            status(ref[read], "read", at + timedelta(seconds=5), read.lstrip("+")),
            status(ref[failed], "failed", at, failed.lstrip("+"), error_code=131026)])
        assert (r.status_code, r.json()) == (200, {"receipts": 4, "matched": 4, "replies": 0}), r.text
        wait_for("the SMS fallback", lambda: gateway.requests, timeout=30, logs=server.tail)
        forged = [_forged_wrong_secret(cloud, hook, ref[untouched], untouched, at),
                  _forged_other_body(hook, ref[untouched], untouched, at)]
        msgs = {m.address: m for m in office.messages()}
        attempts_read = office.attempts("receipt:read")
        server.stop()
        log = server.log_path.read_text(errors="replace")
    finally:
        server.kill()
    office.close()

    assert msgs[delivered].state == State.DELIVERED.value and msgs[delivered].delivered_at is not None
    assert msgs[delivered].read_at is None
    assert msgs[read].state == State.DELIVERED.value and msgs[read].read_at is not None
    assert (msgs[failed].channel, msgs[failed].state) == ("sms", State.SENT.value), msgs[failed]
    [sms] = gateway.requests
    assert sms.json["params"]["to"].lstrip("+") == failed.lstrip("+"), "the failed one, to the same number by SMS"
    for answer in forged:
        assert answer.status_code == 401, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["code"] == "webhook-signature-invalid"
    assert (msgs[untouched].state, msgs[untouched].delivered_at, msgs[untouched].read_at) == (State.SENT.value, None, None)
    assert attempts_read == before + 1, "only the genuine read receipt was recorded"
    assert no_contact_in(log, office.phones) == [], "the server's log names applicants' numbers"
    assert nodes_left_running(tmp_path) == []


def _forged_wrong_secret(cloud: FakeWhatsAppCloud, hook: str, wamid: str, phone: str, at: datetime) -> httpx.Response:
    return cloud.post_statuses(hook, "not-the-app-secret", [status(wamid, "read", at, phone.lstrip("+"))])


def _forged_other_body(hook: str, wamid: str, phone: str, at: datetime) -> httpx.Response:
    """A genuine signature, over another body."""
    import json

    from tests.notify_sinks import sign, statuses_payload

    signed = json.dumps(statuses_payload([status(wamid, "delivered", at, phone.lstrip("+"))])).encode()
    sent = json.dumps(statuses_payload([status(wamid, "read", at, phone.lstrip("+"))])).encode()
    return httpx.post(hook, content=sent, timeout=10, headers={"Content-Type": "application/json",
                                                               "X-Hub-Signature-256": sign(signed, SECRET)})
