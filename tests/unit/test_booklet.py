"""Booklet inventory: serial ranges, issue and spoil, and the accountability report."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from kanim.domain.booklet import (
    MAX_RANGE,
    AccountabilityReport,
    Booklet,
    BookletStatus,
    SerialPattern,
    SpoilReason,
)
from kanim.domain.errors import Conflict, InvalidInput

T0 = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
P = SerialPattern()


# -- serials ---------------------------------------------------------------------------------


def test_a_range_expands_to_every_serial_in_it() -> None:
    assert P.expand("X1000001", "X1000004") == ["X1000001", "X1000002", "X1000003", "X1000004"]


def test_a_range_of_one_is_one_serial() -> None:
    assert P.expand("AB0000009", "AB0000009") == ["AB0000009"]


def test_expanding_keeps_the_zero_padding_across_a_carry() -> None:
    assert P.expand("X0000099", "X0000101") == ["X0000099", "X0000100", "X0000101"]


def test_serials_are_normalised_to_upper_case_without_spaces() -> None:
    assert P.normalize("  x1000001 ") == "X1000001"
    assert P.expand(" x1000001", "X1000002 ") == ["X1000001", "X1000002"]


@pytest.mark.parametrize("serial", ["", "1000001", "X100001", "X10000001", "ABC1000001", "X1000-01", "Ä1000001"])
def test_a_serial_off_the_pattern_is_refused(serial: str) -> None:
    with pytest.raises(InvalidInput) as e:
        P.normalize(serial)
    assert e.value.code == "booklet-serial-format"


def test_a_range_across_two_series_is_refused() -> None:
    with pytest.raises(InvalidInput) as e:
        P.expand("X1000001", "Y1000005")
    assert e.value.code == "booklet-range"


def test_a_range_with_serials_of_different_widths_is_refused() -> None:
    loose = SerialPattern(regex=r"^([A-Z]{1,2})(\d{4,7})$")
    assert loose.normalize("x0042") == "X0042"
    with pytest.raises(InvalidInput) as e:
        loose.expand("X0001", "X0000009")
    assert e.value.code == "booklet-range"


def test_a_range_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(InvalidInput) as e:
        P.expand("X1000005", "X1000001")
    assert e.value.code == "booklet-range"


def test_a_range_holds_at_most_max_range_booklets() -> None:
    first = 1_000_000
    full = P.expand(f"X{first:07d}", f"X{first + MAX_RANGE - 1:07d}")
    assert len(full) == MAX_RANGE == 100_000
    assert full[0] == "X1000000" and full[-1] == "X1099999" and len(set(full)) == MAX_RANGE
    with pytest.raises(InvalidInput) as e:
        P.expand(f"X{first:07d}", f"X{first + MAX_RANGE:07d}")
    assert e.value.code == "booklet-range"
    assert str(MAX_RANGE) in str(e.value)


def test_a_typo_in_the_last_serial_does_not_create_millions_of_booklets() -> None:
    with pytest.raises(InvalidInput):
        P.expand("X1000001", "X9000001")


def test_serials_fit_the_mrz_document_number_field() -> None:
    longest = P.expand("AB9999998", "AB9999999")
    assert all(len(s) <= 9 for s in longest)


# -- issue and spoil -------------------------------------------------------------------------


def booklet(serial: str = "X1000001") -> Booklet:
    return Booklet(serial=serial, received_at=T0, batch_id="batch-1")


def test_a_received_booklet_is_in_stock() -> None:
    b = booklet()
    assert b.status is BookletStatus.IN_STOCK and b.application_id is None


def test_an_issued_booklet_belongs_to_one_application() -> None:
    b = booklet()
    b.issue(application_id="app-1", at=T0 + timedelta(hours=1))
    assert (b.status, b.application_id, b.issued_at) == (BookletStatus.ISSUED, "app-1", T0 + timedelta(hours=1))
    with pytest.raises(Conflict) as e:
        b.issue(application_id="app-2", at=T0 + timedelta(hours=2))
    assert e.value.code == "booklet-not-in-stock"
    assert b.application_id == "app-1"


def test_a_spoiled_booklet_cannot_be_issued() -> None:
    b = booklet()
    b.spoil(reason=SpoilReason.DAMAGED_IN_STOCK, note="water damage", at=T0)
    with pytest.raises(Conflict) as e:
        b.issue(application_id="app-1", at=T0)
    assert e.value.code == "booklet-not-in-stock"
    assert b.status is BookletStatus.SPOILED and b.application_id is None


def test_an_issued_booklet_can_be_spoiled_and_keeps_its_application() -> None:
    b = booklet()
    b.issue(application_id="app-1", at=T0)
    b.spoil(reason=SpoilReason.VOIDED_AFTER_FLAG, note="prevention order", at=T0 + timedelta(days=2))
    assert b.status is BookletStatus.SPOILED
    assert (b.spoil_reason, b.spoil_note, b.application_id) == (SpoilReason.VOIDED_AFTER_FLAG, "prevention order",
                                                                "app-1")
    assert b.spoiled_at == T0 + timedelta(days=2)


def test_a_booklet_is_spoiled_only_once() -> None:
    b = booklet()
    b.spoil(reason=SpoilReason.MISPRINT, at=T0)
    with pytest.raises(Conflict) as e:
        b.spoil(reason=SpoilReason.QC_FAILURE, at=T0 + timedelta(minutes=1))
    assert e.value.code == "booklet-spoiled"
    assert b.spoil_reason is SpoilReason.MISPRINT and b.spoiled_at == T0


def test_an_empty_spoil_note_is_stored_as_none() -> None:
    b = booklet()
    b.spoil(reason=SpoilReason.QC_FAILURE, note="", at=T0)
    assert b.spoil_note is None


# -- accountability --------------------------------------------------------------------------


def test_the_report_reads_counts_by_status_and_reason() -> None:
    r = AccountabilityReport.from_counts(received=10, by_status={"issued": 3, "spoiled": 2, "in_stock": 5},
                                         by_reason={"qc_failure": 1, "misprint": 1})
    assert (r.received, r.issued, r.spoiled, r.in_stock) == (10, 3, 2, 5)
    assert r.spoiled_by_reason == {"qc_failure": 1, "misprint": 1}
    assert r.balanced


def test_a_report_with_a_missing_booklet_is_not_balanced() -> None:
    r = AccountabilityReport.from_counts(received=10, by_status={"issued": 3, "spoiled": 2, "in_stock": 4},
                                         by_reason={})
    assert not r.balanced


def test_a_report_with_an_extra_booklet_is_not_balanced() -> None:
    assert not AccountabilityReport(received=2, issued=1, spoiled=1, in_stock=1).balanced


def test_missing_statuses_count_as_zero() -> None:
    r = AccountabilityReport.from_counts(received=0, by_status={}, by_reason={})
    assert (r.issued, r.spoiled, r.in_stock, r.balanced) == (0, 0, 0, True)


def _report(booklets: list[Booklet]) -> AccountabilityReport:
    by_status = Counter(b.status.value for b in booklets)
    by_reason = Counter(b.spoil_reason.value for b in booklets if b.spoil_reason)
    return AccountabilityReport.from_counts(received=len(booklets), by_status=by_status, by_reason=by_reason)


def test_every_sequence_of_issues_and_spoils_keeps_the_books_balanced() -> None:
    """Property-style, without hypothesis: many random days of work on one delivery. Whatever
    is tried (including refused moves), received = issued + spoiled + in stock, and the counts
    match an independent model of what should have happened."""
    rng = random.Random(20261130)
    for _ in range(300):
        size = rng.randint(1, 30)
        start = rng.randint(1, 9_000_000 - size)
        serials = P.expand(f"X{start:07d}", f"X{start + size - 1:07d}")
        stock = [Booklet(serial=s, received_at=T0, batch_id="b") for s in serials]
        issued: set[str] = set()
        spoiled: dict[str, SpoilReason] = {}
        for step in range(rng.randint(0, 60)):
            b = rng.choice(stock)
            at = T0 + timedelta(minutes=step)
            if rng.random() < 0.6:
                ok = b.serial not in issued and b.serial not in spoiled
                try:
                    b.issue(application_id=f"app-{step}", at=at)
                except Conflict:
                    assert not ok, f"{b.serial} was in stock but could not be issued"
                else:
                    assert ok, f"{b.serial} was issued twice or after being spoiled"
                    issued.add(b.serial)
            else:
                reason = rng.choice(list(SpoilReason))
                ok = b.serial not in spoiled
                try:
                    b.spoil(reason=reason, at=at)
                except Conflict:
                    assert not ok
                else:
                    assert ok
                    issued.discard(b.serial)
                    spoiled[b.serial] = reason
            r = _report(stock)
            assert r.balanced, r
            assert r.received == r.issued + r.spoiled + r.in_stock == size
            assert (r.issued, r.spoiled, r.in_stock) == (len(issued), len(spoiled), size - len(issued) - len(spoiled))
            assert r.spoiled_by_reason == dict(Counter(v.value for v in spoiled.values()))
