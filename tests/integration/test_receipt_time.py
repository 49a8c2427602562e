"""The receipt an office prints says when, on the office's own clock: an office in Jakarta
prints WIB, one in Makassar WITA, one in Jayapura WIT (the clock itself runs in UTC)."""

from __future__ import annotations

import pytest

from kanim.office import documents
from kanim.render import receipt
from tests.conftest import make_office
from tests.integration.test_workflow import book_one
from tests.unit.test_render import pdf_text


@pytest.mark.parametrize(("zone", "printed"), [
    ("Asia/Jakarta", "30-11-2026 08:00 WIB"),  # the fake clock stands at 01:00 UTC
    ("Asia/Makassar", "30-11-2026 09:00 WITA"),
    ("Asia/Jayapura", "30-11-2026 10:00 WIT"),
])
def test_an_offices_receipt_prints_its_local_time_and_zone(tmp_path, clock, central, monkeypatch, zone,  # noqa: ANN001
                                                           printed) -> None:
    monkeypatch.setattr(receipt, "find_font", lambda name: None)  # core fonts: the text is plain in the PDF
    office, _ = make_office(tmp_path, "sqlite", clock, central, timezone=zone)
    try:
        app = book_one(office)
        text = pdf_text(documents.receipt_pdf(office, application_id=app.id))
    finally:
        office.engine.dispose()
    assert printed in text and "UTC" not in text
