"""The link's pure parts: the breaker and its backoff (kanim/link/breaker.py), the central's
back-pressure bucket (TokenBucket in kanim/central/node.py), the guardrails on provisional
printing (kanim/domain/guardrails.py) and the Ed25519 signatures (kanim/protocol/signing.py)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kanim.central.node import TokenBucket
from kanim.domain.guardrails import Guardrails, provisional_print_blockers
from kanim.link.breaker import Breaker, LinkState, retry_delay
from kanim.protocol.signing import (
    H_DATE,
    H_OFFICE,
    H_SIGNATURE,
    MAX_SKEW_SECONDS,
    SignatureError,
    canonical,
    load_or_create_key,
    public_b64,
    sign_document,
    sign_request,
    verify_document,
    verify_request,
)
from kanim.security.keyfiles import KeyFileError

UP, DEGRADED, DOWN = LinkState.UP, LinkState.DEGRADED, LinkState.DOWN


class Highest:
    """A random source that always draws the top of the range: shows the backoff's ceiling."""

    def uniform(self, a: float, b: float) -> float:
        return b


class Lowest:
    def uniform(self, a: float, b: float) -> float:
        return a


# -- breaker -----------------------------------------------------------------------------------

def test_one_failure_degrades_the_link_and_three_in_a_row_take_it_down() -> None:
    b = Breaker()
    assert [b.failure(), b.failure(), b.failure(), b.failure()] == [DEGRADED, None, DOWN, None]
    assert (b.state, b.failures) == (DOWN, 4)


def test_one_success_brings_the_link_up_and_resets_the_count() -> None:
    b = Breaker()
    b.failure(), b.failure()
    assert b.success() is UP
    assert b.success() is None  # unchanged: no new incident
    assert b.failure() is DEGRADED  # counting starts again
    assert b.state is DEGRADED


def test_down_after_is_configurable() -> None:
    b = Breaker(down_after=1)
    assert b.failure() is DOWN


def test_no_delay_while_the_link_is_up() -> None:
    assert Breaker().delay(Highest()) == 0.0


