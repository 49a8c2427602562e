"""The booklet accountability report as a PDF (kanim/render/booklet_report.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from kanim.domain.booklet import AccountabilityReport, Booklet, BookletStatus, SpoilReason
from kanim.render.booklet_report import render_booklet_report_pdf

AT = datetime(2026, 12, 1, 2, 30, tzinfo=UTC)
BATCH = {"first_serial": "X1000001", "last_serial": "X1000500", "count": 500, "received_at": AT, "received_by": "p"}


def spoiled(n: int) -> list[Booklet]:
    return [Booklet(serial=f"X1{i:06d}", received_at=AT, batch_id="b", status=BookletStatus.SPOILED,
                    spoiled_at=AT, spoil_reason=SpoilReason.MISPRINT, spoil_note="streaks on the data page")
            for i in range(n)]


def render(counts: AccountabilityReport, booklets: list[Booklet]) -> bytes:
    return render_booklet_report_pdf(counts=counts, batches=[BATCH], spoiled=booklets, at=AT,
                                     office_name="Kantor Imigrasi Manado", office_code="MND", timezone="Asia/Makassar")


def test_a_balanced_report_is_one_a4_page_with_its_totals_in_the_subject() -> None:
    pdf = render(AccountabilityReport(500, 3, 2, 495, {"misprint": 2}), spoiled(2))
    assert pdf.startswith(b"%PDF") and b"/Count 1" in pdf and b"/MediaBox [0 0 595.28 841.89]" in pdf
    assert rb"MND: received 500 = issued 3 + spoiled 2 + in stock 495 \(balanced\)" in pdf


def test_a_report_that_does_not_add_up_says_so() -> None:
    pdf = render(AccountabilityReport(500, 3, 2, 490, {"misprint": 2}), spoiled(2))
    assert rb"in stock 490 \(NOT BALANCED\)" in pdf


def test_a_long_list_of_spoiled_booklets_runs_over_pages_with_the_signatures_together() -> None:
    pdf = render(AccountabilityReport(500, 0, 200, 300, {"misprint": 200}), spoiled(200))
    pages = int(re.search(rb"/Count (\d+)", pdf).group(1))
    assert pages >= 4