def test_the_delay_doubles_with_each_failure_up_to_the_maximum() -> None:
    b = Breaker(base_delay=0.5, max_delay=60.0)
    ceilings = []
    for _ in range(10):
        b.failure()
        ceilings.append(b.delay(Highest()))
    assert ceilings == [0.5, 1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert b.delay(Lowest()) == 0  # full jitter: anywhere from zero


def test_the_jittered_delay_stays_within_its_ceiling() -> None:
    b = Breaker()
    for _ in range(3):
        b.failure()
    rng = random.Random(7)
    draws = [b.delay(rng) for _ in range(200)]
    assert all(0 <= d <= 2.0 for d in draws)
    assert len(set(draws)) > 100  # offices do not retry in lockstep


@pytest.mark.parametrize(("attempts", "low", "high"), [(0, 0.5, 1.0), (1, 0.5, 1.0), (2, 0.5, 2.0),
                                                        (5, 0.5, 16.0), (30, 0.5, 300.0)])
def test_an_operations_retry_delay_grows_with_its_attempts_and_is_capped(attempts: int, low: float,
                                                                        high: float) -> None:
    assert retry_delay(attempts, rng=Lowest()) == low
    assert retry_delay(attempts, rng=Highest()) == high


# -- back-pressure -----------------------------------------------------------------------------

def test_a_full_bucket_lets_a_burst_through_then_asks_to_wait() -> None:
    tb = TokenBucket(rate=10, burst=20)
    assert tb.take("MND", 20, now=100.0) == 0.0
    assert tb.take("MND", 5, now=100.0) == pytest.approx(0.5)


def test_the_bucket_refills_at_its_rate_and_no_higher_than_the_burst() -> None:
    tb = TokenBucket(rate=10, burst=20)
    tb.take("MND", 20, now=0.0)
    assert tb.take("MND", 5, now=0.5) == 0.0  # 5 tokens came back in half a second
    assert tb.take("MND", 1, now=0.5) == pytest.approx(0.1)
    assert tb.take("MND", 20, now=1000.0) == 0.0  # long idle: refilled to the burst only
    assert tb.take("MND", 1, now=1000.0) > 0


def test_a_refused_batch_takes_no_tokens() -> None:
    tb = TokenBucket(rate=10, burst=20)
    tb.take("MND", 15, now=0.0)
    assert tb.take("MND", 10, now=0.0) == pytest.approx(0.5)  # 5 left, 10 asked
    assert tb.take("MND", 5, now=0.0) == 0.0  # the 5 are still there


def test_each_office_has_its_own_bucket() -> None:
    tb = TokenBucket(rate=1, burst=2)
    tb.take("MND", 2, now=0.0)
    assert tb.take("MND", 1, now=0.0) > 0
    assert tb.take("SBY", 2, now=0.0) == 0.0


def test_a_batch_bigger_than_the_burst_passes_only_from_a_full_bucket() -> None:
    tb = TokenBucket(rate=10, burst=20)
    tb.take("MND", 1, now=0.0)
    wait = tb.take("MND", 50, now=0.0)
    assert 0 < wait < 10  # not forever: it passes once the bucket is full again
    assert tb.take("MND", 50, now=0.0 + wait) == 0.0
    assert tb.take("MND", 1, now=0.0 + wait) == pytest.approx(3.1)  # the big batch is paid for


@pytest.mark.parametrize("seed", range(5))
def test_waiting_the_time_asked_lets_the_batch_through(seed: int) -> None:
    rng = random.Random(seed)
    rate = rng.choice([0.1, 0.3, 7, 10, 1000])
    tb = TokenBucket(rate=rate, burst=rate * 2)
    now = 0.0
    for _ in range(50):
        n = rng.randint(1, max(1, int(rate * 3)))
        wait = tb.take("MND", n, now=now)
        if wait:
            now += wait
            assert tb.take("MND", n, now=now) == pytest.approx(0.0, abs=1e-9), (rate, n, wait)
        now += rng.random()


# -- guardrails --------------------------------------------------------------------------------

NOW = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
RAILS = Guardrails(watchlist_max_age=timedelta(days=7), unsynced_max_age=timedelta(days=3))


def blockers(snapshot_age: timedelta | None, unsynced_age: timedelta | None, rails: Guardrails = RAILS) -> list[str]:
    return provisional_print_blockers(
        now=NOW, rails=rails,
        snapshot_taken_at=None if snapshot_age is None else NOW - snapshot_age,
        oldest_unsynced_at=None if unsynced_age is None else NOW - unsynced_age)


def test_nothing_blocks_with_a_fresh_snapshot_and_nothing_unsent() -> None:
    assert blockers(timedelta(hours=6), None) == []
    assert blockers(timedelta(hours=6), timedelta(days=1)) == []


def test_no_snapshot_at_all_blocks_provisional_printing() -> None:
    assert blockers(None, None) == ["no watch-list snapshot from the central"]


def test_an_old_snapshot_blocks_with_its_age_and_the_limit() -> None:
    assert blockers(timedelta(days=8), None) == ["watch-list snapshot is 8.0 days old (limit 7.0 days)"]


def test_the_limits_themselves_are_still_allowed() -> None:
    assert blockers(timedelta(days=7), timedelta(days=3)) == []


def test_old_unsent_work_blocks_with_its_age() -> None:
    assert blockers(timedelta(hours=1), timedelta(days=4)) == [
        "work not yet sent to the central is 4.0 days old (limit 3.0 days)"]


def test_both_reasons_are_shown_together() -> None:
    assert len(blockers(timedelta(days=30), timedelta(days=30))) == 2


def test_short_ages_are_told_in_hours() -> None:
    rails = Guardrails(watchlist_max_age=timedelta(hours=12), unsynced_max_age=timedelta(days=3))
    assert blockers(timedelta(hours=18), None, rails) == [
        "watch-list snapshot is 18.0 hours old (limit 12.0 hours)"]


# -- signatures --------------------------------------------------------------------------------

KEY = Ed25519PrivateKey.generate()
OTHER = Ed25519PrivateKey.generate()
PUB = public_b64(KEY)
T = 1_800_000_000.0
BODY = b'{"operations":[]}'
PATH = "/api/v1/link/operations"


def test_a_signed_request_verifies() -> None:
    h = sign_request(KEY, "MND", "POST", PATH, BODY, T)
    assert h[H_OFFICE] == "MND" and h[H_DATE] == str(int(T))
    verify_request(PUB, "post", PATH, BODY, h, T + 10)  # the method is compared upper-cased


@pytest.mark.parametrize("change", ["body", "path", "method", "query", "date", "signature"])
def test_any_change_to_a_signed_request_breaks_its_signature(change: str) -> None:
    h = sign_request(KEY, "MND", "POST", PATH, BODY, T)
    method, path, body = "POST", PATH, BODY
    if change == "body":
        body = b'{"operations":[{}]}'
    elif change == "path":
        path = "/api/v1/link/events"
    elif change == "method":
        method = "PUT"
    elif change == "query":
        path = PATH + "?after=0"
    elif change == "date":
        h = {**h, H_DATE: str(int(T) + 1)}
    else:
        h = {**h, H_SIGNATURE: sign_request(KEY, "MND", "POST", PATH, b"", T)[H_SIGNATURE]}
    with pytest.raises(SignatureError, match="does not verify"):
        verify_request(PUB, method, path, body, h, T)


def test_a_request_signed_by_another_key_is_refused() -> None:
    h = sign_request(OTHER, "MND", "POST", PATH, BODY, T)
    with pytest.raises(SignatureError):
        verify_request(PUB, "POST", PATH, BODY, h, T)


@pytest.mark.parametrize("offset", [MAX_SKEW_SECONDS + 1, -(MAX_SKEW_SECONDS + 1), 86_400])
def test_a_request_outside_the_clock_skew_is_refused(offset: float) -> None:
    h = sign_request(KEY, "MND", "POST", PATH, BODY, T)
    with pytest.raises(SignatureError, match="clock skew"):
        verify_request(PUB, "POST", PATH, BODY, h, T + offset)


@pytest.mark.parametrize("offset", [MAX_SKEW_SECONDS, -MAX_SKEW_SECONDS])
def test_a_request_at_the_edge_of_the_skew_is_accepted(offset: float) -> None:
    verify_request(PUB, "POST", PATH, BODY, sign_request(KEY, "MND", "POST", PATH, BODY, T), T + offset)


@pytest.mark.parametrize("headers", [{}, {H_DATE: "", H_SIGNATURE: "x"}, {H_DATE: "-5", H_SIGNATURE: "x"},
                                     {H_DATE: "1.8e9", H_SIGNATURE: "x"}])
def test_a_request_without_a_usable_date_is_refused(headers: dict[str, str]) -> None:
    with pytest.raises(SignatureError):
        verify_request(PUB, "POST", PATH, BODY, headers, T)


@pytest.mark.parametrize("sig", ["", "!!!!", "abc", "A" * 88])
def test_a_garbled_signature_is_a_signature_error(sig: str) -> None:
    h = {**sign_request(KEY, "MND", "POST", PATH, BODY, T), H_SIGNATURE: sig}
    with pytest.raises(SignatureError):
        verify_request(PUB, "POST", PATH, BODY, h, T)


SNAPSHOT = {"taken_at": "2026-11-30T01:00:00+00:00", "orders": [
    {"id": "o1", "subject_kind": "nik", "subject_value": "3171014508900001", "order_kind": "prevention",
     "agency": "KPK", "starts_on": "2026-11-01", "ends_on": "2027-04-30", "reason": "case 12"}]}


def test_a_signed_document_verifies_whatever_the_key_order() -> None:
    sig = sign_document(KEY, SNAPSHOT)
    reordered = {"orders": [dict(reversed(list(SNAPSHOT["orders"][0].items())))], "taken_at": SNAPSHOT["taken_at"]}
    verify_document(PUB, SNAPSHOT, sig)
    verify_document(PUB, reordered, sig)


@pytest.mark.parametrize("tamper", ["drop_order", "change_subject", "change_date", "add_field"])
def test_a_tampered_document_does_not_verify(tamper: str) -> None:
    sig = sign_document(KEY, SNAPSHOT)
    doc = {"taken_at": SNAPSHOT["taken_at"], "orders": [dict(o) for o in SNAPSHOT["orders"]]}
    if tamper == "drop_order":
        doc["orders"] = []
    elif tamper == "change_subject":
        doc["orders"][0]["subject_value"] = "3171014508900002"
    elif tamper == "change_date":
        doc["taken_at"] = "2026-12-30T01:00:00+00:00"
    else:
        doc["extra"] = True
    with pytest.raises(SignatureError):
        verify_document(PUB, doc, sig)


def test_a_document_signed_by_another_key_does_not_verify() -> None:
    with pytest.raises(SignatureError):
        verify_document(PUB, SNAPSHOT, sign_document(OTHER, SNAPSHOT))


@pytest.mark.parametrize("bad_key", ["", "not base64!", "QUJD", "truncated"])
def test_a_malformed_public_key_is_a_signature_error(bad_key: str) -> None:
    if bad_key == "truncated":  # a random key: built here, so the test's id is the same in every process
        bad_key = public_b64(KEY)[:-4]
    with pytest.raises(SignatureError):
        verify_document(bad_key, SNAPSHOT, sign_document(KEY, SNAPSHOT))


def test_dates_are_signed_as_their_iso_text() -> None:
    assert canonical({"b": date(2026, 1, 2), "a": 1}) == b'{"a":1,"b":"2026-01-02"}'
    sig = sign_document(KEY, {"on": date(2026, 1, 2)})
    verify_document(PUB, {"on": "2026-01-02"}, sig)


def test_a_key_file_is_created_private_and_read_back(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "keys" / "office_ed25519.pem"
    key = load_or_create_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert public_b64(load_or_create_key(path)) == public_b64(key)


def test_a_key_file_readable_by_others_is_refused(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "k.pem"
    load_or_create_key(path)
    path.chmod(0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):  # one error for every key file (the CLI's one line)
        load_or_create_key(path)


def test_each_guardrail_carries_its_figures_and_the_same_words_as_before() -> None:
    from datetime import UTC, datetime, timedelta

    from kanim.domain.guardrails import Stop, provisional_print_stops

    now = datetime(2026, 12, 1, tzinfo=UTC)
    rails = Guardrails(watchlist_max_age=timedelta(days=7), unsynced_max_age=timedelta(days=3))
    stops = provisional_print_stops(now=now, snapshot_taken_at=now - timedelta(days=8),
                                    oldest_unsynced_at=now - timedelta(hours=80), rails=rails)
    assert [(g.stop, g.age, g.limit) for g in stops] == [
        (Stop.SNAPSHOT_OLD, timedelta(days=8), timedelta(days=7)),
        (Stop.UNSENT_OLD, timedelta(hours=80), timedelta(days=3))]
    assert [g.reason for g in stops] == ["watch-list snapshot is 8.0 days old (limit 7.0 days)",
                                         "work not yet sent to the central is 3.3 days old (limit 3.0 days)"]
    none = provisional_print_stops(now=now, snapshot_taken_at=None, oldest_unsynced_at=None, rails=rails)
    assert [g.reason for g in none] == ["no watch-list snapshot from the central"]
